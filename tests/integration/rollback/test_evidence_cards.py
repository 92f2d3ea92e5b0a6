"""Evidence cards through real SNS (moto): one publish, a rendering per protocol (docs/operate.md)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from canary_rollback.aws.clients import AwsClients
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from tests.support.decisions import assert_valid_decision
from tests.support.invoke import ROLLBACK, invoke
from tests.support.world import alarm_event, make_known_good
from tests.support.worlds import (
    BROKEN_BUILD,
    GOOD_BUILD,
    mutable_tag_world,
    push_the_broken_build_and_deploy_34,
    structured_messages,
)


@pytest.fixture
def mutable_world(aws: Any, handlers_reset: None) -> Iterator[Any]:
    with mutable_tag_world() as world:
        yield world


def test_the_sqs_subscriber_gets_the_structured_decision_with_the_failing_probe_and_the_pinned_digest(
    mutable_world: Any,
) -> None:
    world = mutable_world
    # Given :31 seen healthy on Monday's build, and :34 live on the routing change behind the same tag
    make_known_good(world)
    push_the_broken_build_and_deploy_34(world)
    world.stack.notifications()  # drain: only the decision's message is read below

    # When the alarm fires
    response = invoke(ROLLBACK, alarm_event(world))

    # Then the queue's message is the structured decision, with real values
    assert response["action"] == "rolled_back"
    (decision,) = structured_messages(world)
    assert_valid_decision(decision)
    assert decision["action"] == "rolled_back"
    assert decision["current"]["arn"] == world.revisions[34]
    assert decision["target"]["arn"] == response["target"] != world.revisions[31]  # a pinned copy of :31
    assert decision["target"]["images"] == [
        {"container": "api", "image": f"hokusai/api@{GOOD_BUILD}", "digest": GOOD_BUILD, "named_as": "hokusai/api:main"}
    ]
    assert BROKEN_BUILD not in json.dumps(decision)
    (failing,) = decision["evidence"]
    assert (failing["probe"], failing["expected"], failing["got"], failing["reason"]) == (
        "mlflow-proxy",
        "401",
        "404",
        "status",
    )
    assert failing["count"] == 3
    assert decision["alarm"]["name"] == world.stack.alarm_names["RollbackAlarm"]
    assert decision["row"] == "roll back"
    assert any("canary-rollback status --stack canary-rollback" in step for step in decision["next_steps"])


class _Received(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_people_get_text_one_publish_carries_every_rendering(mutable_world: Any) -> None:
    world = mutable_world
    calls: list[tuple[str, str, dict[str, Any]]] = []
    recorded = AwsClients(on_call=lambda *call: calls.append(call))
    runtime = build_runtime(world.stack.function_env, need_probes=False, clients=recorded, clock=world.clock)
    rollback_handler.application.set(RollbackApplication(runtime))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Received)
    _Received.bodies = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        # Given a plain-HTTP subscriber (it gets the `default` rendering, as email gets `email`)
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/"
        boto3.client("sns").subscribe(TopicArn=world.stack.topic_arn, Protocol="http", Endpoint=endpoint)
        make_known_good(world)
        push_the_broken_build_and_deploy_34(world)
        _Received.bodies.clear()

        # When the alarm fires
        invoke(ROLLBACK, alarm_event(world))
    finally:
        server.shutdown()
        server.server_close()

    # Then one Publish carried every rendering: text for people, the decision for programs
    (publish,) = [params for service, operation, params in calls if (service, operation) == ("sns", "Publish")]
    assert publish["MessageStructure"] == "json"
    rendered = json.loads(publish["Message"])
    text = rendered["email"]
    assert text == rendered["default"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    for phrase in ("rolled back to", "expected 401, got 404", f"pinned to {GOOD_BUILD}", "What happens next:"):
        assert phrase in text
    assert_valid_decision(json.loads(rendered["sqs"]))
    chat = json.loads(rendered["https"])
    assert (chat["version"], chat["source"]) == ("1.0", "custom")
    assert_valid_decision(json.loads(chat["metadata"]["additionalContext"]["decision"]))
    # and the HTTP subscriber received the text as SNS delivered it
    delivered = [body["Message"] for body in _Received.bodies if body.get("Type") == "Notification"]
    assert delivered == [text]
