"""`sam build` of template.yaml in a process of its own.

The build is a real check, half a minute of pip (three functions, each resolving its requirements for
python3.12), and needs nothing from any other test: tests/integration/conftest.py starts it when the session
begins, the test that needs it waits for it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import REPO
from tests.support.template import find_sam_cli, sam_env


def python312_env() -> dict[str, str] | None:
    """An environment in which `python3.12` runs (sam build's python3.12 workflow needs one on PATH), or None."""
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
    return None


@dataclass
class SamBuild:
    """One `sam build` into a directory of its own; `finish()` waits for it and says how it went."""

    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    @property
    def build_dir(self) -> Path:
        return self.workdir / "build"

    def finish(self, timeout_seconds: float = 600) -> tuple[int, str]:
        """The exit code and the end of the build's output."""
        returncode = self.process.wait(timeout=timeout_seconds)
        output = (self.workdir / "output.txt").read_text(errors="replace")
        return returncode, output[-6000:]

    def stop(self) -> None:
        """End a build nobody waited for (a session cut short)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_sam_build(workdir: Path) -> SamBuild | None:
    """Start `sam build` into `workdir`; None where the SAM CLI or a python3.12 is missing (the test says which).

    One function after the other, as `make build` does: beside the test process that keeps one core busy, a
    build of its own on the other core; `--parallel` would take both from the tests running meanwhile."""
    sam = find_sam_cli()
    env = python312_env()
    if sam is None or env is None:
        return None
    with (workdir / "output.txt").open("wb") as output:
        process = subprocess.Popen(
            [sam, "build", "--template-file", str(REPO / "template.yaml"),
             "--build-dir", str(workdir / "build"), "--cache-dir", str(workdir / "cache")],
            stdout=output, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )  # fmt: skip
    return SamBuild(workdir, env, process)
