"""`canary-rollback rollback`: the command every notification names, carried out under the rollback's own lock
with its restore plan, audited with the operator; and `status` that tells the truth (docs/operate.md)."""

from __future__ import annotations

import io
import json
import shlex
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from canary_rollback.aws.state_store import StateStore
from canary_rollback.cli import main
from canary_rollback.core.models import GuardedService
from canary_rollback.core.rollback_record import take_lock
from canary_rollback.handlers import hook as hook_handler
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE
from tests.support.decisions import assert_valid_decision
from tests.support.events import load_event
from tests.support.invoke import HOOK, ROLLBACK, invoke
from tests.support.stacks import create_stand_in_stack
from tests.support.world import alarm_event, make_known_good
from tests.support.worlds import GOOD_BUILD, mutable_tag_world, push_the_broken_build_and_deploy_34, structured_messages

GUARDED = GuardedService(CLUSTER, SERVICE)


@pytest.fixture
def dry_run_world(aws: Any, handlers_reset: None) -> Iterator[Any]:
    """The mutable-tag world with DRY_RUN on, deployed as the stack `canary-rollback`."""
    with mutable_tag_world({"DryRun": "true"}) as world:
        create_stand_in_stack(world.stack.stack_name, CLUSTER, SERVICE, world.stack.table_name, world.stack.topic_arn)
        yield world


def run(*argv: str, answers: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out, answers=io.StringIO(answers))
    return code, out.getvalue()


def _task_definition_now() -> dict[str, Any]:
    ecs = boto3.client("ecs")
    arn = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["taskDefinition"]
    definition: dict[str, Any] = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return definition


def _store(world: Any) -> StateStore:
    return StateStore(boto3.client("dynamodb"), world.stack.table_name)


def test_the_dry_run_notification_names_the_command_and_that_command_restores_the_pinned_digest(
    dry_run_world: Any,
) -> None:
    world = dry_run_world
    # Given :31 seen healthy on Monday's build, then :34 live on the routing change behind the same tag
    make_known_good(world)
    push_the_broken_build_and_deploy_34(world)
    world.stack.notifications()

    # When the alarm fires in dry run
    response = invoke(ROLLBACK, alarm_event(world))
    assert response["action"] == "dry_run"

    # Then its card names `canary-rollback rollback --stack ...`, never an update-service to the tagged :31
    (card,) = structured_messages(world)
    assert_valid_decision(card)
    assert "update-service" not in json.dumps(card)
    (step,) = [s for s in card["next_steps"] if "canary-rollback rollback" in s]
    command = step.split(": ", 1)[1]
    assert command == "canary-rollback rollback --stack canary-rollback"

    # And a person who answers "no" changes nothing
    argv = shlex.split(command)[1:]
    code, text = run(*argv, answers="n\n")
    assert code == 2
    assert f"api: hokusai/api:main pinned to {GOOD_BUILD}" in text  # the plan showed the pinned digest
    assert _task_definition_now()["taskDefinitionArn"] == world.revisions[34]

    # When the person runs it as printed and confirms
    code, text = run(*argv, "--reason", "MLflow route 404s", answers="y\n")

    # Then the service runs a digest-pinned copy of :31 (never the tag, which now names the broken build)
    assert code == 0, text
    now = _task_definition_now()
    assert now["taskDefinitionArn"] not in (world.revisions[31], world.revisions[34])
    assert [c["image"] for c in now["containerDefinitions"]] == [f"hokusai/api@{GOOD_BUILD}"]
    # audited with the operator's AWS identity, and told (with the evidence) like any rollback
    (decision,) = [r for r in _store(world).history(GUARDED, 10, kinds=frozenset({"decision"})) if r.get("operator")]
    assert decision["action"] == "rolled_back"
    assert decision["operator"].startswith("arn:aws:")
    assert decision["dry_run"] is False
    assert "MLflow route 404s" in decision["reason"]
    (told,) = structured_messages(world)
    assert (told["action"], told["origin"], told["row"]) == ("rolled_back", "operator", "operator")
    assert told["target"]["images"][0]["digest"] == GOOD_BUILD
    assert told["evidence"][0]["got"] == "404"
    state = _store(world).load(GUARDED)
    assert state.last_rollback is not None
    assert (state.last_rollback.status, state.last_rollback.alarm) == ("done", "operator")


