"""Lambda containers of RollbackFunction as tests need them: a cold start, one whose invocation dies, and the
deadline of a dead invocation passing."""

from __future__ import annotations

import time
from typing import Any

import boto3

from canary_rollback.aws.clients import AwsClients, OperationHook
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from tests.support.invoke import ROLLBACK


def container_clients(on_call: OperationHook | None = None) -> AwsClients:
    """One container's AWS clients over one boto3 Session, so each service model is parsed once per container:
    `AwsClients()` opens a Session per client, and each costs a cold start tens of milliseconds more."""
    return AwsClients(session=boto3.Session(), on_call=on_call)


class Killed(BaseException):
    """The Lambda sandbox disappearing mid-invocation: no except clause of ours (or powertools') sees it."""


def app_that_dies(world: Any, moment: str) -> RollbackApplication:
    """A container whose invocation dies `before-call` (the lock is written, UpdateService never sent) or
    `after-call` (ECS accepted UpdateService, nothing after it ran)."""
    runtime = build_runtime(
        world.stack.environment(ROLLBACK), need_probes=False, clients=container_clients(), clock=world.clock
    )

    def die(**_: Any) -> None:
        raise Killed

    runtime.clients.ecs.meta.events.register(f"{moment}.ecs.UpdateService", die)
    return RollbackApplication(runtime)


def fresh_container(world: Any, **env: str) -> RollbackApplication:
    """A cold start of RollbackFunction on the world's clock (with `env` over the function's environment),
    installed as the handler's container."""
    runtime = build_runtime(
        {**world.stack.environment(ROLLBACK), **env}, need_probes=False, clients=container_clients(), clock=world.clock
    )
    application = RollbackApplication(runtime)
    rollback_handler.application.set(application)
    return application


def pass_the_deadline_of_unfinished_invocations(world: Any) -> int:
    """As if Lambda's deadline of every unfinished invocation had gone by: powertools Idempotency's in-progress
    markers expire at the invocation's deadline (`in_progress_expiration`, epoch milliseconds, read against the
    real clock, which powertools takes from no other source), so each is moved into the past. Returns how many
    were moved: a test that means to let a deadline pass asserts there was one."""
    dynamodb = boto3.client("dynamodb")
    table = world.stack.table_name
    past = str(int(time.time() * 1000) - 1)
    items = dynamodb.scan(TableName=table, FilterExpression="attribute_exists(in_progress_expiration)")["Items"]
    for item in items:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET in_progress_expiration = :past",
            ExpressionAttributeValues={":past": {"N": past}},
        )
    return len(items)
