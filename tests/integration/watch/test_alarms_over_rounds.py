"""The template's two rollback alarms, evaluated over the datapoints a real deployment watch publishes: the
one-minute alarm reads the scheduled runs only, the fast alarm the rounds (docs/deploy.md, "Why two alarms")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3

from canary_rollback.handlers import probe as probe_handler
from canary_rollback.runtime import build_runtime
from demo.world.alarm_evaluator import evaluate_alarm
from demo.world.lambda_context import FakeLambdaContext
from tests.conftest import load_event


def alarm_states_during_a_watch(world: Any, failing_rounds: set[int]) -> dict[str, list[str]]:
    """Run a two-minute watch whose rounds `failing_rounds` fail (every other round and every scheduled run
    passes), scheduled runs on the minute, and evaluate both alarms on every 10-second tick and after it."""
    cloudwatch = boto3.client("cloudwatch")
    alarms = {
        logical_id: cloudwatch.describe_alarms(AlarmNames=[world.stack.alarm_names[logical_id]])["MetricAlarms"][0]
        for logical_id in ("RollbackAlarm", "FastRollbackAlarm")
    }
    states: dict[str, list[str]] = {logical_id: [] for logical_id in alarms}
    start = world.clock()

    def evaluate() -> None:
        for logical_id, alarm in alarms.items():
            states[logical_id].append(evaluate_alarm(alarm, cloudwatch, world.clock()).state)

    def tick() -> None:
        evaluate()
        if world.clock().second == 0:
            assert world.probe_run()["ok"]  # the scheduled run of this minute passes
        round_index = round((world.clock() - start).total_seconds() / 10)
        world.alb.routes.mlflow_routed = round_index not in failing_rounds  # the blip, for this round only

    runtime = build_runtime({**world.stack.function_env, "WATCH_SECONDS": "120"}, clock=world.clock)
    runtime.monotonic, runtime.sleep = world.timer.monotonic, world.timer.sleep
    probe_handler.runtime.set(runtime)
    world.timer.on_tick = tick
    world.alb.routes.mlflow_routed = 0 not in failing_rounds
    watch = probe_handler.handler(load_event("ecs-deployment-in-progress"), FakeLambdaContext("ProbeFunction", 420))
    world.timer.on_tick = None
    assert (watch["action"], watch["failed_rounds"]) == ("watched", len(failing_rounds))
    for _ in range(3):  # the minutes after the watch: the one-minute alarm still looks back at it
        world.clock.set(world.clock().replace(second=0, microsecond=0) + timedelta(minutes=1))
        assert world.probe_run()["ok"]
        evaluate()
    return states


def test_two_isolated_blips_in_different_minutes_fire_no_alarm(world: Any) -> None:
    # Given a watch starting on the minute whose rounds 5 (:50) and 7 (+1 min :10) fail, in different minutes
    assert world.clock().second == 0
    states = alarm_states_during_a_watch(world, failing_rounds={5, 7})

    # Then RollbackAlarm never leaves OK (the scheduled runs all passed), and neither does the fast alarm
    assert set(states["RollbackAlarm"]) == {"OK"}
    assert set(states["FastRollbackAlarm"]) == {"OK"}


def test_three_failing_rounds_in_a_minute_fire_the_fast_alarm_only(world: Any) -> None:
    states = alarm_states_during_a_watch(world, failing_rounds={5, 6, 7})
    assert "ALARM" in states["FastRollbackAlarm"]
    assert set(states["RollbackAlarm"]) == {"OK"}
