"""`sam build` produces functions that import the way the python3.12 Lambda runtime imports them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
import s3transfer

from tests.support.paths import REPO
from tests.support.template import sam_cli, sam_env


def python312_env() -> dict[str, str]:
    """An environment in which `python3.12` runs (sam build's python3.12 workflow needs one on PATH)."""
    env = sam_env()
    if (
        shutil.which("python3.12")
        and subprocess.run(["python3.12", "-V"], capture_output=True, check=False).returncode == 0
    ):
        return env
    if shutil.which("pyenv"):
        versions = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True, check=False).stdout
        py312 = [v for v in versions.split() if v.startswith("3.12.")]
        if py312:
            current = subprocess.run(["pyenv", "version-name"], capture_output=True, text=True, check=False).stdout
            env["PYENV_VERSION"] = ":".join([*current.strip().split(":"), py312[-1]])
            return env
    pytest.skip("no python3.12 on this machine: sam build for the python3.12 runtime needs one")


@pytest.mark.slow
def test_sam_build_and_import_each_built_function(tmp_path: Path) -> None:
    env = python312_env()
    build_dir = tmp_path / "build"
    result = subprocess.run(
        [sam_cli(), "build", "--template-file", str(REPO / "template.yaml"), "--build-dir", str(build_dir),
         "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

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
