"""Helpers for the level-triggered rollback: firing an alarm on the world's clock, ticking, reading the trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import boto3
import pytest

from canary_rollback.aws.clients import AwsClients
from canary_rollback.aws.state_store import StateStore
from canary_rollback.core.models import GuardedService, ServiceState
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE
from demo.world.lambda_context import FakeLambdaContext
from demo.world.local_aws import ACCOUNT, REGION
from tests.integration.conftest import break_with_34, make_known_good

GUARDED = GuardedService(CLUSTER, SERVICE)


class Killed(BaseException):
    """The Lambda sandbox disappearing mid-invocation: no except clause of ours (or powertools') sees it."""


def fire(world: Any, logical_id: str = "RollbackAlarm", at: datetime | None = None) -> None:
    """Put one of the stack's alarms in ALARM, its state change stamped on the world's clock (moto stamps the
    wall clock; CloudWatch stamps the moment the state changed)."""
    from moto.cloudwatch.models import cloudwatch_backends

    name = world.stack.alarm_names[logical_id]
    boto3.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test: firing")
    cloudwatch_backends[ACCOUNT][REGION].alarms[name].state_updated_timestamp = at or world.clock()


def settle_alarm(world: Any, logical_id: str = "RollbackAlarm") -> None:
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=world.stack.alarm_names[logical_id], StateValue="OK", StateReason="test: recovered"
    )


def schedule_event(world: Any) -> dict[str, Any]:
    """The EventBridge Scheduled Event of RollbackFunction's one-minute schedule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": world.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/canary-rollback-RollbackFunctionTick"],
        "detail": {},
    }


def tick(world: Any) -> dict[str, Any]:
    response: dict[str, Any] = rollback_handler.handler(schedule_event(world), FakeLambdaContext("RollbackFunction"))
    return response


def invoke(event: Any, timeout_seconds: int = 120) -> dict[str, Any]:
    response: dict[str, Any] = rollback_handler.handler(event, FakeLambdaContext("RollbackFunction", timeout_seconds))
    return response


def store(world: Any) -> StateStore:
    return StateStore(boto3.client("dynamodb"), world.stack.table_name)


def state(world: Any) -> ServiceState:
    return store(world).load(GUARDED)


def trail(world: Any, kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The audit trail oldest first (promotions left out), optionally only some kinds."""
    records = [r for r in reversed(store(world).history(GUARDED, 100)) if r["kind"] != "promotion"]
    return [r for r in records if not kinds or r["kind"] in kinds]


def decisions(world: Any) -> list[str]:
    return [r["action"] for r in trail(world, ("decision",))]


def subjects(world: Any) -> list[str]:
    return [n["subject"].removeprefix("[canary-rollback] hokusai-api: ") for n in world.stack.notifications()]


def updates_to(world: Any, revision: int) -> int:
    return sum(1 for _, td in world.simulator.update_calls if td == world.revisions[revision])


def app_that_dies_before_update_service(world: Any) -> RollbackApplication:
    """A container whose invocation dies after taking the lock, before UpdateService reaches ECS."""
    runtime = build_runtime(
        world.stack.environment("RollbackFunction"), need_probes=False, clients=AwsClients(), clock=world.clock
    )

    def die(**_: Any) -> None:
        raise Killed

    runtime.clients.ecs.meta.events.register("before-call.ecs.UpdateService", die)
    return RollbackApplication(runtime)


def fresh_container(world: Any) -> None:
    runtime = build_runtime(world.stack.environment("RollbackFunction"), need_probes=False, clock=world.clock)
    rollback_handler.application.set(RollbackApplication(runtime))


@pytest.fixture
def broken(world: Any) -> Any:
    """:31 seen healthy, :32 and :33 failed rollouts, :34 live with the MLflow route broken; an empty inbox."""
    make_known_good(world)
    break_with_34(world)
    world.stack.notifications()
    return world
