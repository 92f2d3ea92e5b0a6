"""RollbackFunction under real AWS semantics (docs/design.md, "Failure at every step"): late and duplicated
events, invocations that die mid-way, reporting that fails after ECS acted, an operator's pause."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from canary_rollback.aws.clients import AwsClients
from canary_rollback.aws.state_store import StateStore
from canary_rollback.cli import main as cli
from canary_rollback.core.errors import ReportingError
from canary_rollback.core.models import GuardedService
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE
from demo.world.lambda_context import FakeLambdaContext
from tests.integration.conftest import alarm_event, break_with_34, make_known_good

GUARDED = GuardedService(CLUSTER, SERVICE)


class Killed(BaseException):
    """The Lambda sandbox disappearing mid-invocation: no except clause of ours (or powertools') sees it."""


def invoke(event: Any, timeout_seconds: int = 120) -> dict[str, Any]:
    response: dict[str, Any] = rollback_handler.handler(event, FakeLambdaContext("RollbackFunction", timeout_seconds))
    return response


def app_that_dies(world: Any, moment: str) -> RollbackApplication:
    """A container whose invocation dies `before-call` (the lock is written, UpdateService never sent) or
    `after-call` (ECS accepted UpdateService, nothing after it ran)."""
    runtime = build_runtime(world.stack.function_env, need_probes=False, clients=AwsClients(), clock=world.clock)

    def die(**_: Any) -> None:
        raise Killed

    runtime.clients.ecs.meta.events.register(f"{moment}.ecs.UpdateService", die)
    return RollbackApplication(runtime)


def fresh_container(world: Any) -> None:
    runtime = build_runtime(world.stack.function_env, need_probes=False, clock=world.clock)
    rollback_handler.application.set(RollbackApplication(runtime))


def store(world: Any) -> StateStore:
    return StateStore(boto3.client("dynamodb"), world.stack.table_name)


def updates_to(world: Any, revision: int) -> int:
    return sum(1 for _, td in world.simulator.update_calls if td == world.revisions[revision])


def kinds(world: Any) -> list[str]:
    return [
        r.get("action") or r["kind"] for r in reversed(store(world).history(GUARDED, 50)) if r["kind"] != "promotion"
    ]


def assert_rolled_back_once_and_told(world: Any) -> None:
    """One UpdateService to :31, the lock `done` (cooldown and recovery verdict follow), one notification."""
    assert updates_to(world, 31) == 1
    state = store(world).load(GUARDED)
    assert state.last_rollback is not None
    assert state.last_rollback.status == "done"
    assert [n["subject"] for n in world.stack.notifications()] == [
        "[canary-rollback] hokusai-api: rolled back to hokusai-api-development:31"
    ]


@pytest.fixture
def broken(world: Any) -> Any:
    make_known_good(world)
    break_with_34(world)
    world.stack.notifications()  # start from an empty inbox
    return world


# ---- late events -----------------------------------------------------------------------------------------
def test_an_alarm_set_back_to_ok_before_the_event_arrives_is_stale(broken: Any) -> None:
    # Given the alarm fired, but CloudWatch has moved it back to OK by the time the event is handled
    event = alarm_event(broken)
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=broken.stack.alarm_names["RollbackAlarm"], StateValue="OK", StateReason="recovered"
    )
    # When the (late) event is handled
    response = invoke(event)
    # Then nothing is rolled back, and people are told why
    assert response["action"] == "stale"
    assert "is OK now" in response["reason"]
    assert updates_to(broken, 31) == 0
    assert [n["subject"] for n in broken.stack.notifications()] == [
        "[canary-rollback] hokusai-api: ALARM event is stale: not acted on"
    ]


def test_an_event_older_than_the_max_age_is_stale_even_if_the_alarm_still_fires(broken: Any) -> None:
    response = invoke(alarm_event(broken, seconds_ago=601))
    assert response["action"] == "stale"
    assert "601 s ago" in response["reason"]
    assert updates_to(broken, 31) == 0


def test_an_alarm_cloudwatch_does_not_know_is_judged_by_its_event(broken: Any) -> None:
    event = alarm_event(broken)
    event["detail"]["alarmName"] = "deleted-alarm"
    assert invoke(event)["action"] == "rolled_back"


# ---- an invocation that dies -------------------------------------------------------------------------------
def test_a_retry_after_the_dead_attempts_deadline_resumes_its_lock(broken: Any) -> None:
    # Given an invocation that took the lock and died before UpdateService, with 3 s left on its clock
    # (room for a loaded machine to reach the redelivery in time)
    event = alarm_event(broken)
    rollback_handler.application.set(app_that_dies(broken, "before-call"))
    with pytest.raises(Killed):
        invoke(event, timeout_seconds=3)
    lock = store(broken).load(GUARDED).last_rollback
    assert lock is not None
    assert lock.status == "pending"

    # When Lambda redelivers the same state change while the first attempt may still run: a retryable failure
    fresh_container(broken)
    with pytest.raises(IdempotencyAlreadyInProgressError):
        invoke(event)

    # and again after that attempt's deadline: it resumes the same lock at once
    time.sleep(3.2)
    response = invoke(event)
    assert response["action"] == "rolled_back"
    assert "resuming rollback" in response["reason"]
    assert broken.current_revision() == broken.revisions[31]
    assert updates_to(broken, 31) == 1
    state = store(broken).load(GUARDED)
    assert state.last_rollback is not None
    assert (state.last_rollback.rollback_id, state.last_rollback.status) == (lock.rollback_id, "done")


