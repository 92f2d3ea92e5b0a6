"""Writers never erase what they do not own (docs/design.md, "State items"): an attribute of the state item that
this version does not know (a newer version wrote it) survives every writer, and so does an unknown member of the
known-good for every writer that keeps the known-good (an older `pause` once erased `known_good.snapshot`)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from canary_rollback.cli import main
from canary_rollback.handlers import hook as hook_handler
from canary_rollback.handlers import probe as probe_handler
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE
from demo.world.lambda_context import FakeLambdaContext
from tests.conftest import load_event
from tests.integration.conftest import alarm_event, break_with_34, make_known_good

NEWER = {"S": "written by a newer version"}


def state_item(world: Any) -> dict[str, Any]:
    key = {"pk": {"S": f"service#{CLUSTER}/{SERVICE}"}, "sk": {"S": "state"}}
    item: dict[str, Any] = boto3.client("dynamodb").get_item(
        TableName=world.stack.table_name, Key=key, ConsistentRead=True
    )["Item"]
    return item


def plant(world: Any) -> int:
    """What a newer version wrote: a top-level attribute and a member of the known-good. Returns the version."""
    boto3.client("dynamodb").update_item(
        TableName=world.stack.table_name,
        Key={"pk": {"S": f"service#{CLUSTER}/{SERVICE}"}, "sk": {"S": "state"}},
        UpdateExpression="SET newer_attribute = :newer, known_good.newer_member = :newer",
        ExpressionAttributeValues={":newer": NEWER},
    )
    return int(state_item(world)["version"]["N"])


def cli(world: Any, *argv: str) -> None:
    flags = ["--cluster", CLUSTER, "--service", SERVICE, "--table", world.stack.table_name]
    assert main([argv[0], *flags, *argv[1:]], out=io.StringIO()) == 0


def scheduled_run(world: Any) -> None:
    world.minute()
    world.probe_run()


def failing_watch_round(world: Any) -> None:
    # The candidate (:31, streak 3) fails a round: its streak is reset by the round's own write
    runtime = build_runtime({**world.stack.function_env, "WATCH_SECONDS": "10"}, clock=world.clock)
    runtime.monotonic, runtime.sleep = world.timer.monotonic, world.timer.sleep
    probe_handler.runtime.set(runtime)
    world.alb.routes.mlflow_routed = False
    watch = probe_handler.handler(load_event("ecs-deployment-in-progress"), FakeLambdaContext("ProbeFunction", 420))
    assert watch["failed_rounds"] >= 1


def rollback(world: Any) -> None:
    assert rollback_handler.handler(alarm_event(world), FakeLambdaContext("RollbackFunction"))["action"] == (
        "rolled_back"
    )


def hook(world: Any) -> None:
    probes = json.loads(world.stack.function_env["PROBES"])
    probes[0]["test_url"] = probes[0]["url"]
    hook_handler.runtime.set(build_runtime({**world.stack.function_env, "PROBES": json.dumps(probes)}))
    answer = hook_handler.handler(load_event("hook-post-test-traffic-shift"), FakeLambdaContext("DeploymentHook"))
    assert answer["hookStatus"] == "IN_PROGRESS"
    hook_handler.runtime.set(None)


def pause(world: Any) -> None:
    cli(world, "pause", "--reason", "ALB migration")


def resume(world: Any) -> None:
    cli(world, "resume")


def mark_known_good(world: Any) -> None:
    cli(world, "mark-known-good", "hokusai-api-development:30", "--allow-unpinned")


# (writer, whether it writes the state item, whether it keeps the known-good it found)
WRITERS: list[tuple[Callable[[Any], None], bool, bool]] = [
    (scheduled_run, True, True),
    (failing_watch_round, True, True),  # resets the streak, records the failure
    (rollback, True, True),  # the lock, done, what was told; :31 is deployed as it is (not pinned): it stays
    (hook, False, True),  # reads the pause flag and audits: never writes the state item
    (pause, True, True),
    (resume, True, True),
    (mark_known_good, True, False),  # a new known-good: the old one's members are not the new one's
]


@pytest.mark.parametrize(("writer", "writes", "keeps_known_good"), WRITERS, ids=[w.__name__ for w, _, _ in WRITERS])
def test_an_attribute_written_by_a_newer_version_survives_the_writer(
    world: Any, writer: Callable[[Any], None], writes: bool, keeps_known_good: bool
) -> None:
    # Given a known-good :31, the alarm's world when the writer is the rollback, a pause to resume
    make_known_good(world)
    if writer is rollback:
        break_with_34(world)
    if writer is resume:
        pause(world)
    version = plant(world)

    # When the writer writes
    writer(world)

    # Then it wrote (a new version), and what it does not own is still there
    item = state_item(world)
    assert (int(item["version"]["N"]) > version) == writes
    assert item["newer_attribute"] == NEWER
    if keeps_known_good:
        assert item["known_good"]["M"]["newer_member"] == NEWER
        assert "snapshot" in item["known_good"]["M"]
    else:
        assert "newer_member" not in item["known_good"]["M"]
