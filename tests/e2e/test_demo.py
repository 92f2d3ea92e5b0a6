"""`make demo` scenarios, run as a user runs them: a fresh process, the embedded AWS, the real handlers."""

from __future__ import annotations

import functools
import re
import subprocess
import sys

import pytest

from tests.support.paths import REPO

EXPECTED = {
    "incident": [
        ":31 promoted to known-good",
        "Rollout of :32 failed",
        "Rollout of :33 failed",
        "ECS: SERVICE_DEPLOYMENT_IN_PROGRESS           :34 -> ProbeFunction",
        "Rollout of :34 completed",
        "Fast alarm -> ALARM",
        "Rollback decision: rolled_back                :34 -> :31",
        "rolled back to hokusai-api-development:31",
        "recovered on hokusai-api-development:31",
        "LOOP CLOSED: rolled back :34 -> :31 and recovered",
    ],
    "no-known-good": [
        "Rollback decision: no_known_good",
        "service now on:  :34",
        "LOOP CLOSED: safe decision: no_known_good",
    ],
    "dry-run": [
        "Rollback decision: dry_run",
        "service now on:  :34",
        "would roll back to hokusai-api-development:31 (dry run)",
        "LOOP CLOSED: safe decision: dry_run",
    ],
    "not-a-deployment": [
        "ALB rule change breaks the MLflow route",
        "Rollback decision: already_known_good",
        "service now on:  :31",
        "LOOP CLOSED: safe decision: already_known_good",
    ],
    "mutable-tag": [
        ":31 promoted to known-good",
        "CI pushes the routing change to hokusai/api:main",
        "Rollback decision: rolled_back                :34 -> hokusai-api-development:35",
        "images pinned to the digests seen healthy: api hokusai/api:main -> sha256:",
        "service now on:  hokusai-api-development:35",
        "restored image:  hokusai/api@sha256:",
        "recovered on hokusai-api-development:35",
        "the image that broke :34: it would have stayed broken",
        "LOOP CLOSED: rolled back :34 -> a copy of :31 pinned to sha256:",
    ],
}


@functools.cache
def run_demo(scenario: str) -> subprocess.CompletedProcess[str]:
    """Each scenario runs once per session (a fresh process each); several tests read the same run."""
    return subprocess.run(
        [sys.executable, "-m", "demo", "--scenario", scenario],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_demo_scenario_closes_the_loop_safely(scenario: str) -> None:
    result = run_demo(scenario)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in EXPECTED[scenario]:
        assert line in result.stdout, f"{line!r} missing from:\n{result.stdout}"
    assert '"level"' not in result.stdout  # the timeline is for people; logs only with --verbose


def test_the_deployment_watch_decides_within_a_minute_of_34_going_live() -> None:
    # Given the seed incident, as `make demo` runs it
    result = run_demo("incident")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr

    # Then the rollback decision came at most 60 s after :34 went live, and the summary says so
    decided = re.search(r"decided: +(\d+) s after :34 went live", out)
    assert decided is not None, out
    assert int(decided.group(1)) <= 60
    live = re.search(r"^(\d\d):(\d\d):(\d\d) +Rollout of :34 completed", out, re.MULTILINE)
    decision = re.search(r"^(\d\d):(\d\d):(\d\d) +Rollback decision: rolled_back", out, re.MULTILINE)
    assert live is not None, out
    assert decision is not None, out
    seconds = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in (live.groups(), decision.groups())]
    assert seconds[1] - seconds[0] == int(decided.group(1))
    # the timeline marks the watch rounds that saw the broken route before the fast alarm fired
    rounds = re.findall(r"^\d\d:\d\d:\d\d +Watch round \d+ FAILED +mlflow-proxy 404", out, re.MULTILINE)
    assert len(rounds) >= 3
    assert "Deployment watch ended" in out
    recovery = re.search(r"recovery: +(\d+) s from decision", out)
    assert recovery is not None
    assert int(recovery.group(1)) <= 60


def test_unknown_scenario_is_refused_with_the_choices() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--scenario", "chaos"], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert result.returncode == 2
    assert "incident" in result.stderr
