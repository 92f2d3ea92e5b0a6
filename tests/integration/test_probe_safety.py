"""ProbeFunction under real Lambda semantics: a deadline, rollouts that move mid-run, retried deliveries."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import boto3

from canary_rollback.handlers import probe as probe_handler
from demo.world import CLUSTER, SERVICE
from demo.world.lambda_context import FakeLambdaContext
from tests.conftest import load_event


def run(world: Any, timeout_seconds: int = 60, event_id: str | None = None) -> dict[str, Any]:
    world.sync_routes()
    event = {**load_event("schedule"), "id": event_id or str(uuid.uuid4())}
    response: dict[str, Any] = probe_handler.handler(event, FakeLambdaContext("ProbeFunction", timeout_seconds))
    return response


def failures_published(world: Any) -> list[float]:
    cloudwatch = boto3.client("cloudwatch")
    points = cloudwatch.get_metric_statistics(
        Namespace="CanaryRollback",
        MetricName="ProbeFailures",
        Dimensions=[{"Name": "service", "Value": "canary-rollback"}],
        StartTime=world.clock() - timedelta(minutes=5),
        EndTime=world.clock() + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return [p["Maximum"] for p in points]


def test_a_target_that_hangs_past_the_deadline_is_a_timeout_and_every_metric_is_published(world: Any) -> None:
    # Given the proxy hangs for 6 s and the invocation has 7 s left (5 s are kept for publishing)
    world.alb.routes.mlflow_delay_seconds = 6.0
    world.minute()
    started = time.monotonic()

    # When the probe run executes
    report = run(world, timeout_seconds=7)

    # Then it ends at its deadline, not the target's pleasure, and reports the hang as a failure
    elapsed = time.monotonic() - started
    assert elapsed < 5.0, elapsed
    by_name = {p["name"]: p for p in report["probes"]}
    assert (by_name["mlflow-proxy"]["ok"], by_name["mlflow-proxy"]["reason"]) == (False, "timeout")
    assert by_name["auth-service"]["ok"]
    assert failures_published(world) == [1.0]  # data, never missing data the alarm would read as OK


def test_a_rollout_completing_mid_run_is_not_credited_to_the_new_revision(world: Any) -> None:
    # Given :34 (healthy) is rolling out when a run starts, and completes while the probes are in flight
    world.deploy(34)
    world.minute()
    world.alb.routes.on_request = world.advance_rollout

    report = run(world)

    # Then the run passed, the service is steady on :34 at its end, but nothing was credited
    assert report["ok"]
    assert report["known_good"]["current"] == world.revisions[34]
    assert report["known_good"]["steady"]
    assert report["known_good"]["streak"] == 0
    # and the next run, steady throughout, starts the streak
    world.minute()
    assert run(world)["known_good"]["streak"] == 1


def test_a_service_without_rollout_state_earns_a_known_good(world: Any) -> None:
    # Given ECS reports no rolloutState (as for services behind a Classic Load Balancer)
    service = world.simulator.backend._get_service(CLUSTER, SERVICE)
    for deployment in service.deployments:
        deployment.pop("rolloutState", None)
        deployment.pop("rolloutStateReason", None)
    described = boto3.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert "rolloutState" not in described["deployments"][0]

    # When three runs pass
    reports = []
    for _ in range(3):
        world.minute()
        reports.append(run(world))

    # Then :31 is known-good
    assert reports[-1]["known_good"]["promoted"]
    assert reports[-1]["known_good"]["arn"] == world.revisions[31]


def test_a_retried_delivery_of_a_run_counts_once(world: Any) -> None:
    world.minute()
    first = run(world, event_id="scheduled-event-1")
    world.clock.set(world.clock() + timedelta(seconds=70))  # Lambda's async retry, a minute later
    retried = run(world, event_id="scheduled-event-1")
    assert (first["known_good"]["streak"], retried["known_good"]["streak"]) == (1, 1)
    assert "already counted" in retried["known_good"]["note"]
    world.minute()
    assert run(world)["known_good"]["streak"] == 2


def test_a_scheduled_run_reads_the_state_once_and_writes_it_once(world: Any) -> None:
    from canary_rollback.aws.clients import AwsClients
    from canary_rollback.runtime import build_runtime

    calls: list[str] = []
    clients = AwsClients(on_call=lambda service, operation, _params: calls.append(f"{service}:{operation}"))
    probe_handler.runtime.set(build_runtime(world.stack.function_env, clients=clients, clock=world.clock))
    world.minute()
    assert run(world)["known_good"]["streak"] == 1
    assert (calls.count("dynamodb:GetItem"), calls.count("dynamodb:UpdateItem")) == (1, 1)
    assert calls.count("ecs:DescribeServices") == 2  # before and after the probes
