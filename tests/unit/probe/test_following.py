"""Probe runs and watch rounds follow a rollback's deployment and keep the evidence against a revision
(docs/design.md): pure tracking, no AWS."""

from __future__ import annotations

from datetime import timedelta

from canary_rollback.core.models import FailureSeen, KnownGood, ServiceState
from canary_rollback.core.rollback_record import RollbackRecord
from canary_rollback.probe.tracking import track_run, track_watch_round
from tests.unit.builders import T0, rev, steady

NOW = T0 + timedelta(minutes=5)
DONE = RollbackRecord("r1", T0, "RollbackAlarm", rev(34), rev(31), "done", lease_until=T0 + timedelta(seconds=150))
STATE = ServiceState(known_good=KnownGood(rev(31), T0, ""), last_rollback=DONE)


def test_a_run_that_finds_the_service_back_on_the_old_revision_records_the_revert() -> None:
    outcome = track_run(STATE, steady(34), False, NOW, 3, target_failed=True)
    assert outcome.recovery is not None
    assert (outcome.recovery.outcome, outcome.recovery.current) == ("reverted", rev(34))
    assert outcome.state.last_rollback is not None
    assert (outcome.state.last_rollback.status, outcome.state.last_rollback.reverted_at) == ("reverted", NOW)


def test_a_watch_round_records_the_revert_too() -> None:
    outcome = track_watch_round(STATE, steady(34), False, NOW)
    assert outcome.recovery is not None
    assert outcome.recovery.outcome == "reverted"


def test_a_failed_run_or_round_is_evidence_against_the_revision_the_service_runs() -> None:
    assert track_run(ServiceState(), steady(35), False, NOW, 3, target_failed=True).state.last_failure == FailureSeen(
        rev(35), NOW
    )
    assert track_watch_round(ServiceState(), steady(35), False, NOW, target_failed=True).state.last_failure == (
        FailureSeen(rev(35), NOW)
    )
    earlier = ServiceState(last_failure=FailureSeen(rev(34), T0))
    assert track_run(earlier, steady(35), True, NOW, 3).state.last_failure == FailureSeen(rev(34), T0)
