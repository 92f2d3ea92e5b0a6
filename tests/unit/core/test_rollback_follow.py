"""A rollback is done when ECS finishes it (docs/design.md, "The rollback lock"): what ECS did to it, whose
deployment the service runs, and what "deploying" means. Pure: no AWS."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from canary_rollback.core.ecs_outcome import reverted_by_ecs
from canary_rollback.core.models import Deployment, KnownGood, ServiceObservation, ServiceState, ToldAnswer
from canary_rollback.core.rollback_record import RollbackRecord
from tests.unit.builders import SERVICE_ARN, T0, rev, rolling, steady

DONE = RollbackRecord("r1", T0, "RollbackAlarm", rev(34), rev(31), "done", lease_until=T0 + timedelta(seconds=150))


def with_deployment(service: ServiceObservation, **changes: object) -> ServiceObservation:
    return replace(service, deployments=(replace(service.deployments[0], **changes), *service.deployments[1:]))  # type: ignore[arg-type]


def test_back_on_the_revision_it_rolled_back_from_is_reverted() -> None:
    how = reverted_by_ecs(DONE, steady(34))
    assert how is not None
    assert "back on hokusai-api-development:34" in how


def test_its_own_deployment_failed_is_reverted_even_before_ecs_moved_the_service() -> None:
    service = with_deployment(steady(31), rollout_state="FAILED", deployment_id="ecs-svc/9")
    assert reverted_by_ecs(DONE, service) is None  # another deployment's failure says nothing about ours
    how = reverted_by_ecs(replace(DONE, deployment_id="ecs-svc/9"), service)
    assert how is not None
    assert "ecs-svc/9 FAILED" in how


def test_after_a_stop_the_service_stays_on_from_while_ecs_shifts_back() -> None:
    stopped = replace(DONE, via="stop_deployment")
    assert reverted_by_ecs(stopped, rolling(34, 31)) is None  # ECS still rolling the stopped deployment back
    assert reverted_by_ecs(stopped, steady(34)) is not None  # it finished on :34: the stop did not take


def test_rolling_out_steady_on_target_or_judged_is_not_reverted() -> None:
    assert reverted_by_ecs(DONE, rolling(31, 34)) is None
    assert reverted_by_ecs(DONE, steady(31)) is None
    assert reverted_by_ecs(replace(DONE, outcome="recovered"), steady(34)) is None
    assert reverted_by_ecs(replace(DONE, status="pending"), steady(34)) is None
    assert reverted_by_ecs(None, steady(34)) is None


def test_deploying_means_a_deployment_under_way_not_scaling() -> None:
    assert rolling(34, 31).deploying
    assert with_deployment(steady(34), rollout_state="IN_PROGRESS").deploying
    short = ServiceObservation(SERVICE_ARN, rev(34), 2, 1, (Deployment("PRIMARY", rev(34), "COMPLETED", 1, 2),))
    assert not short.steady
    assert not short.deploying  # a replaced task or scaling in
    assert not steady(34).deploying
    assert not ServiceObservation(SERVICE_ARN, rev(34), 2, 2, (Deployment("PRIMARY", rev(34), None, 2, 2),)).deploying


def test_a_deployment_is_the_locks_own_only_within_its_lease_plus_a_margin() -> None:
    assert DONE.started(T0 + timedelta(seconds=3))
    assert DONE.started(T0 + timedelta(seconds=150 + 60))
    assert not DONE.started(T0 + timedelta(seconds=150 + 61))  # a person, after the lock was abandoned
    assert not DONE.started(T0 - timedelta(seconds=60))  # before the lock was taken
    assert not DONE.started(None)


def test_not_restorable_after_the_last_try_until_a_known_good_is_marked_again() -> None:
    reverted = replace(DONE, status="reverted", attempt=2, at=T0 + timedelta(minutes=5))
    state = ServiceState(known_good=KnownGood(rev(31), T0, ""), last_rollback=reverted)
    assert state.not_restorable
    assert not replace(state, last_rollback=replace(reverted, attempt=1)).not_restorable
    marked_again = KnownGood(rev(31), T0 + timedelta(minutes=6), "an operator")
    assert not replace(state, known_good=marked_again).not_restorable
    another = KnownGood(rev(30), T0, "")
    assert not replace(state, known_good=another).not_restorable
    # a copy of the known-good restores it too
    copy = replace(reverted, to_arn=rev(40), copied_from=rev(31))
    assert replace(state, last_rollback=copy).not_restorable


def test_told_answers_repeat_only_for_the_same_state_change_action_and_revisions() -> None:
    told = ToldAnswer("RollbackAlarm", "RollbackAlarm|ALARM|t", "paused", rev(34), rev(31), T0)
    assert told.repeats("RollbackAlarm|ALARM|t", "paused", rev(34), rev(31))
    assert not told.repeats("RollbackAlarm|ALARM|t2", "paused", rev(34), rev(31))
    assert not told.repeats("RollbackAlarm|ALARM|t", "superseded", rev(34), rev(31))
    assert not told.repeats("RollbackAlarm|ALARM|t", "paused", rev(35), rev(31))
