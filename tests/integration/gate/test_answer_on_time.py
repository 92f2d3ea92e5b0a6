"""The deployment hook's answer comes back before the invocation's deadline even when the audit table and the
topic hang (docs/design.md, "Answers on time"): ECS reads a hook that times out as FAILED and rolls back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from canary_rollback.handlers import hook as hook_handler
from canary_rollback.runtime import build_runtime
from demo.world.lambda_context import FakeLambdaContext
from tests.conftest import load_event
from tests.support.hanging import hanging_endpoint


@pytest.mark.parametrize("broken_route", [False, True], ids=["passing", "failed-and-notified"])
def test_dynamodb_and_sns_hanging_do_not_hold_the_hook_answer(
    world: Any, monkeypatch: pytest.MonkeyPatch, broken_route: bool
) -> None:
    # Given the stack's table and topic both hanging, and a new revision answering through the test listener
    probes = json.loads(world.stack.function_env["PROBES"])
    probes[0]["test_url"] = probes[0]["url"]
    world.alb.routes.mlflow_routed = not broken_route
    with hanging_endpoint() as hanging:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", hanging)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", hanging)
        env = {**world.stack.function_env, "PROBES": json.dumps(probes), "HOOK_PASSES_REQUIRED": "1"}
        hook_handler.runtime.set(build_runtime(env, clock=world.clock))
        context = FakeLambdaContext("DeploymentHookFunction", 8)

        # When ECS invokes the hook after the test traffic shift
        answer = hook_handler.handler(load_event("hook-post-test-traffic-shift"), context)

    # Then the answer (audit and notification left unfinished) came back before the deadline
    assert answer["hookStatus"] == ("FAILED" if broken_route else "SUCCEEDED")
    assert context.get_remaining_time_in_millis() > 0
    hook_handler.runtime.set(None)
