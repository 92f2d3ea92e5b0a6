"""A pinned copy is reused only by the rollback that registered it, and only while ECS will deploy it
(docs/design.md, "What a rollback restores"): moto with the ECS simulator, tags that move, revisions that go."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from canary_rollback.aws.state_store import StateStore
from canary_rollback.core.errors import EcsError
from canary_rollback.core.models import GuardedService
from canary_rollback.handlers import rollback as rollback_handler
from demo.world import CLUSTER, FAMILY, SERVICE, World
from demo.world.ecs_simulator import ImageRegistry, fake_digest
from demo.world.lambda_context import FakeLambdaContext
from tests.integration.conftest import alarm_event, break_with_34, make_known_good

GUARDED = GuardedService(CLUSTER, SERVICE)
GOOD = fake_digest("api built from main on Monday")
BAD = fake_digest("api built from main with the routing change")


@pytest.fixture
def world(aws: Any, handlers_reset: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Every revision names `hokusai/api:main`; tasks report digests; :31 seen healthy on GOOD, then the tag moved
    to BAD and :34 went live with it."""
    from demo.world.services import LoopbackAlb

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # a refused UpdateService fails the attempt sooner
    registry = ImageRegistry({"hokusai/api:main": GOOD})
    with LoopbackAlb() as alb:
        created = World.create(alb, image_for=lambda _: "hokusai/api:main")
        created.simulator.with_tasks(registry)
        created.broken_digests.add(BAD)
        make_known_good(created)
        registry.push("hokusai/api:main", BAD)
        break_with_34(created)
        yield created
        created.close()


def invoke(event: Any) -> dict[str, Any]:
    response: dict[str, Any] = rollback_handler.handler(event, FakeLambdaContext("RollbackFunction"))
    return response


def a_first_attempt_registers_a_copy_then_update_service_fails(world: World) -> str:
    world.simulator.throttle_updates(lambda: True)
    with pytest.raises(EcsError, match="ThrottlingException"):
        invoke(alarm_event(world))
    world.simulator.throttle_updates(None)
    lock = StateStore(boto3.client("dynamodb"), world.stack.table_name).load(GUARDED).last_rollback
    assert lock is not None
    assert (lock.status, lock.copied_from) == ("failed", world.revisions[31])
    return lock.to_arn


def task_definition(arn: str) -> dict[str, Any]:
    described: dict[str, Any] = boto3.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return described


def test_a_later_rollback_replaces_a_deregistered_failed_copy_with_a_fresh_active_copy(world: World) -> None:
    # Given a failed rollback whose pinned copy was then deregistered (a clean-up job)
    failed_copy = a_first_attempt_registers_a_copy_then_update_service_fails(world)
    boto3.client("ecs").deregister_task_definition(taskDefinition=failed_copy)

    # When a later alarm state change rolls back
    world.minute()
    response = invoke(alarm_event(world))

    # Then it registered a fresh copy from the known-good's snapshot: ACTIVE, the same digest pinned
    assert response["action"] == "rolled_back"
    fresh = response["target"]
    assert fresh not in (failed_copy, world.revisions[31])
    assert task_definition(fresh)["status"] == "ACTIVE"
    assert task_definition(fresh)["family"] == FAMILY
    assert (
        task_definition(fresh)["containerDefinitions"][0]["image"]
        == task_definition(failed_copy)["containerDefinitions"][0]["image"]
        == f"hokusai/api@{GOOD}"
    )
    assert world.current_revision() == fresh


def test_a_later_rollback_plans_afresh_even_while_the_failed_copy_is_active(world: World) -> None:
    failed_copy = a_first_attempt_registers_a_copy_then_update_service_fails(world)
    world.minute()
    response = invoke(alarm_event(world))
    assert response["action"] == "rolled_back"
    assert response["target"] != failed_copy
    assert task_definition(response["target"])["containerDefinitions"][0]["image"] == f"hokusai/api@{GOOD}"


def test_its_own_retry_reuses_the_copy_only_while_it_is_active(world: World) -> None:
    # Given the first attempt's copy, deregistered before the same state change is retried
    failed_copy = a_first_attempt_registers_a_copy_then_update_service_fails(world)
    boto3.client("ecs").deregister_task_definition(taskDefinition=failed_copy)

    # When Lambda retries that state change (same stamp: the clock has not moved)
    response = invoke(alarm_event(world))

    # Then it does not deploy the INACTIVE copy: a fresh one, pinned the same
    assert response["action"] == "rolled_back"
    assert response["target"] != failed_copy
    assert task_definition(response["target"])["status"] == "ACTIVE"
    assert task_definition(response["target"])["containerDefinitions"][0]["image"] == f"hokusai/api@{GOOD}"
