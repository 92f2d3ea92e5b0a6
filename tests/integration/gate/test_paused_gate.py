"""Pause covers the gate (docs/design.md, "Pause"): while a person has taken over, DeploymentHookFunction never
fails or holds a deployment; it answers SUCCEEDED and audits and notifies what it would have answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from canary_rollback.aws.state_store import StateStore
from canary_rollback.cli import main as cli
from canary_rollback.core.models import GuardedService
from canary_rollback.handlers import hook as hook_handler
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE
from demo.world.lambda_context import FakeLambdaContext
from tests.conftest import load_event
from tests.integration.conftest import LoopbackServer


@pytest.fixture
def test_listener() -> Iterator[LoopbackServer]:
    """The ALB's test listener, routing to the new (green) revision: it answers 404 (the route is broken)."""
    import threading

    server = LoopbackServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def hook(event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = hook_handler.handler(event, FakeLambdaContext("DeploymentHookFunction"))
    return answer


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
    probed = hook(load_event("hook-post-test-traffic-shift"))
    scale_up = load_event("hook-post-test-traffic-shift")
    scale_up["lifecycleStage"] = "POST_SCALE_UP"
    other = hook(scale_up)

    # Then both answer SUCCEEDED: the gate never fails a deployment while a person has taken over
    assert (probed["hookStatus"], other["hookStatus"]) == ("SUCCEEDED", "SUCCEEDED")
    assert probed["hookDetails"]["would_have_answered"] == "FAILED"
    assert "rolling out by hand" in probed["hookDetails"]["paused"]
    # and what it would have answered is audited, and told (only where that was not SUCCEEDED)
    store = StateStore(boto3.client("dynamodb"), world.stack.table_name)
    hooks = [r for r in store.history(GuardedService(CLUSTER, SERVICE)) if r["kind"] == "hook"]
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
    assert hook(load_event("hook-post-test-traffic-shift"))["hookStatus"] == "FAILED"
