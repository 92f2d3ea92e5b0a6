"""The state item's DynamoDB encoding round-trips every field."""

from __future__ import annotations

from datetime import timedelta

from canary_rollback.aws.state_store import item_from_state, state_from_item
from canary_rollback.models import Candidate, KnownGood, RollbackRecord, ServiceState
from tests.unit.builders import T0, rev


def test_full_state_round_trips() -> None:
    state = ServiceState(
        known_good=KnownGood(rev(35), T0, "copied", copied_from=rev(31)),
        candidate=Candidate(rev(35), 2, T0 + timedelta(minutes=1)),
        last_rollback=RollbackRecord(
            "abc", T0, "RollbackAlarm", rev(34), rev(35), "done", outcome="recovered", recovered_at=T0
        ),
        last_run_at=T0 + timedelta(minutes=2),
        last_run_ok=False,
        version=7,
    )
    assert state_from_item(item_from_state(state)) == state


def test_empty_state_round_trips() -> None:
    assert state_from_item(item_from_state(ServiceState())) == ServiceState()
