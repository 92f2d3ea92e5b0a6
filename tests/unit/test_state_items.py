"""The state item's DynamoDB encoding round-trips every field, and items older versions wrote still load."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from canary_rollback.core.errors import StateStoreError
from canary_rollback.core.models import Candidate, KnownGood, PauseFlag, ServiceState, TaskDefinitionSnapshot
from canary_rollback.core.rollback_record import RollbackRecord
from canary_rollback.core.state_codec import item_from_state, state_from_item
from tests.unit.builders import T0, rev

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "state_items"


def test_full_state_round_trips() -> None:
    state = ServiceState(
        known_good=KnownGood(rev(35), T0, "copied", copied_from=rev(31)),
        candidate=Candidate(rev(35), 2, T0 + timedelta(minutes=1)),
        last_rollback=RollbackRecord(
            "abc",
            T0,
            "RollbackAlarm",
            rev(34),
            rev(35),
            "done",
            outcome="recovered",
            recovered_at=T0,
            state_change="RollbackAlarm|ALARM|2026-11-26T19:11:00.000+0000",
            lease_until=T0 + timedelta(seconds=150),
            takeover_of="old",
            copied_from=rev(31),
        ),
        last_run_at=T0 + timedelta(minutes=2),
        last_run_ok=False,
        last_run_id="evt-1",
        paused=PauseFlag("alice", T0, "ALB migration"),
        version=7,
    )
    assert state_from_item(item_from_state(state)) == state


def test_empty_state_round_trips() -> None:
    assert state_from_item(item_from_state(ServiceState())) == ServiceState()


def _fixture(name: str) -> dict[str, Any]:
    item: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return item


def test_an_item_written_by_the_first_release_loads() -> None:
    # Written before leases, lock owners, pause flags and run ids existed.
    state = state_from_item(_fixture("v0.1-rolled-back.json"))
    assert state.known_good is not None
    assert state.known_good.arn.endswith(":31")
    assert state.last_rollback is not None
    assert (state.last_rollback.status, state.last_rollback.state_change, state.last_rollback.lease_until) == (
        "done",
        None,
        None,
    )
    assert (state.paused, state.last_run_id, state.version) == (None, None, 12)


def test_a_pending_lock_from_the_first_release_can_be_taken_over() -> None:
    state = state_from_item(_fixture("v0.1-pending-lock.json"))
    lock = state.last_rollback
    assert lock is not None
    assert lock.claim("RollbackAlarm|ALARM|later", lock.at + timedelta(seconds=151)) == "takeover"


def test_an_item_with_only_a_version_loads() -> None:
    assert state_from_item({"pk": {"S": "service#c/s"}, "sk": {"S": "state"}}) == ServiceState()


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ({"known_good": {"M": {"since": {"S": "2026-11-26T18:30:00+00:00"}}}}, "known_good.arn is missing"),
        ({"candidate": {"M": {"arn": {"S": "a"}}}}, "candidate.since is missing"),
        ({"last_run_at": {"S": "not a time"}}, "last_run_at is not a time"),
        (
            {
                "last_rollback": {
                    "M": {"id": {"S": "x"}, "at": {"S": "2026-11-26T18:30:00+00:00"}, "status": {"S": "done"}}
                }
            },
            "last_rollback.from is missing",
        ),
    ],
)
def test_a_damaged_item_is_a_clear_state_store_error_not_a_key_error(item: dict[str, Any], needle: str) -> None:
    with pytest.raises(StateStoreError, match=needle):
        state_from_item(item)


def test_snapshot_and_the_locks_copy_round_trip() -> None:
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
        last_rollback=RollbackRecord("abc", T0, "RollbackAlarm", rev(34), rev(35), "pending", copied_from=rev(31)),
        version=3,
    )
    item = item_from_state(state)
    assert isinstance(item["known_good"]["M"]["snapshot"]["S"], str)  # one string attribute, see state_store
    assert state_from_item(item) == state


def test_state_written_before_snapshots_existed_still_loads() -> None:
    # Given an item exactly as the version without snapshots wrote it
    item = _fixture("state_item_before_snapshots.json")

    # When it is loaded
    state = state_from_item(item)

    # Then the known-good is there, without a snapshot, and writing it back keeps it readable
    assert state.known_good is not None
    assert state.known_good.arn == rev(31)
    assert state.known_good.snapshot is None
    assert state.last_rollback is not None
    assert state.last_rollback.copied_from is None
    assert state.version == 12
    assert state_from_item(item_from_state(state)) == state
