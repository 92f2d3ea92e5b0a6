"""A failed watch round between scheduled passes resets the candidate's streak, through the real handler."""

from __future__ import annotations

from typing import Any

import boto3

from canary_rollback.aws.state_store import StateStore
from canary_rollback.core.models import GuardedService
from canary_rollback.handlers import probe as probe_handler
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE
from demo.world.lambda_context import FakeLambdaContext
from tests.conftest import load_event

GUARDED = GuardedService(CLUSTER, SERVICE)


def test_pass_failed_round_pass_pass_is_not_promoted(world: Any) -> None:
    store = StateStore(boto3.client("dynamodb"), world.stack.table_name)
    # Given one scheduled pass on :31 (no known-good yet, three passes needed)
    world.minute()
    assert world.probe_run()["known_good"]["streak"] == 1

    # When a deployment watch's rounds fail on :31 (a short watch on the simulated clock)
    runtime = build_runtime({**world.stack.function_env, "WATCH_SECONDS": "30"}, clock=world.clock)
    runtime.monotonic, runtime.sleep = world.timer.monotonic, world.timer.sleep
    probe_handler.runtime.set(runtime)
    world.alb.routes.mlflow_routed = False
    watch = probe_handler.handler(load_event("ecs-deployment-in-progress"), FakeLambdaContext("ProbeFunction", 420))
    assert (watch["action"], watch["failed_rounds"]) == ("watched", watch["rounds"])
    candidate = store.load(GUARDED).candidate
    assert candidate is not None
    assert (candidate.arn, candidate.streak) == (world.revisions[31], 0)

    # and two more scheduled runs pass
    for _ in range(2):
        world.minute()
        report = world.probe_run()  # the route is healthy again for scheduled runs

    # Then :31 is not promoted: the passes were not consecutive
    assert report["ok"]
    assert (report["known_good"]["streak"], report["known_good"]["promoted"]) == (2, False)
    assert store.load(GUARDED).known_good is None
