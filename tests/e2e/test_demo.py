"""`make demo` scenarios, run as a user runs them: a fresh process, the embedded AWS, the real handlers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

EXPECTED = {
    "incident": [
        ":31 promoted to known-good",
        "Rollout of :32 failed",
        "Rollout of :33 failed",
        "Rollback decision: rolled_back                :34 -> :31",
        "recovery:        60 s from decision",
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


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_demo_scenario_closes_the_loop_safely(scenario: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--scenario", scenario],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in EXPECTED[scenario]:
        assert line in result.stdout, f"{line!r} missing from:\n{result.stdout}"
    assert '"level"' not in result.stdout  # the timeline is for people; logs only with --verbose


def test_unknown_scenario_is_refused_with_the_choices() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--scenario", "chaos"], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert result.returncode == 2
    assert "incident" in result.stderr