def test_another_alarm_waits_for_a_live_lock_and_takes_over_an_abandoned_one(broken: Any) -> None:
    # Given an invocation that died between the lock and UpdateService
    rollback_handler.application.set(app_that_dies(broken, "before-call"))
    with pytest.raises(Killed):
        invoke(alarm_event(broken, seconds_ago=30))
    fresh_container(broken)

    # When a different state change arrives within the lease: in progress, nothing done twice
    assert invoke(alarm_event(broken, seconds_ago=10))["action"] == "in_progress"
    assert updates_to(broken, 31) == 0

    # and another after the lease (RollbackFunction timeout + 30 s): it takes the lock over and rolls back
    broken.clock.set(broken.clock() + timedelta(seconds=151))
    response = invoke(alarm_event(broken))
    assert response["action"] == "rolled_back"
    assert "took over abandoned rollback" in response["reason"]
    assert updates_to(broken, 31) == 1
    assert kinds(broken)[-3:] == ["in_progress", "takeover", "rolled_back"]


def test_a_death_right_after_update_service_is_finished_by_the_takeover_without_a_second_update(broken: Any) -> None:
    # Given an invocation that died right after ECS accepted UpdateService (no bookkeeping, no notification)
    rollback_handler.application.set(app_that_dies(broken, "after-call"))
    with pytest.raises(Killed):
        invoke(alarm_event(broken, seconds_ago=30))
    assert broken.current_revision() == broken.revisions[31]
    fresh_container(broken)

    # When the next alarm arrives after the lease
    broken.clock.set(broken.clock() + timedelta(seconds=151))
    response = invoke(alarm_event(broken))

    # Then it finishes that rollback: told, recorded done, no second UpdateService
    assert response["action"] == "rolled_back"
    assert "had reached ECS" in response["reason"]
    assert_rolled_back_once_and_told(broken)


# ---- failures after ECS acted ------------------------------------------------------------------------------
def test_a_missing_topic_after_update_service_never_fails_the_rollback(broken: Any) -> None:
    # Given a notification topic that does not exist
    env = {**broken.stack.function_env, "NOTIFY_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:deleted-topic"}
    rollback_handler.application.set(RollbackApplication(build_runtime(env, need_probes=False, clock=broken.clock)))
    event = alarm_event(broken)
    # When the alarm is handled: the rollback stands, the answer is rolled_back, the state is done
    first = invoke(event)
    assert first["action"] == "rolled_back"
    assert updates_to(broken, 31) == 1
    state = store(broken).load(GUARDED)
    assert state.last_rollback is not None
    assert state.last_rollback.status == "done"
    assert kinds(broken)[-1] == "rolled_back"
    # and a redelivery answers the same without a second UpdateService
    assert invoke(event) == first
    assert updates_to(broken, 31) == 1


def test_a_missing_topic_before_any_action_fails_retryably(world: Any) -> None:
    # no_known_good changes nothing in ECS: failing lets Lambda retry and, in the end, park it in the queue
    break_with_34(world)
    env = {**world.stack.function_env, "NOTIFY_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:deleted-topic"}
    rollback_handler.application.set(RollbackApplication(build_runtime(env, need_probes=False, clock=world.clock)))
    with pytest.raises(ReportingError, match="deleted-topic"):
        invoke(alarm_event(world))
    assert kinds(world)[-2:] == ["no_known_good", "error"]


# ---- an operator's pause -----------------------------------------------------------------------------------
def test_pause_answers_paused_until_resumed(broken: Any, capsys: pytest.CaptureFixture[str]) -> None:
    table = ["--cluster", CLUSTER, "--service", SERVICE, "--table", broken.stack.table_name]
    assert cli(["pause", *table, "--reason", "ALB migration in progress"]) == 0

    paused = invoke(alarm_event(broken, seconds_ago=20))
    assert paused["action"] == "paused"
    assert "ALB migration in progress" in paused["reason"]
    assert updates_to(broken, 31) == 0
    assert [n["subject"] for n in broken.stack.notifications()] == [
        "[canary-rollback] hokusai-api: ALARM while automatic rollback is paused: not rolled back"
    ]

    capsys.readouterr()
    assert cli(["status", *table]) == 0
    shown = capsys.readouterr().out
    assert "PAUSED by arn:aws:sts::123456789012:user/moto" in shown
    assert "ALB migration in progress" in shown

    assert cli(["resume", *table]) == 0
    assert invoke(alarm_event(broken))["action"] == "rolled_back"
    # The CLI stamps records with the real clock, the handlers with the world's: compare them as sets.
    assert [k for k in kinds(broken) if k in ("paused", "rolled_back")] == ["paused", "rolled_back"]
    assert {"pause", "resume"} <= set(kinds(broken))


