"""RollbackFunction end to end on moto, with ECS rollouts simulated as real ECS performs them."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from canary_rollback.aws.state_store import StateStore
from canary_rollback.core.errors import EcsError, StateStoreError
from canary_rollback.core.models import GuardedService
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE
from demo.world.lambda_context import FakeLambdaContext
from tests.conftest import load_event
from tests.integration.conftest import alarm_event, break_with_34, make_known_good

GUARDED = GuardedService(CLUSTER, SERVICE)


def invoke(event: Any) -> dict[str, Any]:
    response: dict[str, Any] = rollback_handler.handler(event, FakeLambdaContext("RollbackFunction"))
    return response


def store(world: Any) -> StateStore:
    return StateStore(boto3.client("dynamodb"), world.stack.table_name)


def audit_actions(world: Any) -> list[str]:
    return [
        r.get("action") or r["kind"]
        for r in reversed(store(world).history(GUARDED, 50))
        if r["kind"] not in ("promotion", "readiness")
    ]


def rollback_updates(world: Any) -> list[str]:
    pipeline = {world.revisions[r] for r in (32, 33, 34)}
    return [td for _, td in world.simulator.update_calls if td not in pipeline]


@pytest.mark.parametrize("shape", ["alarm-state-change", "alarm-lambda-action", "alarm-sns"])
def test_seed_scenario_rolls_back_to_31_not_33_on_every_alarm_shape(world: Any, shape: str) -> None:
    # Given :31 seen healthy, :32 and :33 failed rollouts, :34 live with the route broken
    make_known_good(world)
    break_with_34(world)
    assert world.current_revision() == world.revisions[34]

    # When the alarm arrives
    response = invoke(alarm_event(world, shape))

    # Then the service goes back to :31, the last revision seen healthy
    assert "rolling back to the last task definition seen healthy" in response["reason"]
    assert {k: v for k, v in response.items() if k != "reason"} == {
        "action": "rolled_back",
        "alarm": "canary-rollback-RollbackAlarm",
        "cluster": CLUSTER,
        "service": SERVICE,
        "current": world.revisions[34],
        "target": world.revisions[31],
    }
    assert world.current_revision() == world.revisions[31]
    assert rollback_updates(world) == [world.revisions[31]]
    assert audit_actions(world)[-1] == "rolled_back"
    subjects = [n["subject"] for n in world.stack.notifications()]
    assert subjects == ["[canary-rollback] hokusai-api: rolled back to hokusai-api-development:31"]
    state = store(world).load(GUARDED)
    assert state.last_rollback is not None
    assert (state.last_rollback.status, state.last_rollback.to_arn) == ("done", world.revisions[31])


def test_alarm_back_to_ok_is_ignored(world: Any) -> None:
    make_known_good(world)
    break_with_34(world)
    response = invoke(load_event("alarm-ok"))
    assert response["action"] == "ignored"
    assert world.current_revision() == world.revisions[34]
    assert rollback_updates(world) == []
    assert audit_actions(world) == ["ignored"]


# A Scheduled Event is the reconcile tick (tests/integration/rollback/test_level_triggered.py), not unrecognised.
@pytest.mark.parametrize("event", [{"hello": "world"}, [], "ALARM"])
def test_unrecognised_events_are_ignored_logged_and_audited(world: Any, event: Any) -> None:
    response = invoke(event)
    assert response["action"] == "ignored"
    assert response["alarm"] is None
    assert audit_actions(world) == ["ignored"]


def test_no_known_good_notifies_and_never_guesses(world: Any) -> None:
    break_with_34(world)  # the probes never saw anything healthy
    response = invoke(alarm_event(world))
    assert (response["action"], response["target"]) == ("no_known_good", None)
    assert world.current_revision() == world.revisions[34]
    assert rollback_updates(world) == []
    notes = world.stack.notifications()
    assert [n["subject"] for n in notes] == [
        "[canary-rollback] hokusai-api: ALARM but no known-good revision: not rolled back"
    ]


def test_fault_on_the_known_good_itself_is_not_a_deployment_fault(world: Any) -> None:
    make_known_good(world)
    world.route_broken_everywhere = True
    response = invoke(alarm_event(world))
    assert (response["action"], response["current"], response["target"]) == (
        "already_known_good",
        world.revisions[31],
        world.revisions[31],
    )
    assert rollback_updates(world) == []
    assert len(world.stack.notifications()) == 1


def test_deregistered_known_good_is_copied_and_the_copy_deployed(world: Any) -> None:
    make_known_good(world)
    break_with_34(world)
    ecs = boto3.client("ecs")
    ecs.deregister_task_definition(taskDefinition=world.revisions[31])  # as CloudFormation does to old revisions

    response = invoke(alarm_event(world))

    assert response["action"] == "rolled_back"
    copy_arn = response["target"]
    assert copy_arn.endswith("hokusai-api-development:35")
    assert "INACTIVE" in response["reason"]
    assert "copy" in response["reason"]
    copied = ecs.describe_task_definition(taskDefinition=copy_arn, include=["TAGS"])
    assert copied["taskDefinition"]["containerDefinitions"][0]["image"] == "hokusai/api:build-31"
    assert {"key": "canary-rollback:copied-from", "value": world.revisions[31]} in copied["tags"]
    assert world.current_revision() == copy_arn
    state = store(world).load(GUARDED)
    assert state.known_good is not None
    assert (state.known_good.arn, state.known_good.copied_from) == (copy_arn, world.revisions[31])


def test_second_alarm_while_rolling_back_is_in_progress_then_cooldown(world: Any) -> None:
    make_known_good(world)
    break_with_34(world)
    assert invoke(alarm_event(world, "alarm-state-change", seconds_ago=60))["action"] == "rolled_back"

    # a distinct alarm state change while ECS is still deploying :31
    again = invoke(alarm_event(world, "alarm-state-change", seconds_ago=0))
    assert again["action"] == "in_progress"

    # :31 finishes (the next probe run sees it recover: ECS finished the rollback, it was not reverted); someone
    # redeploys a broken revision within the cooldown window
    world.minute()
    world.advance_rollout()
    world.probe_run()
    world.deploy(34)
    world.minute()
    world.advance_rollout()
    third = invoke(alarm_event(world, "alarm-state-change", seconds_ago=0))
    assert third["action"] == "cooldown"
    assert rollback_updates(world) == [world.revisions[31]]

    # after the cooldown the same fault is rolled back again
    world.clock.set(world.clock() + timedelta(seconds=901))
    fourth = invoke(alarm_event(world))
    assert fourth["action"] == "rolled_back"
    assert rollback_updates(world) == [world.revisions[31], world.revisions[31]]
    assert audit_actions(world) == ["rolled_back", "in_progress", "recovery", "cooldown", "rolled_back"]


def test_duplicate_delivery_after_completion_replays_the_first_answer(world: Any) -> None:
    make_known_good(world)
    break_with_34(world)
    event = alarm_event(world)
    first = invoke(event)
    world.clock.set(world.clock() + timedelta(seconds=20))
    world.advance_rollout()
    duplicate = invoke(event)
    assert duplicate == first
    assert rollback_updates(world) == [world.revisions[31]]


def test_dry_run_decides_and_reports_but_never_updates(aws: Any, handlers_reset: None) -> None:
    from demo.world import World
    from demo.world.services import LoopbackAlb

    with LoopbackAlb() as alb:
        dry = World.create(alb, {"DryRun": "true"})
        try:
            make_known_good(dry)
            break_with_34(dry)
            response = invoke(alarm_event(dry))
            assert (response["action"], response["target"]) == ("dry_run", dry.revisions[31])
            assert dry.current_revision() == dry.revisions[34]
            assert rollback_updates(dry) == []
            assert "(dry run)" in dry.stack.notifications()[0]["subject"]
        finally:
            dry.close()


def test_recovery_is_recorded_with_recovery_seconds_and_notified(world: Any) -> None:
    make_known_good(world)
    break_with_34(world)
    decided_at = world.clock()
    invoke(alarm_event(world))
    world.stack.notifications()  # drain the rollback notification

    world.minute()
    world.probe_run()  # ECS still deploying :31: not judged yet
    world.advance_rollout()
    world.clock.set(world.clock() + timedelta(seconds=20))
    report = world.probe_run()

    assert report["ok"]
    assert report["known_good"]["steady"]
    notes = world.stack.notifications()
    assert [n["subject"] for n in notes] == ["[canary-rollback] hokusai-api: recovered on hokusai-api-development:31"]
    points = boto3.client("cloudwatch").get_metric_statistics(
        Namespace="CanaryRollback",
        MetricName="RecoverySeconds",
        Dimensions=[{"Name": "service", "Value": "canary-rollback"}],
        StartTime=decided_at - timedelta(hours=1),
        EndTime=world.clock() + timedelta(hours=1),
        Period=7200,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in points] == [(world.clock() - decided_at).total_seconds()]
    history = store(world).history(GUARDED, 5)
    assert history[0]["kind"] == "recovery"
    assert history[0]["outcome"] == "recovered"


def test_rollback_that_does_not_recover_is_reported(world: Any) -> None:
    make_known_good(world)
    break_with_34(world)
    invoke(alarm_event(world))
    world.stack.notifications()
    world.route_broken_everywhere = True  # the fault was never the deployment's
    world.minute()
    world.advance_rollout()
    world.probe_run()
    world.minute()
    world.probe_run()
    subjects = [n["subject"] for n in world.stack.notifications()]
    assert subjects == ["[canary-rollback] hokusai-api: rollback to hokusai-api-development:31 did NOT recover"]


def test_throttled_update_service_is_retried_by_botocore(world: Any) -> None:
    make_known_good(world)
    break_with_34(world)
    attempts = {"n": 0}

    def throttle_twice() -> bool:
        attempts["n"] += 1
        return attempts["n"] <= 2

    world.simulator.throttle_updates(throttle_twice)
    response = invoke(alarm_event(world))
    assert response["action"] == "rolled_back"
    assert attempts["n"] == 3
    assert world.current_revision() == world.revisions[31]


def test_update_service_throttled_past_retries_fails_cleanly_and_can_be_retried(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # "throttled past retries" sooner than botocore's 5 attempts
    make_known_good(world)
    break_with_34(world)
    world.simulator.throttle_updates(lambda: True)
    with pytest.raises(EcsError, match=r"UpdateService hokusai-development/hokusai-api .* ThrottlingException"):
        invoke(alarm_event(world))
    state = store(world).load(GUARDED)
    assert state.last_rollback is not None
    assert state.last_rollback.status == "failed"  # the lock is released: no half-done state
    assert store(world).history(GUARDED, 1)[0]["kind"] == "error"
    assert world.current_revision() == world.revisions[34]

    # Lambda's retry of the same event (powertools dropped the idempotency record on failure) now succeeds
    world.simulator.throttle_updates(None)
    assert invoke(alarm_event(world))["action"] == "rolled_back"
    assert world.current_revision() == world.revisions[31]


def test_missing_service_is_a_clear_error_and_audited(world: Any) -> None:
    env = {**world.stack.function_env, "SERVICE_NAME": "no-such-service"}
    rollback_handler.application.set(RollbackApplication(build_runtime(env, need_probes=False, clock=world.clock)))
    with pytest.raises(EcsError, match="ECS service hokusai-development/no-such-service not found"):
        invoke(alarm_event(world))
    history = StateStore(boto3.client("dynamodb"), world.stack.table_name).history(
        GuardedService(CLUSTER, "no-such-service"), 5
    )
    assert history[0]["kind"] == "error"
    assert "not found" in history[0]["message"]


def test_missing_state_table_is_a_clear_error(world: Any) -> None:
    make_known_good(world)
    break_with_34(world)
    env = {**world.stack.function_env, "STATE_TABLE": "no-such-table"}
    rollback_handler.application.set(RollbackApplication(build_runtime(env, need_probes=False, clock=world.clock)))
    with pytest.raises(StateStoreError, match="state table 'no-such-table' does not exist"):
        invoke(alarm_event(world))
    assert rollback_updates(world) == []


def _concurrent(
    world: Any, events: list[dict[str, Any]], allow: type[BaseException] | None = None
) -> tuple[list[dict[str, Any]], list[BaseException]]:
    """Each thread is its own 'container': its own runtime, clients and idempotency cache."""
    barrier = threading.Barrier(len(events))
    results: list[dict[str, Any]] = [{} for _ in events]
    errors: list[BaseException] = []

    def worker(index: int, event: dict[str, Any]) -> None:
        try:
            dedup = RollbackApplication(build_runtime(world.stack.function_env, need_probes=False, clock=world.clock))
            from canary_rollback.rollback.alarm_events import parse_alarm_event

            barrier.wait()
            results[index] = dedup.respond(parse_alarm_event(event), FakeLambdaContext("RollbackFunction"))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i, e)) for i, e in enumerate(events)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    unexpected = [e for e in errors if allow is None or not isinstance(e, allow)]
    assert not unexpected, unexpected
    return results, errors


@pytest.mark.parametrize("repeat", range(3))
def test_five_concurrent_duplicate_alarms_make_one_update_service(world: Any, repeat: int) -> None:
    make_known_good(world)
    break_with_34(world)
    results, errors = _concurrent(world, [alarm_event(world)] * 5, allow=IdempotencyAlreadyInProgressError)
    assert rollback_updates(world) == [world.revisions[31]]
    # A duplicate either replays the finished answer or fails so that Lambda retries it: never a success of its own.
    assert [r["action"] for r in results if r] == ["rolled_back"] * (5 - len(errors))
    assert len(errors) < 5


@pytest.mark.parametrize("repeat", range(3))
def test_five_concurrent_distinct_alarms_make_one_update_service(world: Any, repeat: int) -> None:
    make_known_good(world)
    break_with_34(world)
    shapes = ["alarm-state-change", "alarm-lambda-action", "alarm-sns", "alarm-state-change", "alarm-sns"]
    events = [alarm_event(world, shape, seconds_ago=i) for i, shape in enumerate(shapes)]
    results, _ = _concurrent(world, events)
    assert rollback_updates(world) == [world.revisions[31]]
    actions = sorted(r["action"] for r in results)
    assert actions == ["in_progress"] * 4 + ["rolled_back"]
