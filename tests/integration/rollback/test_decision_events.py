"""Decisions are events too: a rule on the default bus receives each one (docs/operate.md, "Decision events")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from tests.support.decisions import assert_valid_decision
from tests.support.invoke import ROLLBACK, invoke
from tests.support.world import alarm_event, make_known_good
from tests.support.worlds import GOOD_BUILD, mutable_tag_world, push_the_broken_build_and_deploy_34

# The rule docs/operate.md shows for a deploy freeze.
FREEZE_PATTERN = {
    "source": ["canary-rollback"],
    "detail-type": ["Rollback Decision"],
    "detail": {"action": ["rolled_back", "not_recovered", "reverted", "not_restorable"]},
}


@pytest.fixture
def mutable_world(aws: Any, handlers_reset: None) -> Iterator[Any]:
    with mutable_tag_world() as world:
        yield world


def _rule_queue(pattern: dict[str, Any]) -> str:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="deploy-freeze")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    events.put_rule(Name="freeze-deploys-on-rollback", EventPattern=json.dumps(pattern))  # the default bus
    events.put_targets(Rule="freeze-deploys-on-rollback", Targets=[{"Id": "queue", "Arn": arn}])
    return str(url)


def _received(url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_rule_on_the_default_bus_receives_the_rollback_decision(mutable_world: Any) -> None:
    world = mutable_world
    # Given a rule on the default bus that freezes deploys on a rollback, with a queue as its target
    url = _rule_queue(FREEZE_PATTERN)
    make_known_good(world)
    push_the_broken_build_and_deploy_34(world)
    assert _received(url) == []  # probe runs are not decisions

    # When the alarm fires and the service is rolled back
    response = invoke(ROLLBACK, alarm_event(world))

    # Then the rule received the decision event, the structured decision as its detail
    (event,) = _received(url)
    assert (event["source"], event["detail-type"]) == ("canary-rollback", "Rollback Decision")
    decision = event["detail"]
    assert_valid_decision(decision)
    assert decision["action"] == response["action"] == "rolled_back"
    assert decision["target"]["images"][0]["digest"] == GOOD_BUILD
    assert decision["evidence"][0]["got"] == "404"


def test_every_decision_is_an_event_even_one_that_does_not_act(mutable_world: Any) -> None:
    world = mutable_world
    url = _rule_queue({"source": ["canary-rollback"]})
    push_the_broken_build_and_deploy_34(world)  # nothing was ever seen healthy
    response = invoke(ROLLBACK, alarm_event(world))
    assert response["action"] == "no_known_good"
    (event,) = _received(url)
    assert event["detail"]["action"] == "no_known_good"
    assert event["detail"]["target"] is None


def test_an_event_bus_that_cannot_be_reached_changes_no_answer(
    mutable_world: Any, refused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = mutable_world
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTS", f"http://127.0.0.1:{refused_port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    runtime = build_runtime(world.stack.function_env, need_probes=False, clock=world.clock)
    rollback_handler.application.set(RollbackApplication(runtime))
    make_known_good(world)
    push_the_broken_build_and_deploy_34(world)
    response = invoke(ROLLBACK, alarm_event(world))
    assert response["action"] == "rolled_back"
    assert [n["subject"] for n in world.stack.notifications()][-1].endswith(
        "rolled back to " + response["target"].rsplit("/", 1)[-1]
    )
