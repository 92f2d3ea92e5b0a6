"""The tick's one DescribeAlarms call: both alarms at once, ALARM ones only, each as the state change that put it
there (the errors and fields moto cannot produce, with botocore's Stubber; no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber

from canary_rollback.aws.alarms import AlarmReader, alarm_timestamp
from canary_rollback.core.errors import AlarmLookupError

NAMES = ["stack-RollbackAlarm", "stack-FastRollbackAlarm"]
EXPECTED = {"AlarmNames": NAMES, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
CHANGED = datetime(2026, 11, 26, 19, 11, 0, 123000, tzinfo=UTC)


def reader(response: dict[str, object] | None = None, error: str | None = None) -> AlarmReader:
    client = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    stubber = Stubber(client)
    if error is not None:
        stubber.add_client_error("describe_alarms", service_error_code=error, expected_params=EXPECTED)
    else:
        stubber.add_response("describe_alarms", response or {}, EXPECTED)
    stubber.activate()
    return AlarmReader(client)


def alarm(name: str, state: str, **extra: object) -> dict[str, object]:
    return {"AlarmName": name, "StateValue": state, "StateReason": "Threshold Crossed", **extra}


def test_only_alarms_in_alarm_in_the_given_order_stamped_when_their_state_changed() -> None:
    response = {
        "MetricAlarms": [
            alarm(
                NAMES[1],
                "ALARM",
                StateUpdatedTimestamp=CHANGED + timedelta(minutes=5),
                StateTransitionedTimestamp=CHANGED,
            ),
            alarm(NAMES[0], "OK", StateUpdatedTimestamp=CHANGED),
        ]
    }
    (signal,) = reader(response).in_alarm(NAMES)
    assert (signal.alarm_name, signal.state, signal.delivery) == (NAMES[1], "ALARM", "tick")
    assert signal.changed_at == "2026-11-26T19:11:00.123+0000"  # the transition, as an alarm event writes it


def test_without_a_transition_time_the_state_update_time_is_used() -> None:
    (signal,) = reader({"MetricAlarms": [alarm(NAMES[0], "ALARM", StateUpdatedTimestamp=CHANGED)]}).in_alarm(NAMES)
    assert signal.changed_at == "2026-11-26T19:11:00.123+0000"


def test_a_tick_that_cannot_read_the_alarms_is_an_error_never_quiet() -> None:
    with pytest.raises(AlarmLookupError, match="AccessDenied"):
        reader(error="AccessDenied").in_alarm(NAMES)


def test_alarm_timestamps_are_written_in_utc_like_alarm_events() -> None:
    plus_one = timezone(timedelta(hours=1))
    assert alarm_timestamp(datetime(2026, 11, 26, 20, 11, 0, tzinfo=plus_one)) == "2026-11-26T19:11:00.000+0000"