def test_without_a_known_good_it_exits_non_zero_and_says_why(
    dry_run_world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    push_the_broken_build_and_deploy_34(dry_run_world)  # nothing was ever seen healthy
    code, _ = run("rollback", "--stack", "canary-rollback", "--yes")
    assert code == 1
    assert "not rolled back (no_known_good)" in capsys.readouterr().err
    assert _task_definition_now()["taskDefinitionArn"] == dry_run_world.revisions[34]


def test_it_refuses_while_another_rollback_holds_a_live_lock(
    dry_run_world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world = dry_run_world
    make_known_good(world)
    push_the_broken_build_and_deploy_34(world)
    store = _store(world)
    state = store.load(GUARDED)
    held = take_lock(
        rollback_id="alarm-held",
        now=datetime.now(UTC),  # the CLI runs on the wall clock, as a person's laptop does
        alarm="RollbackAlarm",
        state_change="RollbackAlarm|ALARM|t",
        from_arn=world.revisions[34],
        to_arn=world.revisions[31],
        lease=timedelta(seconds=150),
        replacing=None,
    )
    store.save(GUARDED, state, replace(state, last_rollback=held), "rollback")

    code, _ = run("rollback", "--stack", "canary-rollback", "--yes")

    assert code == 1
    assert "rollback alarm-held (alarm RollbackAlarm) holds the lock" in capsys.readouterr().err
    assert _task_definition_now()["taskDefinitionArn"] == world.revisions[34]


def test_it_acts_while_automatic_rollback_is_paused(dry_run_world: Any) -> None:
    world = dry_run_world
    make_known_good(world)
    push_the_broken_build_and_deploy_34(world)
    assert run("pause", "--stack", "canary-rollback", "--reason", "investigating")[0] == 0
    code, text = run("rollback", "--stack", "canary-rollback", "--yes")
    assert code == 0, text
    assert "\nrolled_back: hokusai-api-development:34 -> hokusai-api-development:35" in text


def test_status_after_a_rollback_and_eight_hook_calls_still_shows_the_rollback_decision(dry_run_world: Any) -> None:
    world = dry_run_world
    make_known_good(world)
    push_the_broken_build_and_deploy_34(world)
    assert run("rollback", "--stack", "canary-rollback", "--yes")[0] == 0
    for _ in range(2):
        world.minute()
        world.advance_rollout()  # the rollback rolls out: the route answers 401 again
    hook_handler.runtime.set(build_runtime(world.stack.function_env))  # the wall clock, as the CLI's rollback
    for _ in range(8):  # then a blue/green deployment's gate answers eight times
        invoke(HOOK, load_event("hook-post-production-traffic-shift"))

    code, text = run("status", "--stack", "canary-rollback")

    assert code == 0
    decisions = text.split("last rollback decisions:\n", 1)[1].split("recent activity:", 1)[0]
    assert "rolled_back  -> " in decisions
    assert "by arn:aws:" in decisions
    activity = text.split("recent activity:\n", 1)[1]
    assert activity.count("hook  ") == 5  # the five newest records are all hook answers, readable
    assert "hook  IN_PROGRESS at POST_PRODUCTION_TRAFFIC_SHIFT  passes" in activity
    assert "(steady)" in text or "(deploying" in text


def test_status_names_the_stack_from_the_environment_and_shows_an_expired_lease_as_expired(
    dry_run_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = dry_run_world
    make_known_good(world)
    store = _store(world)
    state = store.load(GUARDED)
    abandoned = take_lock(
        rollback_id="died",
        now=datetime.now(UTC) - timedelta(minutes=10),
        alarm="RollbackAlarm",
        state_change="RollbackAlarm|ALARM|t",
        from_arn=world.revisions[34],
        to_arn=world.revisions[31],
        lease=timedelta(seconds=150),
        replacing=None,
    )
    store.save(GUARDED, state, replace(state, last_rollback=abandoned), "rollback")
    monkeypatch.setenv("AWS_SAM_STACK_NAME", "canary-rollback")  # as `sam deploy` users have it set

    code, text = run("status")

    assert code == 0
    assert "service        hokusai-development/hokusai-api" in text
    assert "(pending, lease EXPIRED at " in text
    assert "abandoned, the next alarm takes it over" in text
