"""The state item's DynamoDB encoding round-trips every field."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from canary_rollback.aws.state_store import item_from_state, state_from_item
from canary_rollback.models import Candidate, KnownGood, RollbackRecord, ServiceState, TaskDefinitionSnapshot
from tests.unit.builders import T0, rev

FIXTURES = Path(__file__).parent / "fixtures"


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


def test_snapshot_and_copy_arn_round_trip() -> None:
    snapshot = TaskDefinitionSnapshot(
        definition={
            "family": "hokusai-api-development",
            "containerDefinitions": [
                {"name": "api", "image": "hokusai/api:main", "portMappings": [{"containerPort": 8001}]}
            ],
            "cpu": "256",
        },
        tags=(("team", "hokusai"),),
        digests={"api": "sha256:" + "a" * 64},
    )
    state = ServiceState(
        known_good=KnownGood(rev(31), T0, "seen healthy", snapshot=snapshot),
        last_rollback=RollbackRecord("abc", T0, "RollbackAlarm", rev(34), rev(31), "pending", copy_arn=rev(35)),
        version=3,
    )
    item = item_from_state(state)
    assert isinstance(item["known_good"]["M"]["snapshot"]["S"], str)  # one string attribute, see state_store
    assert state_from_item(item) == state


def test_state_written_before_snapshots_existed_still_loads() -> None:
    # Given an item exactly as the version without snapshots wrote it
    item = json.loads((FIXTURES / "state_item_before_snapshots.json").read_text())

    # When it is loaded
    state = state_from_item(item)

    # Then the known-good is there, without a snapshot, and writing it back keeps it readable
    assert state.known_good is not None
    assert state.known_good.arn == rev(31)
    assert state.known_good.snapshot is None
    assert state.last_rollback is not None
    assert state.last_rollback.copy_arn is None
    assert state.version == 12
    assert state_from_item(item_from_state(state)) == state
