"""`sam build` produces functions that import the way the python3.12 Lambda runtime imports them.

The build itself runs beside the other tests from the session's start (tests/integration/conftest.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import boto3
import pytest
import s3transfer

from tests.support.sam_build import SamBuild


@pytest.mark.slow
def test_sam_build_and_import_each_built_function(sam_build: SamBuild, tmp_path: Path) -> None:
    returncode, output = sam_build.finish()
    assert returncode == 0, output
    build_dir = sam_build.build_dir
    env = sam_build.env

    # boto3 is part of the Lambda runtime, not of the package: lend the dev venv's (pure Python) copy
    runtime_libs = tmp_path / "runtime"
    runtime_libs.mkdir()
    for module in (boto3, s3transfer):
        (runtime_libs / module.__name__).symlink_to(Path(module.__file__).parent)  # type: ignore[arg-type]

    for function, handler in (
        ("ProbeFunction", "canary_rollback.handlers.probe"),
        ("RollbackFunction", "canary_rollback.handlers.rollback"),
        ("DeploymentHookFunction", "canary_rollback.handlers.hook"),
    ):
        package = build_dir / function
        assert (package / "canary_rollback" / "handlers").is_dir()
        assert not (package / "tests").exists()
        assert not (package / "demo").exists()  # the embedded world is never deployed
        check = (
            f"import sys, {handler} as m; assert callable(m.handler); "
            "assert m.__file__.startswith(sys.argv[1]), m.__file__; print(sys.version_info[:2])"
        )
        imported = subprocess.run(
            ["python3.12", "-c", check, str(package)],
            capture_output=True,
            text=True,
            env={**env, "PYTHONPATH": f"{package}{os.pathsep}{runtime_libs}", "PYTHONNOUSERSITE": "1"},
            cwd=tmp_path,
            check=False,
        )
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.strip() == "(3, 12)"
