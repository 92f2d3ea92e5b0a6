"""`make demo` as a user runs it, once: a fresh process, the embedded AWS, the real handlers, the incident.

The story is read line by line with runs of spaces collapsed: what it says is checked, not its column layout.
The other scenarios run in-process (test_scenarios.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from demo.__main__ import main
from tests.conftest import REPO

STORY = [
    ":31 promoted to known-good",
    "Rollout of :32 failed",
    "Rollout of :33 failed",
    "ECS: SERVICE_DEPLOYMENT_IN_PROGRESS :34 -> ProbeFunction",
    "Rollout of :34 completed",
    "Fast alarm -> ALARM",
    "Rollback decision: rolled_back :34 -> :31",
    "rolled back to hokusai-api-development:31",
    "recovered on hokusai-api-development:31",
    "LOOP CLOSED: rolled back :34 -> :31 and recovered",
]


@pytest.fixture(scope="module")
def make_demo() -> subprocess.CompletedProcess[str]:
    """`make demo` with the interpreter running the tests (`-o`: the .venv it would build is this one)."""
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "demo", f"BIN={Path(sys.executable).parent}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        check=False,
    )


def story(result: subprocess.CompletedProcess[str]) -> str:
    """stdout with each line's runs of whitespace collapsed to one space."""
    return "\n".join(" ".join(line.split()) for line in result.stdout.splitlines())


def clock_seconds(text: str) -> int:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def test_make_demo_tells_the_incident_and_closes_the_loop(make_demo: subprocess.CompletedProcess[str]) -> None:
    assert make_demo.returncode == 0, make_demo.stdout + make_demo.stderr
    out = story(make_demo)
    for line in STORY:
        assert line in out, f"{line!r} missing from:\n{make_demo.stdout}"
    assert '"level"' not in out  # the timeline is for people; logs only with --verbose


def test_the_deployment_watch_decides_within_a_minute_of_34_going_live(
    make_demo: subprocess.CompletedProcess[str],
) -> None:
    # Given the seed incident, as `make demo` runs it
    out = story(make_demo)
    assert make_demo.returncode == 0, make_demo.stdout + make_demo.stderr

    # Then the rollback decision came at most 60 s (simulated) after :34 went live, and the summary says so
    decided = re.search(r"^decided: (\d+) s after :34 went live", out, re.MULTILINE)
    assert decided is not None, out
    assert int(decided.group(1)) <= 60
    live = re.search(r"^(\d\d:\d\d:\d\d) Rollout of :34 completed", out, re.MULTILINE)
    decision = re.search(r"^(\d\d:\d\d:\d\d) Rollback decision: rolled_back", out, re.MULTILINE)
    assert live is not None, out
    assert decision is not None, out
    assert clock_seconds(decision.group(1)) - clock_seconds(live.group(1)) == int(decided.group(1))
    # the timeline marks the watch rounds that saw the broken route before the fast alarm fired
    rounds = re.findall(r"^\d\d:\d\d:\d\d Watch round \d+ FAILED mlflow-proxy 404", out, re.MULTILINE)
    assert len(rounds) >= 3
    assert "Deployment watch ended" in out
    recovery = re.search(r"^recovery: (\d+) s from decision", out, re.MULTILINE)
    assert recovery is not None
    assert int(recovery.group(1)) <= 60


def test_unknown_scenario_is_refused_with_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--scenario", "chaos"])
    assert refused.value.code == 2
    assert "incident" in capsys.readouterr().err
