"""Ask CloudWatch what an alarm's state is now: an event may be delivered long after the alarm moved on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import error_code
from canary_rollback.core.errors import AlarmLookupError
from canary_rollback.core.models import AlarmNow, AlarmSignal
from canary_rollback.core.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient


class AlarmReader:
    def __init__(self, client: CloudWatchClient) -> None:
        self._client = client

    def now(self, alarm_name: str) -> AlarmNow:
        """The alarm's current state; `known=False` when CloudWatch has no such alarm (deleted, a test event).

        The template scopes DescribeAlarms to this stack's alarms, so AccessDenied means "not one of ours":
        that alarm is judged by its event alone, like an unknown one. Anything else is an error the caller
        raises, so Lambda retries the invocation instead of acting on a guess.
        """
        try:
            response = self._client.describe_alarms(
                AlarmNames=[alarm_name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
        except ClientError as exc:
            code = error_code(exc)
            if code in ("AccessDenied", "AccessDeniedException"):
                logger.warning("DescribeAlarms denied: judging the alarm by its event", extra={"alarm": alarm_name})
                return AlarmNow(known=False)
            raise AlarmLookupError(f"DescribeAlarms {alarm_name} failed: {code}: {exc}") from exc
        except BotoCoreError as exc:
            raise AlarmLookupError(f"DescribeAlarms {alarm_name} failed: {exc}") from exc
        alarms = [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]
        if not alarms:
            return AlarmNow(known=False)
        return AlarmNow(known=True, state=str(alarms[0].get("StateValue")))

    def in_alarm(self, alarm_names: Sequence[str]) -> list[AlarmSignal]:
        """The given alarms that are in ALARM now, each as the state change that put it there, read in ONE
        DescribeAlarms call (a quiet tick's whole cost). Any failure is an AlarmLookupError: a tick that cannot
        read the alarms must not look quiet."""
        try:
            response = self._client.describe_alarms(
                AlarmNames=list(alarm_names), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
        except (ClientError, BotoCoreError) as exc:
            code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
            raise AlarmLookupError(f"DescribeAlarms {', '.join(alarm_names)} failed: {code}: {exc}") from exc
        alarms = [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]
        firing = [alarm for alarm in alarms if alarm.get("StateValue") == "ALARM"]
        by_name = {str(alarm["AlarmName"]): alarm for alarm in firing}
        return [_signal(by_name[name]) for name in alarm_names if name in by_name]


def _signal(alarm: Any) -> AlarmSignal:
    # The state change's own time: when StateValue last changed (StateTransitionedTimestamp), else the last state
    # update; written as the alarm's events write it, so a tick and a delivery of one state change share its key.
    changed = alarm.get("StateTransitionedTimestamp") or alarm.get("StateUpdatedTimestamp")
    return AlarmSignal(
        alarm_name=str(alarm["AlarmName"]),
        state="ALARM",
        previous_state=None,
        reason=str(alarm.get("StateReason") or ""),
        changed_at=alarm_timestamp(changed) if isinstance(changed, datetime) else str(changed or ""),
        delivery="tick",
        alarm_arn=alarm.get("AlarmArn"),
    )


def alarm_timestamp(moment: datetime) -> str:
    """`2026-11-26T19:11:00.000+0000`: the format of an alarm event's `state.timestamp`."""
    utc = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"
