"""Known-good tracking (docs/design.md) and recovery detection, with no AWS at all."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from canary_rollback.core.models import Deployment, KnownGood, ServiceObservation, ServiceState
from canary_rollback.core.rollback_record import RollbackRecord
from canary_rollback.probe.tracking import track_run, track_watch_round
from tests.support.builders import SERVICE_ARN, T0, rev, rolling, steady


def run_many(state: ServiceState, observations: list[tuple[ServiceObservation, bool]]) -> ServiceState:
    for minute, (service, ok) in enumerate(observations):
        state = track_run(state, service, ok, T0 + timedelta(minutes=minute), 3).state
    return state


def test_steady_requires_one_completed_primary_on_the_service_task_definition_all_running() -> None:
    assert steady(31).steady
    assert not rolling(34, 31).steady
    arn = rev(31)
    short = ServiceObservation(SERVICE_ARN, arn, 2, 1, (Deployment("PRIMARY", arn, "COMPLETED", 1, 2),))
    assert not short.steady
    other = ServiceObservation(SERVICE_ARN, arn, 2, 2, (Deployment("PRIMARY", rev(30), "COMPLETED", 2, 2),))
    assert not other.steady
    failed = ServiceObservation(SERVICE_ARN, arn, 2, 2, (Deployment("PRIMARY", arn, "FAILED", 2, 2),))
    assert not failed.steady


def test_three_passing_runs_on_a_steady_service_promote_its_task_definition() -> None:
    state = ServiceState()
    outcomes = []
    for minute in range(3):
        outcome = track_run(state, steady(31), True, T0 + timedelta(minutes=minute), 3)
        outcomes.append(outcome)
        state = outcome.state
    assert [o.promoted is not None for o in outcomes] == [False, False, True]
    assert state.known_good is not None
    assert state.known_good.arn == rev(31)
    assert state.known_good.since == T0 + timedelta(minutes=2)
    assert state.candidate is not None
    assert state.candidate.streak == 3


def test_a_failed_run_resets_the_streak() -> None:
    state = run_many(ServiceState(), [(steady(31), True), (steady(31), True), (steady(31), False), (steady(31), True)])
    assert state.known_good is None
    assert state.candidate is not None
    assert state.candidate.streak == 1


def test_a_different_task_definition_starts_a_new_streak() -> None:
    state = run_many(ServiceState(), [(steady(31), True), (steady(31), True), (steady(34), True)])
    assert state.candidate is not None
    assert (state.candidate.arn, state.candidate.streak) == (rev(34), 1)
    assert state.known_good is None


def test_never_promotes_during_a_rollout_even_when_probes_pass() -> None:
    state = run_many(ServiceState(), [(rolling(32, 31), True)] * 5)
    assert state.known_good is None
    assert state.candidate is not None
    assert state.candidate.streak == 0


def test_failed_rollouts_of_32_and_33_never_displace_31() -> None:
    runs = [(steady(31), True)] * 3 + [(rolling(32, 31), True), (steady(31), True)] + [(rolling(33, 31), True)]
    runs += [(steady(31), True)] * 3 + [(steady(34), True)] * 2 + [(steady(34), False)]
    state = run_many(ServiceState(), runs)
    assert state.known_good is not None
    assert state.known_good.arn == rev(31)


def test_known_good_is_kept_when_the_new_revision_fails() -> None:
    state = run_many(ServiceState(), [(steady(31), True)] * 3 + [(steady(34), False)] * 4)
    assert state.known_good is not None
    assert state.known_good.arn == rev(31)


def _after_rollback(outcome: str | None = None) -> ServiceState:
    rollback = RollbackRecord("r1", T0, "alarm", rev(34), rev(31), "done", outcome=outcome)
    return ServiceState(known_good=KnownGood(rev(31), T0, "seen"), last_rollback=rollback)


def test_first_all_pass_run_on_the_steady_target_records_recovery_seconds() -> None:
    state = _after_rollback()
    in_flight = track_run(state, rolling(31, 34), True, T0 + timedelta(seconds=30), 3)
    assert in_flight.recovery is None  # not steady yet
    outcome = track_run(in_flight.state, steady(31), True, T0 + timedelta(seconds=75), 3)
    assert outcome.recovery is not None
    assert outcome.recovery.outcome == "recovered"
    assert outcome.recovery.seconds == 75.0
    assert outcome.state.last_rollback is not None
    assert outcome.state.last_rollback.outcome == "recovered"
    again = track_run(outcome.state, steady(31), True, T0 + timedelta(seconds=135), 3)
    assert again.recovery is None  # said once


def test_failing_probes_on_the_steady_target_are_reported_once_as_not_recovered() -> None:
    first = track_run(_after_rollback(), steady(31), False, T0 + timedelta(minutes=1), 3)
    assert first.recovery is not None
    assert first.recovery.outcome == "not_recovered"
    second = track_run(first.state, steady(31), False, T0 + timedelta(minutes=2), 3)
    assert second.recovery is None
    healed = track_run(second.state, steady(31), True, T0 + timedelta(minutes=3), 3)
    assert healed.recovery is not None
    assert healed.recovery.outcome == "recovered"


def test_pending_or_failed_rollbacks_are_not_judged() -> None:
    for status in ("pending", "failed"):
        state = _after_rollback()
        assert state.last_rollback is not None
        state = replace(state, last_rollback=replace(state.last_rollback, status=status))
        assert track_run(state, steady(31), True, T0 + timedelta(minutes=1), 3).recovery is None


def test_without_rollout_state_one_primary_with_nothing_pending_is_steady() -> None:
    # ECS omits rolloutState for some services (Classic Load Balancer): they must still earn a known-good.
    arn = rev(31)
    settled = ServiceObservation(SERVICE_ARN, arn, 2, 2, (Deployment("PRIMARY", arn, None, 2, 2, pending_count=0),))
    starting = ServiceObservation(SERVICE_ARN, arn, 2, 2, (Deployment("PRIMARY", arn, None, 2, 2, pending_count=1),))
    assert settled.steady
    assert not starting.steady
    state = run_many(ServiceState(), [(settled, True)] * 3)
    assert state.known_good is not None
    assert state.known_good.arn == arn


def test_a_rollout_completing_mid_run_is_not_credited() -> None:
    # Given two passes on :31, then :34 rolls out while a run is probing (the old tasks answered the probes)
    state = run_many(ServiceState(), [(steady(31), True), (steady(31), True)])
    outcome = track_run(state, steady(34), True, T0 + timedelta(minutes=5), 3, before=rolling(34, 31))
    # Then the run counts for nobody: :34 starts from zero, :31's streak is gone
    assert outcome.promoted is None
    assert outcome.state.candidate is not None
    assert (outcome.state.candidate.arn, outcome.state.candidate.streak) == (rev(34), 0)
    # and a revision that changed between the two describes is not credited either
    outcome = track_run(state, steady(34), True, T0 + timedelta(minutes=5), 3, before=steady(31))
    assert outcome.state.candidate is not None
    assert outcome.state.candidate.streak == 0


def test_steady_before_and_after_on_the_same_revision_counts() -> None:
    state = run_many(ServiceState(), [(steady(31), True), (steady(31), True)])
    outcome = track_run(state, steady(31), True, T0 + timedelta(minutes=5), 3, before=steady(31))
    assert outcome.promoted is not None
    assert outcome.promoted.arn == rev(31)


def test_a_retried_delivery_of_a_counted_run_counts_once() -> None:
    state = ServiceState()
    first = track_run(state, steady(31), True, T0, 3, run_id="evt-1").state
    again = track_run(first, steady(31), True, T0 + timedelta(seconds=70), 3, run_id="evt-1")
    assert again.state == first
    assert "already counted" in again.note
    third = track_run(first, steady(31), True, T0 + timedelta(minutes=1), 3, run_id="evt-2").state
    assert third.candidate is not None
    assert third.candidate.streak == 2


def test_a_watch_round_across_the_end_of_the_rollbacks_own_rollout_judges_nothing() -> None:
    rollback = RollbackRecord("r1", T0, "alarm", rev(34), rev(31), "done")
    state = ServiceState(known_good=KnownGood(rev(31), T0, "seen"), last_rollback=rollback)
    # the probes may have hit :34's tasks while the rollout of :31 was finishing: no verdict either way
    for ok in (True, False):
        outcome = track_watch_round(state, steady(31), ok, T0 + timedelta(seconds=30), before=rolling(31, 34))
        assert outcome.recovery is None
    judged = track_watch_round(state, steady(31), True, T0 + timedelta(seconds=40), before=steady(31))
    assert judged.recovery is not None
    assert judged.recovery.outcome == "recovered"
