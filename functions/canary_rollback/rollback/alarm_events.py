"""The three ways a CloudWatch alarm reaches a Lambda, read into one AlarmSignal.

Anything else returns None (the handler answers `ignored`): a stray event must never raise, and never act.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import CloudWatchAlarmEvent, EventBridgeEvent, SNSEvent

from canary_rollback.core.models import AlarmSignal

_STATES = frozenset({"OK", "ALARM", "INSUFFICIENT_DATA"})


def parse_alarm_event(event: Any) -> AlarmSignal | None:
    if not isinstance(event, dict):
        return None
    try:
        if event.get("detail-type") == "CloudWatch Alarm State Change":
            return _from_eventbridge(EventBridgeEvent(event))
        if "alarmData" in event:
            return _from_lambda_action(CloudWatchAlarmEvent(event))
        records = event.get("Records")
        if (
            isinstance(records, list)
            and records
            and isinstance(records[0], dict)
            and records[0].get("EventSource") == "aws:sns"
        ):
            return _from_sns(SNSEvent(event))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return None


def _from_eventbridge(event: EventBridgeEvent) -> AlarmSignal | None:
    detail = event.detail
    state = detail["state"]
    previous = detail.get("previousState") or {}
    return _signal(
        name=detail["alarmName"],
        state=state["value"],
        previous=previous.get("value"),
        reason=state.get("reason", ""),
        changed_at=state.get("timestamp") or event.time,
        delivery="eventbridge",
        arn=event.resources[0] if event.resources else None,
    )


def _from_lambda_action(event: CloudWatchAlarmEvent) -> AlarmSignal | None:
    data = event.alarm_data
    return _signal(
        name=data.alarm_name,
        state=data.state.value,
        previous=data.previous_state.value if data.get("previousState") else None,
        reason=data.state.reason or "",
        changed_at=data.state.timestamp or event.timestamp,
        delivery="lambda-action",
        arn=event.alarm_arn,
    )


def _from_sns(event: SNSEvent) -> AlarmSignal | None:
    message = json.loads(event.sns_message)
    if not isinstance(message, dict) or "AlarmName" not in message:
        return None
    return _signal(
        name=message["AlarmName"],
        state=message["NewStateValue"],
        previous=message.get("OldStateValue"),
        reason=message.get("NewStateReason", ""),
        changed_at=message.get("StateChangeTime") or event.record.sns.timestamp,
        delivery="sns",
        arn=message.get("AlarmArn"),
    )


def _signal(
    *, name: Any, state: Any, previous: Any, reason: Any, changed_at: Any, delivery: Any, arn: Any
) -> AlarmSignal | None:
    if not isinstance(name, str) or not name or state not in _STATES or not isinstance(changed_at, str):
        return None
    return AlarmSignal(
        alarm_name=name,
        state=state,
        previous_state=previous if isinstance(previous, str) else None,
        reason=str(reason),
        changed_at=changed_at,
        delivery=delivery,
        alarm_arn=arn if isinstance(arn, str) else None,
    )
