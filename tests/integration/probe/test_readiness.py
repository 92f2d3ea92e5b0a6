"""Rollback readiness (docs/readiness.md) end to end: the real probe handler on moto, moto's ECR computing each
digest from its manifest, the ECS simulator's tasks reporting the digest they ran."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from canary_rollback.aws.clients import AwsClients
from canary_rollback.aws.state_store import StateStore
from canary_rollback.cli import main as cli
from canary_rollback.core.models import GuardedService, KnownGood, ServiceState
from canary_rollback.handlers import probe as probe_handler
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE, World
from demo.world.ecs_simulator import ImageRegistry
from demo.world.lambda_context import FakeLambdaContext
from demo.world.service import EXECUTION_ROLE
from tests.integration.conftest import alarm_event, break_with_34, make_known_good
from tests.support.ecr import ecr_image, expire, push_image, silent_socket

GUARDED = GuardedService(CLUSTER, SERVICE)
REPOSITORY = "hokusai/api"
INTERVAL = timedelta(seconds=300)  # READINESS_INTERVAL_SECONDS, the template's default


@pytest.fixture
def ecr_world(aws: Any, handlers_reset: None) -> Iterator[World]:
    """Every revision N names `ACCOUNT.dkr.ecr.REGION.amazonaws.com/hokusai/api:build-N`, pushed to moto's ECR;
    the service's tasks report the digest ECR computed for it."""
    from demo.world.services import LoopbackAlb

    digests = {ecr_image(REPOSITORY, f"build-{n}"): push_image(REPOSITORY, f"build-{n}") for n in range(29, 35)}
    with LoopbackAlb() as alb:
        world = World.create(alb, image_for=lambda n: ecr_image(REPOSITORY, f"build-{n}"))
        world.simulator.with_tasks(ImageRegistry(digests))
        yield world
        world.close()


def digest_of(tag: str) -> str:
    response = boto3.client("ecr").describe_images(repositoryName=REPOSITORY, imageIds=[{"imageTag": tag}])
    return str(response["imageDetails"][0]["imageDigest"])


def state_store(world: World) -> StateStore:
    return StateStore(boto3.client("dynamodb"), world.stack.table_name)


def readiness_of(report: dict[str, Any]) -> dict[str, Any]:
    readiness: dict[str, Any] = report["known_good"]["readiness"]
    return readiness


def rollback_ready(world: World, at: datetime) -> float | None:
    """The RollbackReady datapoint published at `at` (the world publishes with PutMetricData), if any."""
    points = boto3.client("cloudwatch").get_metric_statistics(
        Namespace=world.stack.environment("ProbeFunction")["POWERTOOLS_METRICS_NAMESPACE"],
        MetricName="RollbackReady",
        Dimensions=[{"Name": "service", "Value": world.stack.environment("ProbeFunction")["POWERTOOLS_SERVICE_NAME"]}],
        StartTime=at - timedelta(seconds=30),
        EndTime=at + timedelta(seconds=30),
        Period=60,
        Statistics=["Minimum"],
    )["Datapoints"]
    return float(points[0]["Minimum"]) if points else None


def next_due_run(world: World) -> dict[str, Any]:
    """Scheduled runs a minute apart until the readiness check is due again (READINESS_INTERVAL_SECONDS)."""
    checked = state_store(world).load(GUARDED).readiness
    assert checked is not None
    while True:
        world.minute()
        report = world.probe_run()
        if world.clock() >= checked.checked_at + INTERVAL:
            return report
        assert readiness_of(report)["checked_now"] is False  # not due yet: the stored answer, no lookups


def recording_probe_runtime(world: World, calls: list[tuple[str, str]]) -> None:
    runtime = build_runtime(
        world.stack.environment("ProbeFunction"),
        clients=AwsClients(on_call=lambda service, operation, _: calls.append((service, operation))),
        clock=world.clock,
    )
    probe_handler.runtime.set(runtime)


def test_promotion_checks_the_new_known_good_and_finds_it_ready(ecr_world: World) -> None:
    make_known_good(ecr_world)

    record = state_store(ecr_world).load(GUARDED).readiness
    assert record is not None
    assert (record.known_good, record.verdict) == (ecr_world.revisions[31], "ready")
    details = [f.detail for f in record.findings]
    assert f"image {REPOSITORY}@{digest_of('build-31')} is in ECR repository {REPOSITORY}" in details
    assert f"execution role arn:aws:iam::123456789012:role/{EXECUTION_ROLE} exists" in details
    assert rollback_ready(ecr_world, record.checked_at) == 1
    assert ecr_world.stack.notifications() == []  # the first answer being "ready" is nobody's news


