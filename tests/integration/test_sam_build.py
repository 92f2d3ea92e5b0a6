"""`sam build` produces functions that import the way the python3.12 Lambda runtime imports them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import botocore
import pytest

from tests.conftest import REPO
from tests.integration.test_template import sam_cli, sam_env


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

    for function, handler in (
        ("ProbeFunction", "canary_rollback.handlers.probe"),
        ("RollbackFunction", "canary_rollback.handlers.rollback"),
        ("DeploymentHookFunction", "canary_rollback.handlers.hook"),
    ):
        package = build_dir / function
        assert (package / "canary_rollback" / "handlers").is_dir()
        assert not (package / "tests").exists()
        assert not (package / "demo").exists()  # the embedded world is never deployed
        # The package alone on the path, as /var/task comes first in Lambda: boto3 and botocore are its own
        imported = subprocess.run(
            ["python3.12", "-c", BUILT_PACKAGE_CHECK, str(package), handler],
            capture_output=True,
            text=True,
            env={**env, "PYTHONPATH": str(package), "PYTHONNOUSERSITE": "1"},
            cwd=tmp_path,
            check=False,
        )
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.split() == ["(3,", "12)", f"botocore=={botocore.__version__}"]


# Run by the built package's python3.12: the handler imports, and the botocore it bundles knows every ECS member
# and operation the code relies on (docs/design.md): a model that lacks `deploymentConfiguration.strategy` drops
# it from DescribeServices answers, and a BLUE_GREEN service would look ROLLING.
BUILT_PACKAGE_CHECK = """
import importlib, sys
package, handler = sys.argv[1], sys.argv[2]
module = importlib.import_module(handler)
assert callable(module.handler)
import boto3, botocore.session
for loaded in (module, boto3, botocore):
    assert loaded.__file__.startswith(package), loaded.__file__
ecs = botocore.session.get_session().get_service_model("ecs")
configuration = ecs.shape_for("DeploymentConfiguration").members
assert {"strategy", "lifecycleHooks", "alarms"} <= set(configuration), sorted(configuration)
assert {"ListServiceDeployments", "DescribeServiceDeployments", "StopServiceDeployment"} <= set(
    ecs.operation_names
), "service deployment operations missing"
assert "deploymentConfiguration" in ecs.shape_for("Service").members
print(sys.version_info[:2], f"botocore=={botocore.__version__}")
"""
