"""Pause covers the gate (docs/design.md, "Pause"): while a person has taken over, DeploymentHookFunction never
fails or holds a deployment; it answers SUCCEEDED and audits and notifies what it would have answered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from canary_rollback.cli import main as cli
from canary_rollback.handlers import hook as hook_handler
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE
from tests.support.events import load_event
from tests.support.invoke import HOOK, invoke
from tests.support.servers import LoopbackServer
from tests.support.world import GUARDED, store


def test_a_paused_gate_answers_succeeded_and_says_what_it_would_have_answered(
    world: Any, test_listener: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a new revision whose route is broken behind the test listener, and an operator's pause
    probes = json.loads(world.stack.environment("DeploymentHookFunction")["PROBES"])
    probes[0]["test_url"] = f"http://127.0.0.1:{test_listener.port}/status/404"
    hook_handler.runtime.set(
        build_runtime({**world.stack.environment("DeploymentHookFunction"), "PROBES": json.dumps(probes)})
    )
    table = ["--cluster", CLUSTER, "--service", SERVICE, "--table", world.stack.table_name]
    assert cli(["pause", *table, "--reason", "rolling out by hand"]) == 0
    capsys.readouterr()

    # When ECS invokes the hook at the probed stage and at one it does not probe
    probed = invoke(HOOK, load_event("hook-post-test-traffic-shift"))
    scale_up = load_event("hook-post-test-traffic-shift")
    scale_up["lifecycleStage"] = "POST_SCALE_UP"
    other = invoke(HOOK, scale_up)

    # Then both answer SUCCEEDED: the gate never fails a deployment while a person has taken over
    assert (probed["hookStatus"], other["hookStatus"]) == ("SUCCEEDED", "SUCCEEDED")
    assert probed["hookDetails"]["would_have_answered"] == "FAILED"
    assert "rolling out by hand" in probed["hookDetails"]["paused"]
    # and what it would have answered is audited, and told (only where that was not SUCCEEDED)
    hooks = [r for r in store(world).history(GUARDED) if r["kind"] == "hook"]
    assert [(r["stage"], r["status"], r["would_have_answered"]) for r in hooks] == [
        ("POST_SCALE_UP", "SUCCEEDED", "SUCCEEDED"),
        ("POST_TEST_TRAFFIC_SHIFT", "SUCCEEDED", "FAILED"),
    ]
    assert hooks[1]["would_have_details"]["status"] == 404
    (note,) = world.stack.notifications()
    assert note["subject"] == (
        "[canary-rollback] hokusai-api: gate PAUSED at POST_TEST_TRAFFIC_SHIFT: would have answered FAILED"
    )
    assert "mlflow-proxy 404" in note["message"]

    # When the operator resumes, the gate judges again
    assert cli(["resume", *table]) == 0
    assert invoke(HOOK, load_event("hook-post-test-traffic-shift"))["hookStatus"] == "FAILED"