def test_expired_digest_is_not_ready_at_the_next_due_check_and_the_notification_names_image_and_digest(
    ecr_world: World,
) -> None:
    # Given :31 known-good and ready, pinned to the digest its tasks ran
    make_known_good(ecr_world)
    digest = digest_of("build-31")

    # When an ECR lifecycle rule expires that digest
    expire(REPOSITORY, digest)
    report = next_due_run(ecr_world)

    # Then the due check says exactly what is missing, everywhere a person looks
    gone = f"image {REPOSITORY}@{digest} no longer in ECR repository {REPOSITORY}"
    readiness = readiness_of(report)
    assert readiness["verdict"] == "not_ready"
    assert readiness["checked_now"] is True
    assert any(missing.startswith(gone) for missing in readiness["missing"])
    assert report["ok"] is True  # the probe run itself is untouched
    assert rollback_ready(ecr_world, ecr_world.clock()) == 0
    (note,) = ecr_world.stack.notifications()
    assert note["subject"].startswith(f"[canary-rollback] hokusai-api: rollback NOT READY: image {REPOSITORY}@sha256:")
    assert gone in note["message"]
    assert "canary-rollback mark-known-good" in note["message"]
    audit = next(r for r in state_store(ecr_world).history(GUARDED, 50) if r["kind"] == "readiness")
    assert (audit["verdict"], audit["previous"]) == ("not_ready", "ready")
    assert any(gone in m for m in audit["missing"])
    out = io.StringIO()
    args = ["status", "--cluster", CLUSTER, "--service", SERVICE, "--table", ecr_world.stack.table_name]
    assert cli(args, out=out) == 0
    assert f"readiness      NOT READY: {gone}" in out.getvalue()

    # and the template's RollbackNotReadyAlarm fires on it, notifying only: nothing routes it to the rollback
    ecr_world.minute()
    change = ecr_world.alarms.evaluate("RollbackNotReadyAlarm", ecr_world.clock())
    assert change is not None
    assert change.state == "ALARM"
    assert ecr_world.delivery.alarm_state_change(change.event) is None

    # and the same answer at the next due check is not told again
    next_due_run(ecr_world)
    assert ecr_world.stack.notifications() == []


def test_restored_digest_is_ready_again(ecr_world: World) -> None:
    make_known_good(ecr_world)
    digest = digest_of("build-31")
    expire(REPOSITORY, digest)
    next_due_run(ecr_world)
    ecr_world.stack.notifications()

    # When the same image is pushed again (the same manifest gives the same digest)
    assert push_image(REPOSITORY, "build-31") == digest
    report = next_due_run(ecr_world)

    # Then
    assert readiness_of(report)["verdict"] == "ready"
    assert rollback_ready(ecr_world, ecr_world.clock()) == 1
    (note,) = ecr_world.stack.notifications()
    assert "rollback ready again (hokusai-api-development:31)" in note["subject"]
    ecr_world.minute()
    change = ecr_world.alarms.evaluate("RollbackNotReadyAlarm", ecr_world.clock())
    assert change is not None
    assert change.state == "OK"


def test_a_second_run_within_the_interval_makes_no_ecr_call(ecr_world: World) -> None:
    make_known_good(ecr_world)  # checked at promotion
    calls: list[tuple[str, str]] = []
    recording_probe_runtime(ecr_world, calls)

    ecr_world.minute()
    assert readiness_of(ecr_world.probe_run())["checked_now"] is False
    assert [c for c in calls if c[0] in ("ecr", "iam")] == []

    next_due_run(ecr_world)
    assert ("ecr", "DescribeImages") in calls
    assert ("iam", "GetRole") in calls


