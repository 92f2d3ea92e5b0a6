"""RollbackFunction under real AWS semantics (docs/design.md, "Failure at every step"): late and duplicated
events, invocations that die mid-way, reporting that fails after ECS acted, an operator's pause."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from canary_rollback.cli import main as cli
from canary_rollback.core.errors import ReportingError
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE
from tests.support.containers import (
    Killed,
    app_that_dies,
    container_clients,
    fresh_container,
    pass_the_deadline_of_unfinished_invocations,
)
from tests.support.invoke import ROLLBACK, invoke, lambda_context
from tests.support.world import (
    GUARDED,
    alarm_event,
    audit_actions,
    break_with_34,
    notification_subjects,
    store,
    updates_to,
)


def assert_rolled_back_once_and_told(world: Any) -> None:
    """One UpdateService to :31, the lock `done` (cooldown and recovery verdict follow), one notification."""
    assert updates_to(world, 31) == 1
    state = store(world).load(GUARDED)
    assert state.last_rollback is not None
    assert state.last_rollback.status == "done"
    assert notification_subjects(world) == ["[canary-rollback] hokusai-api: rolled back to hokusai-api-development:31"]


# ---- late events -----------------------------------------------------------------------------------------
def test_an_alarm_set_back_to_ok_before_the_event_arrives_is_stale(broken: Any) -> None:
    # Given the alarm fired, but CloudWatch has moved it back to OK by the time the event is handled
    event = alarm_event(broken)
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=broken.stack.alarm_names["RollbackAlarm"], StateValue="OK", StateReason="recovered"
    )
    # When the (late) event is handled
    response = invoke(ROLLBACK, event)
    # Then nothing is rolled back, and people are told why
    assert response["action"] == "stale"
    assert "is OK now" in response["reason"]
    assert updates_to(broken, 31) == 0
    assert notification_subjects(broken) == ["[canary-rollback] hokusai-api: ALARM event is stale: not acted on"]


def test_an_event_older_than_the_max_age_is_stale_even_if_the_alarm_still_fires(broken: Any) -> None:
    response = invoke(ROLLBACK, alarm_event(broken, seconds_ago=601))
    assert response["action"] == "stale"
    assert "601 s ago" in response["reason"]
    assert updates_to(broken, 31) == 0


def test_an_alarm_cloudwatch_does_not_know_is_judged_by_its_event(broken: Any) -> None:
    event = alarm_event(broken)
    event["detail"]["alarmName"] = "deleted-alarm"
    assert invoke(ROLLBACK, event)["action"] == "rolled_back"


# ---- an invocation that dies -------------------------------------------------------------------------------
def test_a_retry_after_the_dead_attempts_deadline_resumes_its_lock(broken: Any) -> None:
    # Given an invocation that took the lock and died before UpdateService
    event = alarm_event(broken)
    rollback_handler.application.set(app_that_dies(broken, "before-call"))
    with pytest.raises(Killed):
        invoke(ROLLBACK, event)
    lock = store(broken).load(GUARDED).last_rollback
    assert lock is not None
    assert lock.status == "pending"

    # When Lambda redelivers the same state change while the first attempt may still run: a retryable failure
    fresh_container(broken)
    with pytest.raises(IdempotencyAlreadyInProgressError):
        invoke(ROLLBACK, event)

    # and again after that attempt's deadline: it resumes the same lock at once
    assert pass_the_deadline_of_unfinished_invocations(broken) == 1
    response = invoke(ROLLBACK, event)
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
        invoke(ROLLBACK, alarm_event(broken, seconds_ago=30))
    fresh_container(broken)

    # When a different state change arrives within the lease: in progress, nothing done twice
    assert invoke(ROLLBACK, alarm_event(broken, seconds_ago=10))["action"] == "in_progress"
    assert updates_to(broken, 31) == 0

    # and another after the lease (RollbackFunction timeout + 30 s): it takes the lock over and rolls back
    broken.clock.set(broken.clock() + timedelta(seconds=151))
    response = invoke(ROLLBACK, alarm_event(broken))
    assert response["action"] == "rolled_back"
    assert "took over abandoned rollback" in response["reason"]
    assert updates_to(broken, 31) == 1
    assert audit_actions(broken)[-3:] == ["in_progress", "takeover", "rolled_back"]


def test_a_death_right_after_update_service_is_finished_by_the_takeover_without_a_second_update(broken: Any) -> None:
    # Given an invocation that died right after ECS accepted UpdateService (no bookkeeping, no notification)
    rollback_handler.application.set(app_that_dies(broken, "after-call"))
    with pytest.raises(Killed):
        invoke(ROLLBACK, alarm_event(broken, seconds_ago=30))
    assert broken.current_revision() == broken.revisions[31]
    fresh_container(broken)

    # When the next alarm arrives after the lease
    broken.clock.set(broken.clock() + timedelta(seconds=151))
    response = invoke(ROLLBACK, alarm_event(broken))

    # Then it finishes that rollback: told, recorded done, no second UpdateService
    assert response["action"] == "rolled_back"
    assert "had reached ECS" in response["reason"]
    assert_rolled_back_once_and_told(broken)


# ---- failures after ECS acted ------------------------------------------------------------------------------
def test_a_missing_topic_after_update_service_never_fails_the_rollback(broken: Any) -> None:
    # Given a notification topic that does not exist
    fresh_container(broken, NOTIFY_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:deleted-topic")
    event = alarm_event(broken)
    # When the alarm is handled: the rollback stands, the answer is rolled_back, the state is done
    first = invoke(ROLLBACK, event)
    assert first["action"] == "rolled_back"
    assert updates_to(broken, 31) == 1
    state = store(broken).load(GUARDED)
    assert state.last_rollback is not None
    assert state.last_rollback.status == "done"
    assert audit_actions(broken)[-1] == "rolled_back"
    # and a redelivery answers the same without a second UpdateService
    assert invoke(ROLLBACK, event) == first
    assert updates_to(broken, 31) == 1


def test_a_missing_topic_before_any_action_fails_retryably(world: Any) -> None:
    # no_known_good changes nothing in ECS: failing lets Lambda retry and, in the end, park it in the queue
    break_with_34(world)
    fresh_container(world, NOTIFY_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:deleted-topic")
    with pytest.raises(ReportingError, match="deleted-topic"):
        invoke(ROLLBACK, alarm_event(world))
    assert audit_actions(world)[-2:] == ["no_known_good", "error"]


# ---- an operator's pause -----------------------------------------------------------------------------------
def test_pause_answers_paused_until_resumed(broken: Any, capsys: pytest.CaptureFixture[str]) -> None:
    table = ["--cluster", CLUSTER, "--service", SERVICE, "--table", broken.stack.table_name]
    assert cli(["pause", *table, "--reason", "ALB migration in progress"]) == 0

    paused = invoke(ROLLBACK, alarm_event(broken, seconds_ago=20))
    assert paused["action"] == "paused"
    assert "ALB migration in progress" in paused["reason"]
    assert updates_to(broken, 31) == 0
    assert notification_subjects(broken) == [
        "[canary-rollback] hokusai-api: ALARM while automatic rollback is paused: not rolled back"
    ]

    capsys.readouterr()
    assert cli(["status", *table]) == 0
    shown = capsys.readouterr().out
    assert "PAUSED by arn:aws:sts::123456789012:user/moto" in shown
    assert "ALB migration in progress" in shown

    assert cli(["resume", *table]) == 0
    assert invoke(ROLLBACK, alarm_event(broken))["action"] == "rolled_back"
    # The CLI stamps records with the real clock, the handlers with the world's: compare them as sets.
    assert [k for k in audit_actions(broken) if k in ("paused", "rolled_back")] == ["paused", "rolled_back"]
    assert {"pause", "resume"} <= set(audit_actions(broken))


# ---- races between a resumed attempt, a takeover and Idempotency ------------------------------------------
def test_a_resumed_attempt_holds_the_lock_again_so_a_concurrent_takeover_waits(broken: Any) -> None:
    # Given X died before UpdateService, and its retry arrives after the lease, just as another alarm (Z) fires
    x = alarm_event(broken, seconds_ago=30)
    rollback_handler.application.set(app_that_dies(broken, "before-call"))
    with pytest.raises(Killed):
        invoke(ROLLBACK, x)
    assert pass_the_deadline_of_unfinished_invocations(broken) == 1  # X's first attempt: its marker expires
    broken.clock.set(broken.clock() + timedelta(seconds=151))
    z = alarm_event(broken)
    z["detail"]["alarmName"] = broken.stack.alarm_names["FastRollbackAlarm"]
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=broken.stack.alarm_names["FastRollbackAlarm"], StateValue="ALARM", StateReason="test: firing"
    )
    z_app = RollbackApplication(
        build_runtime(broken.stack.function_env, need_probes=False, clients=container_clients(), clock=broken.clock)
    )
    z_answers: list[dict[str, Any]] = []

    def z_fires(**_: Any) -> None:  # Z is handled while X's retry is about to call UpdateService
        if not z_answers:
            z_answers.append(z_app.handle(z, lambda_context(ROLLBACK)))

    runtime = build_runtime(
        broken.stack.function_env, need_probes=False, clients=container_clients(), clock=broken.clock
    )
    runtime.clients.ecs.meta.events.register("before-call.ecs.UpdateService", z_fires)
    rollback_handler.application.set(RollbackApplication(runtime))

    # When X's retry resumes
    x_answer = invoke(ROLLBACK, x)

    # Then X holds the lock again (renewed lease), Z waits, and ECS gets one UpdateService
    assert x_answer["action"] == "rolled_back"
    assert z_answers[0]["action"] == "in_progress"
    assert updates_to(broken, 31) == 1
    assert notification_subjects(broken) == ["[canary-rollback] hokusai-api: rolled back to hokusai-api-development:31"]


def test_a_retry_after_a_death_past_update_service_finishes_the_rollback_even_when_the_alarm_went_ok(
    broken: Any,
) -> None:
    # Given X died right after ECS accepted UpdateService; by its retry, the rollback fixed things: alarm OK
    x = alarm_event(broken, seconds_ago=30)
    rollback_handler.application.set(app_that_dies(broken, "after-call"))
    with pytest.raises(Killed):
        invoke(ROLLBACK, x)
    assert pass_the_deadline_of_unfinished_invocations(broken) == 1
    broken.clock.set(broken.clock() + timedelta(seconds=60))
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=broken.stack.alarm_names["RollbackAlarm"], StateValue="OK", StateReason="recovered"
    )
    fresh_container(broken)

    # When the retry arrives
    answer = invoke(ROLLBACK, x)

    # Then it is not "stale": the rollback is finished, recorded, told, and cooled down
    assert answer["action"] == "rolled_back"
    assert "had reached ECS" in answer["reason"]
    assert_rolled_back_once_and_told(broken)


def test_losing_the_idempotency_record_after_update_service_never_fails_the_invocation(broken: Any) -> None:
    # Given DynamoDB refuses the write that marks the Idempotency record COMPLETED (after UpdateService)
    runtime = build_runtime(
        broken.stack.function_env, need_probes=False, clients=container_clients(), clock=broken.clock
    )

    def blip(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key", {}).get("pk", {}).get("S", "").startswith("idempotency#"):
            raise ConnectionError("DynamoDB blip")

    runtime.clients.dynamodb.meta.events.register("before-parameter-build.dynamodb.UpdateItem", blip)
    rollback_handler.application.set(RollbackApplication(runtime))
    event = alarm_event(broken)

    # When the alarm is handled: the answer stands
    answer = invoke(ROLLBACK, event)
    assert answer["action"] == "rolled_back"
    assert updates_to(broken, 31) == 1

    # and a redelivery after that attempt's deadline (its record never completed) is answered from the lock's
    # replay: the same answer, no second UpdateService, nobody notified twice
    assert pass_the_deadline_of_unfinished_invocations(broken) == 1
    fresh_container(broken)
    broken.stack.notifications()
    again = invoke(ROLLBACK, event)
    assert (again["action"], again["target"]) == ("rolled_back", broken.revisions[31])
    assert "a redelivery" in again["reason"]
    assert updates_to(broken, 31) == 1
    assert broken.stack.notifications() == []
