"""Known-good means N consecutive all-pass scheduled runs with no failure seen in between: a failed watch round on
the candidate revision resets its streak (docs/design.md, "Probe run")."""

from __future__ import annotations

from datetime import timedelta

from canary_rollback.core.models import Candidate, ServiceState
from canary_rollback.probe.tracking import streak_to_reset, track_run, track_watch_round
from tests.unit.builders import T0, rev, rolling, steady


def test_pass_failed_round_pass_pass_is_not_promoted() -> None:
    # Given a scheduled pass on :34
    state = track_run(ServiceState(), steady(34), True, T0, 3).state
    # When a watch round fails on :34 in between, and two more scheduled runs pass
    state = track_watch_round(state, steady(34), False, T0 + timedelta(seconds=30), before=steady(34)).state
    assert state.candidate is not None
    assert (state.candidate.arn, state.candidate.streak) == (rev(34), 0)
    second = track_run(state, steady(34), True, T0 + timedelta(minutes=1), 3)
    third = track_run(second.state, steady(34), True, T0 + timedelta(minutes=2), 3)
    # Then the run that would have been the third pass in a row does not promote: the streak started again
    assert (second.promoted, third.promoted) == (None, None)
    assert third.state.known_good is None
    assert third.state.candidate is not None
    assert third.state.candidate.streak == 2
    # and one more pass promotes it
    assert track_run(third.state, steady(34), True, T0 + timedelta(minutes=3), 3).promoted is not None


def test_a_failed_round_during_a_rollout_of_the_candidate_resets_it() -> None:
    # :34 is being replaced by :35: either may have answered the failing request
    state = ServiceState(candidate=Candidate(rev(34), 2, T0))
    outcome = track_watch_round(state, rolling(35, 34), False, T0 + timedelta(seconds=10))
    assert outcome.state.candidate == Candidate(rev(34), 0, T0 + timedelta(seconds=10))
    assert outcome.note == "watch round failed on the candidate: streak reset"


def test_a_passing_round_or_a_failure_on_another_revision_leaves_the_streak() -> None:
    state = ServiceState(candidate=Candidate(rev(34), 2, T0))
    assert track_watch_round(state, steady(34), True, T0, before=steady(34)).state == state
    # the service runs :31 throughout (the candidate is not serving): not the candidate's failure
    assert track_watch_round(state, steady(31), False, T0, before=steady(31)).state == state


def test_a_round_writes_the_state_only_after_a_failure_with_a_streak_to_reset() -> None:
    with_streak = ServiceState(candidate=Candidate(rev(34), 2, T0))
    assert streak_to_reset(with_streak, run_ok=False)
    assert not streak_to_reset(with_streak, run_ok=True)
    assert not streak_to_reset(ServiceState(candidate=Candidate(rev(34), 0, T0)), run_ok=False)
    assert not streak_to_reset(ServiceState(), run_ok=False)
