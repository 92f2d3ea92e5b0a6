"""The probe failures travel in the state item as their own attribute and survive every writer's round trip."""

from __future__ import annotations

from datetime import timedelta

from canary_rollback.core.evidence import ProbeEvidence
from canary_rollback.core.models import ServiceState
from canary_rollback.core.state_codec import item_from_state, state_from_item
from tests.support.builders import T0


def test_probe_failures_round_trip_as_one_map_per_probe() -> None:
    failure = ProbeEvidence("mlflow-proxy", "https://x/api", "401", "404", "status", T0, T0 - timedelta(seconds=30), 4)
    item = item_from_state(ServiceState(probe_failures=(failure,), version=3))
    assert set(item["probe_failures"]["M"]) == {"mlflow-proxy"}
    assert state_from_item(item).probe_failures == (failure,)


def test_an_item_without_the_attribute_has_no_failures_and_writes_none() -> None:
    assert state_from_item({"version": {"N": "1"}}).probe_failures == ()
    assert "probe_failures" not in item_from_state(ServiceState())
