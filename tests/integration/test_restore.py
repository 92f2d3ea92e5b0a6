"""Restore what was seen healthy (README "How decisions are made"), end to end on moto with the ECS simulator:
tasks report the image digests ECS resolved at deployment start, tags move, old revisions go INACTIVE or away."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from canary_rollback.aws.state_store import StateStore
from canary_rollback.core.errors import EcsError
from canary_rollback.core.models import GuardedService
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, FAMILY, SERVICE, World
from demo.world.ecs_simulator import ImageRegistry, fake_digest
from demo.world.lambda_context import FakeLambdaContext
from tests.integration.conftest import alarm_event, break_with_34, make_known_good

GUARDED = GuardedService(CLUSTER, SERVICE)
FIXTURES = Path(__file__).parent.parent / "fixtures" / "state_items"
GOOD = fake_digest("api built from main on Monday")
BAD = fake_digest("api built from main with the routing change")
OTHER = fake_digest("api built from main on Tuesday")


def invoke(event: Any) -> dict[str, Any]:
    response: dict[str, Any] = rollback_handler.handler(event, FakeLambdaContext("RollbackFunction"))
    return response


def store(world: World) -> StateStore:
    return StateStore(boto3.client("dynamodb"), world.stack.table_name)


def revisions_of_family() -> list[str]:
    return boto3.client("ecs").list_task_definitions(familyPrefix=FAMILY, status="ACTIVE")["taskDefinitionArns"]


def image_of(arn: str) -> str:
    definition = boto3.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return str(definition["containerDefinitions"][0]["image"])


@pytest.fixture
def registry() -> ImageRegistry:
    return ImageRegistry({"hokusai/api:main": GOOD})


def _world(registry: ImageRegistry, image: str) -> Iterator[World]:
    from demo.world.services import LoopbackAlb

    with LoopbackAlb() as alb:
        world = World.create(alb, image_for=lambda _: image)
        world.simulator.with_tasks(registry)
        world.broken_digests.add(BAD)
        yield world
        world.close()


@pytest.fixture
def tag_world(aws: Any, handlers_reset: None, registry: ImageRegistry) -> Iterator[World]:
    """Every revision names `hokusai/api:main` (the mutable-tag set-up); tasks report digests."""
    yield from _world(registry, "hokusai/api:main")


@pytest.fixture
def pinned_world(aws: Any, handlers_reset: None, registry: ImageRegistry) -> Iterator[World]:
    """Every revision already names its image by digest."""
    yield from _world(registry, f"hokusai/api@{GOOD}")


def move_tag_and_break(world: World, registry: ImageRegistry) -> None:
    """CI pushes the broken build to `main` and deploys :34, which names the same tag."""
    registry.push("hokusai/api:main", BAD)
    break_with_34(world)
    assert world.simulator.serving_digests(CLUSTER, SERVICE) == {BAD}


def test_promotion_records_the_registrable_definition_and_the_digest_the_tasks_ran(tag_world: World) -> None:
    make_known_good(tag_world)
    known_good = store(tag_world).load(GUARDED).known_good
    assert known_good is not None
    assert known_good.arn == tag_world.revisions[31]
    assert known_good.snapshot is not None
    assert known_good.snapshot.digests == {"api": GOOD}
    definition = known_good.snapshot.definition
    assert definition["family"] == FAMILY
    assert definition["containerDefinitions"][0]["image"] == "hokusai/api:main"
    assert (definition["cpu"], definition["networkMode"], definition["requiresCompatibilities"]) == (
        "256", "awsvpc", ["FARGATE"],
    )  # fmt: skip
    assert GOOD in known_good.reason


def test_tag_moved_rollback_deploys_the_recorded_digest(tag_world: World, registry: ImageRegistry) -> None:
    # Given :31 seen healthy on GOOD, then `main` moved to BAD and :34 deployed
    make_known_good(tag_world)
    move_tag_and_break(tag_world, registry)

    # When the alarm fires
    response = invoke(alarm_event(tag_world))

    # Then a copy of :31 pinned to GOOD is registered and deployed, and its tasks run GOOD again
    assert response["action"] == "rolled_back"
    copy_arn = response["target"]
    assert copy_arn == tag_world.revisions[31].replace(":31", ":35")
    assert image_of(copy_arn) == f"hokusai/api@{GOOD}"
    tags = boto3.client("ecs").describe_task_definition(taskDefinition=copy_arn, include=["TAGS"])["tags"]
    assert {"key": "canary-rollback:copied-from", "value": tag_world.revisions[31]} in tags
    assert f"api hokusai/api:main -> {GOOD}" in response["reason"]
    tag_world.minute()
    tag_world.advance_rollout()
    assert tag_world.simulator.serving_digests(CLUSTER, SERVICE) == {GOOD}
    assert tag_world.probe_run()["ok"]
    # the copy is the known-good now, with its own snapshot: the next rollback deploys it as it is
    known_good = store(tag_world).load(GUARDED).known_good
    assert known_good is not None
    assert (known_good.arn, known_good.copied_from) == (copy_arn, tag_world.revisions[31])
    assert known_good.snapshot is not None
    assert known_good.snapshot.definition["containerDefinitions"][0]["image"] == f"hokusai/api@{GOOD}"
    # the notification names the pinned image and its digest
    (note,) = [n for n in tag_world.stack.notifications() if "rolled back to" in n["subject"]]
    assert f"api hokusai/api:main -> {GOOD}" in note["message"]


def test_already_pinned_and_active_is_deployed_as_it_is(pinned_world: World, registry: ImageRegistry) -> None:
    make_known_good(pinned_world)
    registry.push("hokusai/api:main", BAD)  # irrelevant: nothing names the tag
    break_with_34(pinned_world)
    before = revisions_of_family()

    response = invoke(alarm_event(pinned_world))

    assert (response["action"], response["target"]) == ("rolled_back", pinned_world.revisions[31])
    assert "deploying hokusai-api-development:31 as it is" in response["reason"]
    assert revisions_of_family() == before  # no copy registered


@pytest.mark.parametrize("gone", ["inactive", "deleted"])
def test_inactive_unreferenced_or_deleted_known_good_is_restored_from_the_snapshot(
    tag_world: World, registry: ImageRegistry, gone: str
) -> None:
    # Given real ECS's rule: an INACTIVE revision is describable only while referenced; a deleted one never
    tag_world.simulator.strict_task_definitions()
    make_known_good(tag_world)
    move_tag_and_break(tag_world, registry)
    ecs = boto3.client("ecs")
    ecs.deregister_task_definition(taskDefinition=tag_world.revisions[31])  # as CloudFormation does
    if gone == "deleted":
        ecs.delete_task_definitions(taskDefinitions=[tag_world.revisions[31]])
    with pytest.raises(ecs.exceptions.ClientException):
        ecs.describe_task_definition(taskDefinition=tag_world.revisions[31])

    # When the alarm fires
    response = invoke(alarm_event(tag_world))

    # Then the copy comes from the snapshot alone
    assert response["action"] == "rolled_back"
    assert "no longer ACTIVE (INACTIVE or deleted)" in response["reason"]
    assert image_of(response["target"]) == f"hokusai/api@{GOOD}"
    assert tag_world.current_revision() == response["target"]


def test_pin_image_digests_false_keeps_the_tag(tag_world: World, registry: ImageRegistry) -> None:
    env = {**tag_world.stack.function_env, "PIN_IMAGE_DIGESTS": "false"}
    rollback_handler.application.set(RollbackApplication(build_runtime(env, need_probes=False, clock=tag_world.clock)))
    make_known_good(tag_world)
    move_tag_and_break(tag_world, registry)
    before = revisions_of_family()

    response = invoke(alarm_event(tag_world))

    # Then :31 itself is deployed, its tag resolved again by ECS: the broken image (what pinning prevents)
    assert (response["action"], response["target"]) == ("rolled_back", tag_world.revisions[31])
    assert "images not pinned (PIN_IMAGE_DIGESTS=false): api hokusai/api:main" in response["reason"]
    assert revisions_of_family() == before
    tag_world.minute()
    tag_world.advance_rollout()
    assert tag_world.simulator.serving_digests(CLUSTER, SERVICE) == {BAD}


def test_pin_image_digests_false_still_copies_a_deregistered_known_good(
    tag_world: World, registry: ImageRegistry
) -> None:
    env = {**tag_world.stack.function_env, "PIN_IMAGE_DIGESTS": "false"}
    rollback_handler.application.set(RollbackApplication(build_runtime(env, need_probes=False, clock=tag_world.clock)))
    tag_world.simulator.strict_task_definitions()
    make_known_good(tag_world)
    move_tag_and_break(tag_world, registry)
    boto3.client("ecs").deregister_task_definition(taskDefinition=tag_world.revisions[31])

    response = invoke(alarm_event(tag_world))

    assert response["action"] == "rolled_back"
    assert image_of(response["target"]) == "hokusai/api:main"


def test_a_retried_rollback_registers_one_revision(
    tag_world: World, registry: ImageRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # "throttled past retries" sooner than botocore's 5 attempts
    make_known_good(tag_world)
    move_tag_and_break(tag_world, registry)
    before = revisions_of_family()

    # Given a first attempt that registered the copy, then failed at UpdateService
    tag_world.simulator.throttle_updates(lambda: True)
    with pytest.raises(EcsError, match="ThrottlingException"):
        invoke(alarm_event(tag_world))
    state = store(tag_world).load(GUARDED)
    assert state.last_rollback is not None
    assert state.last_rollback.status == "failed"
    copy_arn = state.last_rollback.to_arn
    assert state.last_rollback.copied_from == tag_world.revisions[31]  # the copy, recorded with the lock

    # When it is retried (and a second alarm state change arrives after that)
    tag_world.simulator.throttle_updates(None)
    response = invoke(alarm_event(tag_world))

    # Then the same copy is deployed; one revision was registered in all
    assert (response["action"], response["target"]) == ("rolled_back", copy_arn)
    assert revisions_of_family() == [*before, copy_arn]
    tag_world.minute()
    tag_world.advance_rollout()
    assert invoke(alarm_event(tag_world))["action"] == "in_progress"  # ours, no verdict yet
    assert revisions_of_family() == [*before, copy_arn]


def test_disagreeing_digests_are_not_promoted(tag_world: World, json_logs: list[dict[str, Any]]) -> None:
    # Given two tasks of :31 that ran different images (one started after the tag moved)
    tasks = tag_world.simulator.service_tasks(CLUSTER, SERVICE)
    tasks[1].containers[0]["imageDigest"] = OTHER  # a build that answers the probes just as well

    # When the runs that would promote it happen
    make_known_good(tag_world)

    # Then :31 is not promoted, and the log says why
    state = store(tag_world).load(GUARDED)
    assert state.known_good is None
    assert state.candidate is not None
    assert state.candidate.streak == 3
    notes = [line for line in json_logs if line.get("message") == "known-good not promoted"]
    assert notes
    assert "disagree" in notes[-1]["reason"]

    # Once the tasks agree, the next run promotes it
    tasks[1].containers[0]["imageDigest"] = GOOD
    make_known_good(tag_world, runs=1)
    known_good = store(tag_world).load(GUARDED).known_good
    assert known_good is not None
    assert known_good.snapshot is not None
    assert known_good.snapshot.digests == {"api": GOOD}


@pytest.mark.parametrize("deregistered", [False, True])
def test_a_known_good_recorded_before_snapshots_still_rolls_back(world: World, deregistered: bool) -> None:
    # Given the state item exactly as the version before snapshots wrote it (known-good :31, no snapshot)
    break_with_34(world)
    item = json.loads((FIXTURES / "state_item_before_snapshots.json").read_text())
    boto3.client("dynamodb").put_item(TableName=world.stack.table_name, Item=item)
    if deregistered:
        boto3.client("ecs").deregister_task_definition(taskDefinition=world.revisions[31])

    response = invoke(alarm_event(world))

    assert response["action"] == "rolled_back"
    if deregistered:  # copied from a describe of the revision: the one case that still needs it
        assert image_of(response["target"]) == "hokusai/api:build-31"
        assert response["target"] != world.revisions[31]
        assert "registering a copy of hokusai-api-development:31" in response["reason"]
        assert f"as {response['target'].rsplit('/', 1)[-1]} from its snapshot" in response["reason"]  # the copy
    else:
        assert response["target"] == world.revisions[31]
        assert "deploying hokusai-api-development:31 as it is" in response["reason"]
    assert world.current_revision() == response["target"]


# ---- operate: the CLI shows and records snapshots ------------------------------------------------------


def cli(world: World, *argv: str) -> tuple[int, str]:
    from canary_rollback.cli import main

    out = io.StringIO()
    flags = ["--cluster", CLUSTER, "--service", SERVICE, "--table", world.stack.table_name]
    return main([argv[0], *flags, *argv[1:]], out=out), out.getvalue()


def test_status_shows_the_known_goods_images_with_their_digests(tag_world: World) -> None:
    make_known_good(tag_world)
    code, text = cli(tag_world, "status")
    assert code == 0
    assert f"  api          hokusai/api:main  @ {GOOD}" in text
    from canary_rollback.cli import main

    out = io.StringIO()
    main(["--json", "status", "--cluster", CLUSTER, "--service", SERVICE, "--table", tag_world.stack.table_name], out)
    images = json.loads(out.getvalue())["known_good"]["images"]
    assert images == [{"container": "api", "image": "hokusai/api:main", "digest": GOOD}]


def test_mark_known_good_of_the_running_revision_records_its_tasks_digests(tag_world: World) -> None:
    code, text = cli(tag_world, "mark-known-good", "hokusai-api-development:31")
    assert code == 0
    assert f"@ {GOOD}" in text
    known_good = store(tag_world).load(GUARDED).known_good
    assert known_good is not None
    assert known_good.snapshot is not None
    assert known_good.snapshot.digests == {"api": GOOD}


def test_mark_known_good_refuses_a_tag_referenced_revision_that_is_not_running(
    tag_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = cli(tag_world, "mark-known-good", "hokusai-api-development:30")
    assert code == 2
    assert "names images by tag (api hokusai/api:main)" in capsys.readouterr().err
    assert store(tag_world).load(GUARDED).known_good is None

    code, text = cli(tag_world, "mark-known-good", "hokusai-api-development:30", "--allow-unpinned")
    assert code == 0
    assert "(no digest recorded)" in text
    known_good = store(tag_world).load(GUARDED).known_good
    assert known_good is not None
    assert known_good.snapshot is not None
    assert known_good.snapshot.digests == {}


def test_mark_known_good_of_a_pinned_revision_needs_no_running_task(pinned_world: World) -> None:
    code, _ = cli(pinned_world, "mark-known-good", "hokusai-api-development:30")
    assert code == 0


def test_running_digests_reads_every_page_and_describes_in_batches_of_100(tag_world: World) -> None:
    from canary_rollback.aws.ecs import EcsGateway

    tag_world.simulator.backend._get_service(CLUSTER, SERVICE).desired_count = 150
    tag_world.simulator.with_tasks(tag_world.simulator.registry or ImageRegistry())  # 150 tasks of :31
    tasks = tag_world.simulator.service_tasks(CLUSTER, SERVICE)
    assert len(tasks) == 150
    tasks[149].containers[0]["imageDigest"] = OTHER
    tasks[0].last_status = "STOPPED"  # stopping tasks do not count
    first_page = boto3.client("ecs").list_tasks(cluster=CLUSTER, serviceName=SERVICE)
    assert (len(first_page["taskArns"]), first_page["nextToken"]) == (100, "100")  # as real ECS pages them

    digests = EcsGateway(boto3.client("ecs")).running_digests(GUARDED, tag_world.revisions[31])

    assert digests == {"api": {GOOD, OTHER}}


@pytest.mark.parametrize("death", ["before-call", "after-call"])
def test_whichever_attempt_finishes_a_pinned_rollback_the_copy_becomes_the_known_good_with_its_snapshot(
    tag_world: World, registry: ImageRegistry, death: str
) -> None:
    from tests.integration.test_rollback_safety import Killed, app_that_dies, fresh_container
    from tests.integration.test_rollback_safety import invoke as invoke_with_deadline

    # Given a pinned rollback whose invocation died after registering the copy: before UpdateService (its
    # retry resumes it) or right after it (the next alarm, after the lease, takes it over)
    make_known_good(tag_world)
    move_tag_and_break(tag_world, registry)
    before = revisions_of_family()
    first = alarm_event(tag_world, seconds_ago=30)
    rollback_handler.application.set(app_that_dies(tag_world, death))
    with pytest.raises(Killed):
        invoke_with_deadline(first, timeout_seconds=1)
    time.sleep(1.2)
    fresh_container(tag_world)

    # When it is finished
    if death == "before-call":
        answer = invoke(first)
    else:
        tag_world.clock.set(tag_world.clock() + timedelta(seconds=151))
        answer = invoke(alarm_event(tag_world))

    # Then one copy was registered and deployed, and it is the known-good, with a snapshot of its own
    (copy_arn,) = [arn for arn in revisions_of_family() if arn not in before]
    assert (answer["action"], answer["target"]) == ("rolled_back", copy_arn)
    assert tag_world.current_revision() == copy_arn
    state = store(tag_world).load(GUARDED)
    assert state.last_rollback is not None
    assert (state.last_rollback.status, state.last_rollback.to_arn) == ("done", copy_arn)
    known_good = state.known_good
    assert known_good is not None
    assert (known_good.arn, known_good.copied_from) == (copy_arn, tag_world.revisions[31])
    assert known_good.snapshot is not None
    assert known_good.snapshot.definition["containerDefinitions"][0]["image"] == f"hokusai/api@{GOOD}"
