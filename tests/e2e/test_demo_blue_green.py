"""`make demo SCENARIO=blue-green` as a user runs it: the gate stops :34 before production traffic reaches it."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support.paths import REPO


def test_blue_green_gate_keeps_34_out_of_production() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--scenario", "blue-green"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # the timeline shows the test listener's 404, the FAILED answer and ECS's rollback, labelled as simulated
    assert re.search(r"\[simulated ECS\] test listener -> :34\s+/api/mlflow through the test listener: 404", out)
    assert re.search(r"\[simulated ECS\] POST_TEST_TRAFFIC_SHIFT\s+hook -> FAILED \(mlflow-proxy 404 at http://", out)
    assert re.search(r"\[simulated ECS\] TEST_TRAFFIC_SHIFT\s+hook -> SUCCEEDED \(traffic is going back", out)
    assert "[simulated ECS] deployment rolled back" in out
    # production never left :31, the rollback alarm stayed out of it, the failure was notified
    assert "production saw:  :31\n" in out
    assert "service now on:  :31" in out
    assert "PRODUCTION_TRAFFIC_SHIFT" not in out.split("Summary")[0]
    assert "rollback alarm:  OK" in out
    assert "deployment gate FAILED at POST_TEST_TRAFFIC_SHIFT: mlflow-proxy 404" in out
    assert out.rstrip().splitlines()[-2] == (
        "LOOP CLOSED: the gate failed :34 at POST_TEST_TRAFFIC_SHIFT; :34 never in production"
    )
    assert '"level"' not in out  # the timeline is for people; logs only with --verbose
