"""The state item keeps what the level-triggered rollback needs (a reverted record and its tries, the lock's
holder and deployment, the last failure seen, the answers told) and still reads items written without them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from canary_rollback.core.errors import StateStoreError
from canary_rollback.core.models import FailureSeen, ServiceState, ToldAnswer
from canary_rollback.core.rollback_record import RollbackRecord
from canary_rollback.core.state_codec import item_from_state, state_from_item
from tests.unit.builders import T0, rev

REVERTED = RollbackRecord(
    "r2",
    T0,
    "RollbackAlarm",
    rev(34),
    rev(31),
    "reverted",
    state_change="RollbackAlarm|ALARM|2026-11-26T19:11:00.000+0000",
    lease_until=T0 + timedelta(seconds=150),
    holder="tick",
    attempt=2,
    deployment_id="ecs-svc/123",
    reverted_at=T0 + timedelta(minutes=3),
    reverted_how="the service is back on hokusai-api-development:34",
    via="stop_deployment",
)


def test_the_new_attributes_round_trip() -> None:
    state = ServiceState(
        last_rollback=REVERTED,
        last_failure=FailureSeen(rev(35), T0),
        told=(  # one per alarm, read back in alarm-name order
            ToldAnswer("FastRollbackAlarm", "FastRollbackAlarm|ALARM|t", "no_known_good", rev(34), None, T0),
            ToldAnswer("RollbackAlarm", "RollbackAlarm|ALARM|t", "paused", rev(34), rev(31), T0),
        ),
        version=7,
    )
    assert state_from_item(item_from_state(state)) == state


def test_defaults_are_not_written_so_older_readers_see_the_item_they_know() -> None:
    plain = RollbackRecord("r1", T0, "RollbackAlarm", rev(34), rev(31), "done")
    item = item_from_state(ServiceState(last_rollback=plain))
    assert {"holder", "attempt", "deployment_id", "reverted_at", "via"}.isdisjoint(item["last_rollback"]["M"])
    assert "told" not in item
    assert "last_failure" not in item


def test_an_unknown_holder_is_a_clear_error() -> None:
    item = item_from_state(ServiceState(last_rollback=REVERTED))
    item["last_rollback"]["M"]["holder"] = {"S": "someone"}
    with pytest.raises(StateStoreError, match="holder 'someone'"):
        state_from_item(item)
