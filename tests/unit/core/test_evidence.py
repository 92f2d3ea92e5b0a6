"""Evidence cards (docs/operate.md): the structured decision, its schema, and the words a person reads."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from canary_rollback.core.evidence import (
    ACTIONS,
    SCHEMA,
    AlarmRef,
    CommandTarget,
    ProbeEvidence,
    StructuredDecision,
    TargetImage,
    advance_failures,
    deployed_images,
    expected_and_got,
)
from canary_rollback.core.models import AlarmSignal, Decision, GuardedService, ProbeResult
from canary_rollback.core.notifications import CardFacts, decision_notification, hook_failure_notification
from canary_rollback.core.probe_spec import ProbeSpec
from tests.support.builders import T0, rev
from tests.support.decisions import assert_valid_decision, schema_errors

GUARDED = GuardedService("hokusai-development", "hokusai-api")
MLFLOW = ProbeSpec("mlflow-proxy", "https://registry.hokus.ai/api/mlflow/version", expect_status=(401,))
AUTH = ProbeSpec("auth", "https://auth.hokus.ai/api/v1/keys/validate", expect_status=(401,), timeout_ms=3000)
NOT_FOUND = ProbeResult("mlflow-proxy", False, 404, 12.0, "status", "expected [401]")
DIGEST = "sha256:" + "04336a" * 10 + "abcd"
ALARM = AlarmSignal("RollbackAlarm", "ALARM", "OK", "Threshold Crossed", "2026-11-26T19:11:00.000+0000", "eventbridge")
STACK = CommandTarget("hokusai-development", "hokusai-api", "canary-rollback-StateTable", "canary-rollback")


def failing(count: int = 3) -> ProbeEvidence:
    return ProbeEvidence("mlflow-proxy", MLFLOW.url, "401", "404", "status", T0, T0 - timedelta(seconds=20), count)


def test_a_404_where_401_was_expected_is_said_in_those_numbers() -> None:
    assert expected_and_got(MLFLOW, NOT_FOUND) == ("401", "404")
    hung = ProbeResult("auth", False, None, None, "timeout", "no answer before the run's deadline")
    expected, got = expected_and_got(AUTH, hung)
    assert expected == "an answer within 3000 ms"
    assert got.startswith("no answer")


def test_a_probe_failing_again_keeps_its_first_failure_and_counts_a_passing_one_drops_out() -> None:
    first = advance_failures((), (MLFLOW, AUTH), [NOT_FOUND, ProbeResult("auth", True, 401, 5.0, None)], T0)
    assert [(f.probe, f.count, f.first_failed_at) for f in first] == [("mlflow-proxy", 1, T0)]

    later = T0 + timedelta(seconds=10)
    hung = ProbeResult("auth", False, None, None, "timeout")
    second = advance_failures(first, (MLFLOW, AUTH), [NOT_FOUND, hung], later)
    assert [(f.probe, f.count, f.first_failed_at, f.at) for f in second] == [
        ("mlflow-proxy", 2, T0, later),
        ("auth", 1, later, later),
    ]

    healed = advance_failures(second, (MLFLOW, AUTH), [ProbeResult("mlflow-proxy", True, 401, 3.0, None), hung], later)
    assert [f.probe for f in healed] == ["auth"]


def test_a_pinned_copy_names_each_container_with_its_digest_and_a_tag_is_said_to_be_unpinned() -> None:
    named = {"containerDefinitions": [{"name": "api", "image": "hokusai/api:main"}, {"name": "log", "image": "fb:2"}]}
    copy = {
        "containerDefinitions": [{"name": "api", "image": f"hokusai/api@{DIGEST}"}, {"name": "log", "image": "fb:2"}]
    }
    api, log = deployed_images(copy, named)
    assert api == TargetImage("api", f"hokusai/api@{DIGEST}", DIGEST, "hokusai/api:main")
    assert log == TargetImage("log", "fb:2", None)
    assert api.line() == f"api: hokusai/api:main pinned to {DIGEST}"
    assert "NOT pinned" in log.line()


def record(action: str = "dry_run", **changes: object) -> StructuredDecision:
    decision = Decision(action, "DRY_RUN: would roll back to the known-good", rev(34), rev(31), row="dry run")  # type: ignore[arg-type]
    facts = CardFacts(
        evidence=(failing(),),
        images=(TargetImage("api", f"hokusai/api@{DIGEST}", DIGEST, "hokusai/api:main"),),
        command=STACK,
        decided_at=T0,
        dry_run=True,
    )
    note = decision_notification(GUARDED, ALARM, decision, facts)
    assert note.decision is not None
    return note.decision


def test_the_structured_decision_carries_every_field_with_real_values_and_validates() -> None:
    data = record().as_json()
    assert_valid_decision(data)
    assert data["schema"] == SCHEMA
    assert data["alarm"] == {"name": "RollbackAlarm", "state_changed_at": "2026-11-26T19:11:00.000+0000"}
    assert data["current"] == {"arn": rev(34), "label": "hokusai-api-development:34"}
    assert data["target"]["label"] == "hokusai-api-development:31"
    assert data["target"]["images"] == [
        {"container": "api", "image": f"hokusai/api@{DIGEST}", "digest": DIGEST, "named_as": "hokusai/api:main"}
    ]
    (evidence,) = data["evidence"]
    assert (evidence["probe"], evidence["expected"], evidence["got"], evidence["count"]) == (
        "mlflow-proxy",
        "401",
        "404",
        3,
    )
    assert data["row"] == "dry run"
    assert "canary-rollback rollback --stack canary-rollback" in data["next_steps"][1]


def test_the_schema_rejects_what_is_not_a_decision() -> None:
    data = record().as_json()
    assert schema_errors({**data, "schema": "canary-rollback/decision/0"})
    assert schema_errors({key: value for key, value in data.items() if key != "evidence"})
    assert schema_errors({**data, "evidence": [{"probe": "x"}]})
    assert schema_errors(
        {**data, "target": {**data["target"], "images": [{"container": "api", "image": "x", "digest": "main"}]}}
    )


@pytest.mark.parametrize("action", [*sorted(ACTIONS), "an_action_of_a_later_version"])
def test_every_action_renders_and_validates_even_one_this_version_does_not_know(action: str) -> None:
    decision = Decision(action, "because", rev(34), rev(31))  # type: ignore[arg-type]
    note = decision_notification(GUARDED, ALARM, decision, CardFacts(command=STACK, decided_at=T0))
    assert note.decision is not None
    assert_valid_decision(note.decision.as_json())
    assert len(note.subject) <= 100
    assert note.subject.isascii()
    assert "\n" not in note.subject
    assert "because" in note.body
    assert "aws ecs update-service" not in note.body


def test_the_card_says_what_happened_why_and_what_to_run_next() -> None:
    text = record().card_text()
    for expected in (
        "would roll back to hokusai-api-development:31 (dry run)",
        "DRY_RUN is on: the tool decided and changed nothing.",  # what the action means
        "RollbackAlarm, in ALARM since 2026-11-26T19:11:00.000+0000",
        "mlflow-proxy https://registry.hokus.ai/api/mlflow/version: expected 401, got 404 (status)",
        "failing since 18:29:40Z (3 in a row)",
        "Revision now:     hokusai-api-development:34",
        "Target:           hokusai-api-development:31",
        f"api: hokusai/api:main pinned to {DIGEST}",
        "decision table row 'dry run' (docs/design.md): DRY_RUN is on",
        "canary-rollback rollback --stack canary-rollback",
    ):
        assert expected in text, expected
    assert "aws ecs update-service" not in text


def test_without_a_stack_name_the_command_names_cluster_service_and_table() -> None:
    plain = CommandTarget("hokusai-development", "hokusai-api", "canary-rollback-StateTable")
    assert plain.command("rollback") == (
        "canary-rollback rollback --cluster hokusai-development --service hokusai-api "
        "--table canary-rollback-StateTable"
    )
    assert STACK.command("status") == "canary-rollback status --stack canary-rollback"


def test_no_known_good_points_at_mark_known_good_then_rollback_never_at_update_service() -> None:
    note = decision_notification(
        GUARDED, ALARM, Decision("no_known_good", "none seen", rev(34), None), CardFacts(command=STACK)
    )
    assert "canary-rollback mark-known-good FAMILY:REVISION --stack canary-rollback" in note.body
    assert "canary-rollback rollback --stack canary-rollback" in note.body
    assert "update-service" not in note.body


def test_one_message_per_protocol_text_for_people_the_decision_for_programs_chatbot_for_https() -> None:
    decision = Decision("rolled_back", "alarm fired", rev(34), rev(31), row="roll back")
    note = decision_notification(
        GUARDED, ALARM, decision, CardFacts(evidence=(failing(),), command=STACK, decided_at=T0)
    )
    messages = note.messages()
    assert set(messages) == {"default", "email", "sqs", "lambda", "https"}
    assert messages["default"] == messages["email"] == note.body
    with pytest.raises(json.JSONDecodeError):
        json.loads(messages["email"])  # text, not JSON
    assert json.loads(messages["sqs"]) == json.loads(messages["lambda"]) == note.decision.as_json()  # type: ignore[union-attr]
    chat = json.loads(messages["https"])
    assert (chat["version"], chat["source"]) == ("1.0", "custom")
    assert chat["content"]["title"] == note.subject
    assert any("canary-rollback status --stack canary-rollback" in step for step in chat["content"]["nextSteps"])
    context = chat["metadata"]["additionalContext"]
    assert all(isinstance(value, str) for value in context.values())  # Chatbot's schema: string values
    assert_valid_decision(json.loads(context["decision"]))


def test_the_failed_gate_is_a_decision_too() -> None:
    details: dict[str, object] = {"probe": "mlflow-proxy", "url": MLFLOW.url, "status": 404, "reason": "status"}
    note = hook_failure_notification(
        GUARDED, "POST_TEST_TRAFFIC_SHIFT", "arn:aws:ecs:us-east-1:1:service-revision/c/s/9", "dep-1", details,
        CardFacts(evidence=(failing(1),), command=STACK, decided_at=T0),
    )  # fmt: skip
    assert note.decision is not None
    data = note.decision.as_json()
    assert_valid_decision(data)
    assert (data["action"], data["alarm"], data["target"]) == ("gate_failed", None, None)
    assert data["evidence"][0]["got"] == "404"
    assert "deployment gate FAILED at POST_TEST_TRAFFIC_SHIFT: mlflow-proxy 404" in note.subject


def test_an_alarm_reference_without_time_still_renders() -> None:
    data = StructuredDecision("recovered", "c", "s", "ok", T0, alarm=AlarmRef("RollbackAlarm", None)).as_json()
    assert_valid_decision(data)
