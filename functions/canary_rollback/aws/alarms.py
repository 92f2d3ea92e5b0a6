"""Ask CloudWatch what an alarm's state is now: an event may be delivered long after the alarm moved on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import error_code
from canary_rollback.core.errors import AlarmLookupError
from canary_rollback.core.models import AlarmNow
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