# ---- races between a resumed attempt, a takeover and Idempotency ------------------------------------------
def test_a_resumed_attempt_holds_the_lock_again_so_a_concurrent_takeover_waits(broken: Any) -> None:
    # Given X died before UpdateService, and its retry arrives after the lease, just as another alarm (Z) fires
    x = alarm_event(broken, seconds_ago=30)
    rollback_handler.application.set(app_that_dies(broken, "before-call"))
    with pytest.raises(Killed):
        invoke(x, timeout_seconds=1)
    time.sleep(1.2)  # past X's first attempt's deadline (its Idempotency in-progress marker expires)
    broken.clock.set(broken.clock() + timedelta(seconds=151))
    z = alarm_event(broken)
    z["detail"]["alarmName"] = broken.stack.alarm_names["FastRollbackAlarm"]
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=broken.stack.alarm_names["FastRollbackAlarm"], StateValue="ALARM", StateReason="test: firing"
    )
    z_app = RollbackApplication(build_runtime(broken.stack.function_env, need_probes=False, clock=broken.clock))
    z_answers: list[dict[str, Any]] = []

    def z_fires(**_: Any) -> None:  # Z is handled while X's retry is about to call UpdateService
        if not z_answers:
            z_answers.append(z_app.handle(z, FakeLambdaContext("RollbackFunction")))

    runtime = build_runtime(broken.stack.function_env, need_probes=False, clients=AwsClients(), clock=broken.clock)
    runtime.clients.ecs.meta.events.register("before-call.ecs.UpdateService", z_fires)
    rollback_handler.application.set(RollbackApplication(runtime))

    # When X's retry resumes
    x_answer = invoke(x)

    # Then X holds the lock again (renewed lease), Z waits, and ECS gets one UpdateService
    assert x_answer["action"] == "rolled_back"
    assert z_answers[0]["action"] == "in_progress"
    assert updates_to(broken, 31) == 1
    assert [n["subject"] for n in broken.stack.notifications()] == [
        "[canary-rollback] hokusai-api: rolled back to hokusai-api-development:31"
    ]


def test_a_retry_after_a_death_past_update_service_finishes_the_rollback_even_when_the_alarm_went_ok(
    broken: Any,
) -> None:
    # Given X died right after ECS accepted UpdateService; by its retry, the rollback fixed things: alarm OK
    x = alarm_event(broken, seconds_ago=30)
    rollback_handler.application.set(app_that_dies(broken, "after-call"))
    with pytest.raises(Killed):
        invoke(x, timeout_seconds=1)
    time.sleep(1.2)
    broken.clock.set(broken.clock() + timedelta(seconds=60))
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=broken.stack.alarm_names["RollbackAlarm"], StateValue="OK", StateReason="recovered"
    )
    fresh_container(broken)

    # When the retry arrives
    answer = invoke(x)

    # Then it is not "stale": the rollback is finished, recorded, told, and cooled down
    assert answer["action"] == "rolled_back"
    assert "had reached ECS" in answer["reason"]
    assert_rolled_back_once_and_told(broken)


def test_losing_the_idempotency_record_after_update_service_never_fails_the_invocation(broken: Any) -> None:
    # Given DynamoDB refuses the write that marks the Idempotency record COMPLETED (after UpdateService)
    runtime = build_runtime(broken.stack.function_env, need_probes=False, clients=AwsClients(), clock=broken.clock)

    def blip(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key", {}).get("pk", {}).get("S", "").startswith("idempotency#"):
            raise ConnectionError("DynamoDB blip")

    runtime.clients.dynamodb.meta.events.register("before-parameter-build.dynamodb.UpdateItem", blip)
    rollback_handler.application.set(RollbackApplication(runtime))
    event = alarm_event(broken)

    # When the alarm is handled: the answer stands
    answer = invoke(event, timeout_seconds=1)
    assert answer["action"] == "rolled_back"
    assert updates_to(broken, 31) == 1

    # and a redelivery after that attempt's deadline (its record never completed) is answered from the lock's
    # replay: the same answer, no second UpdateService, nobody notified twice
    time.sleep(1.2)
    fresh_container(broken)
    broken.stack.notifications()
    again = invoke(event)
    assert (again["action"], again["target"]) == ("rolled_back", broken.revisions[31])
    assert "a redelivery" in again["reason"]
    assert updates_to(broken, 31) == 1
    assert broken.stack.notifications() == []
