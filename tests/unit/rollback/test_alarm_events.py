from __future__ import annotations

import json
from typing import Any

import pytest

from canary_rollback.rollback.alarm_events import parse_alarm_event
from tests.support.events import load_event


@pytest.mark.parametrize(
    ("name", "delivery"),
    [("alarm-state-change", "eventbridge"), ("alarm-lambda-action", "lambda-action"), ("alarm-sns", "sns")],
)
def test_three_alarm_deliveries_read_the_same(name: str, delivery: str) -> None:
    signal = parse_alarm_event(load_event(name))
    assert signal is not None
    assert signal.alarm_name == "canary-rollback-RollbackAlarm"
    assert signal.state == "ALARM"
    assert signal.previous_state == "OK"
    assert signal.delivery == delivery
    assert signal.changed_at == "2026-11-26T19:11:00.123+0000"  # one state change, one idempotency key
    assert signal.alarm_arn == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:canary-rollback-RollbackAlarm"


def test_ok_event_is_read_as_ok() -> None:
    signal = parse_alarm_event(load_event("alarm-ok"))
    assert signal is not None
    assert (signal.state, signal.previous_state) == ("OK", "ALARM")


def _sns(message: Any) -> dict[str, Any]:
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": message, "Timestamp": "2026-11-26T19:11:00Z"}}]}


@pytest.mark.parametrize(
    "event",
    [
        None,
        "ALARM",
        [],
        {},
        load_event("schedule"),
        {"detail-type": "CloudWatch Alarm State Change", "detail": {}},
        {"detail-type": "CloudWatch Alarm State Change", "detail": {"alarmName": "a", "state": {"value": "PANIC"}}},
        {"alarmData": {"alarmName": "a"}},
        {"alarmData": "nope"},
        {"Records": [{"EventSource": "aws:sqs", "body": "{}"}]},
        {"Records": ["x"]},
        _sns("not json"),
        _sns(json.dumps({"hello": "world"})),
        _sns(json.dumps(["list"])),
    ],
)
def test_anything_else_is_not_an_alarm_and_never_raises(event: Any) -> None:
    assert parse_alarm_event(event) is None


def test_sns_alarm_without_state_change_time_falls_back_to_the_envelope_timestamp() -> None:
    signal = parse_alarm_event(_sns(json.dumps({"AlarmName": "a", "NewStateValue": "ALARM"})))
    assert signal is not None
    assert (signal.alarm_name, signal.changed_at, signal.previous_state) == ("a", "2026-11-26T19:11:00Z", None)
