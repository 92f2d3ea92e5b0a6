"""The probe pipeline keeps the failing evidence in the state item, where the rollback reads it."""

from __future__ import annotations

from typing import Any

from canary_rollback.aws.state_store import StateStore
from canary_rollback.core.models import GuardedService
from demo.world import CLUSTER, SERVICE
from tests.support.invoke import PROBE, invoke
from tests.support.world import break_with_34, make_known_good


def _state(world: Any) -> Any:
    import boto3

    return StateStore(boto3.client("dynamodb"), world.stack.table_name).load(GuardedService(CLUSTER, SERVICE))


def test_scheduled_runs_record_what_failed_since_when_and_how_often_and_clear_it_when_it_passes(world: Any) -> None:
    # Given a known-good :31 and the broken :34 live
    make_known_good(world)
    assert _state(world).probe_failures == ()
    break_with_34(world)
    first = _state(world).probe_failures

    # When another scheduled run fails the same way
    world.minute()
    world.probe_run()

    # Then the MLflow route's failure is on record with its numbers, its first time and its count
    (failure,) = _state(world).probe_failures
    assert (failure.probe, failure.expected, failure.got, failure.reason) == ("mlflow-proxy", "401", "404", "status")
    assert failure.url.endswith("/api/mlflow/version")
    assert failure.first_failed_at == first[0].first_failed_at
    assert failure.at > failure.first_failed_at
    assert failure.count == first[0].count + 1

    # And a passing run clears it
    world.broken_route_revisions.clear()
    world.minute()
    world.probe_run()
    assert _state(world).probe_failures == ()


def test_failing_watch_rounds_record_the_evidence_too(world: Any) -> None:
    """The fast alarm reads watch rounds: its rollback must find their evidence, not a scheduled run's."""
    from tests.support.events import load_event

    # Given a known-good and a route that breaks while no rollback is pending
    make_known_good(world)
    world.route_broken_everywhere = True
    world.sync_routes()

    # When a deployment event starts a watch whose rounds all fail
    response = invoke(PROBE, load_event("ecs-deployment-in-progress"))

    # Then every failing round counted on the probe's record
    assert response["action"] == "watched"
    assert response["failed_rounds"] == response["rounds"] > 1
    (failure,) = _state(world).probe_failures
    assert (failure.probe, failure.got, failure.count) == ("mlflow-proxy", "404", response["rounds"])