@pytest.mark.parametrize("endpoint", ["refused", "silent"])
def test_unreachable_ecr_leaves_the_probe_run_as_usual_and_readiness_unchecked(
    ecr_world: World, monkeypatch: pytest.MonkeyPatch, refused_port: int, endpoint: str
) -> None:
    with silent_socket() as silent_port:
        port = refused_port if endpoint == "refused" else silent_port
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", f"http://127.0.0.1:{port}")  # the rest stays on moto
        make_known_good(ecr_world, runs=2)
        ecr_world.minute()

        # When the promoting run checks readiness with ECR out of reach (a 12 s Lambda: 7 s of run budget)
        context = FakeLambdaContext("ProbeFunction", timeout_seconds=12)
        event = {"id": "promoting-run", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
        ecr_world.sync_routes()
        report = probe_handler.handler(event, context)
        left = context.get_remaining_time_in_millis() / 1000

    # Then the run answers, promotes and publishes as usual, within its deadline
    assert report["ok"] is True
    assert report["known_good"]["promoted"] is True
    assert left > 5  # the run's own deadline is the invocation's less 5 s: the check stayed inside it
    readiness = readiness_of(report)
    assert readiness["verdict"] == "unchecked"
    assert readiness["unchecked"]
    assert all("ecr" in u.lower() for u in readiness["unchecked"])
    assert rollback_ready(ecr_world, ecr_world.clock()) is None  # neither an all-clear nor an alarm
    assert ecr_world.stack.notifications() == []


def test_deregistered_known_good_without_a_snapshot_is_not_ready_and_named(ecr_world: World) -> None:
    # Given a known-good recorded before snapshots existed, then deregistered by a clean-up job
    ecr_world.simulator.strict_task_definitions()
    store = state_store(ecr_world)
    legacy = KnownGood(ecr_world.revisions[30], ecr_world.clock(), "recorded by an older version")
    store.save(GUARDED, ServiceState(), ServiceState(known_good=legacy), "mark_known_good")
    boto3.client("ecs").deregister_task_definition(taskDefinition=ecr_world.revisions[30])

    # When a scheduled run checks it
    ecr_world.minute()
    report = ecr_world.probe_run()

    # Then
    readiness = readiness_of(report)
    assert readiness["verdict"] == "not_ready"
    assert readiness["missing"] == [
        "known-good hokusai-api-development:30 is no longer ACTIVE (deregistered or deleted) and has no snapshot "
        "to register a copy from"
    ]
    (note,) = ecr_world.stack.notifications()
    assert note["subject"] == (
        "[canary-rollback] hokusai-api: rollback NOT READY: task definition hokusai-api-development:30"
    )
    assert readiness["missing"][0] in note["message"]


def test_deleted_execution_role_is_not_ready_and_named(ecr_world: World) -> None:
    make_known_good(ecr_world)
    boto3.client("iam").delete_role(RoleName=EXECUTION_ROLE)

    report = next_due_run(ecr_world)

    assert readiness_of(report)["missing"] == [
        f"execution role arn:aws:iam::123456789012:role/{EXECUTION_ROLE} no longer exists"
    ]


def test_a_rollback_to_a_known_good_found_not_ready_goes_ahead_and_says_what_the_check_found(
    ecr_world: World,
) -> None:
    # Given :31 found not ready (its digest expired), then :34 breaks the route
    make_known_good(ecr_world)
    digest = digest_of("build-31")
    expire(REPOSITORY, digest)
    next_due_run(ecr_world)
    break_with_34(ecr_world)
    ecr_world.stack.notifications()

    # When the alarm fires
    response = rollback_handler.handler(alarm_event(ecr_world), FakeLambdaContext("RollbackFunction"))

    # Then it still rolls back (the check may be stale), and says what the check found
    assert response["action"] == "rolled_back"
    found = f"found it NOT ready: image {REPOSITORY}@{digest} no longer in ECR repository {REPOSITORY}"
    assert found in response["reason"]
    assert "rolling back anyway" in response["reason"]
    (note,) = [n for n in ecr_world.stack.notifications() if "rolled back to" in n["subject"]]
    assert found in note["message"]


def test_the_world_s_plain_images_are_unchecked_by_design_and_still_ready(world: World) -> None:
    """Images outside a private ECR registry (the incident world's `hokusai/api:build-N`) cannot be looked up:
    reported unchecked with the reason, and they do not make the known-good unready."""
    make_known_good(world)

    record = state_store(world).load(GUARDED).readiness
    assert record is not None
    assert record.verdict == "ready"
    (image,) = [f for f in record.findings if f.subject == "image"]
    assert image.status == "unchecked"
    assert image.detail == "image hokusai/api:build-31 (container api) is not in a private ECR registry: not checked"
    assert json.dumps(record.headline()) == json.dumps("ready (1 not checkable, see below)")
