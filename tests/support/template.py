"""template.yaml, parsed once per test session, and the SAM CLI the template tests run."""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from demo.world.template import load_template
from tests.support.paths import REPO


@functools.cache
def template() -> dict[str, Any]:
    """The parsed template, shared by every test: read it, never edit it (copy what you change)."""
    return load_template()


def sam_cli() -> str:
    """The SAM CLI: `SAM_CLI`, then PATH, then .venv-sam (which `make test` builds); skips the test where none is
    installed, fails it on CI."""
    found = os.environ.get("SAM_CLI") or shutil.which("sam") or str(REPO / ".venv-sam" / "bin" / "sam")
    if not Path(found).exists():
        if os.environ.get("CI"):
            pytest.fail("the SAM CLI is missing: `make test` installs it into .venv-sam")
        pytest.skip("SAM CLI not installed (make test installs it into .venv-sam)")
    return found


def sam_env() -> dict[str, str]:
    return {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
