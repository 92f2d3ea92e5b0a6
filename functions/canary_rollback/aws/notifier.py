"""SNS notifications; without NOTIFY_TOPIC_ARN they are only logged.

One publish per notification with `MessageStructure: json`, so each subscriber gets its protocol's rendering
(core/notifications.py): email the evidence card's text, SQS and Lambda the structured decision, HTTPS the AWS
Chatbot custom format (docs/operate.md, "Evidence cards").
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import error_code
from canary_rollback.core.errors import ReportingError
from canary_rollback.core.notifications import Notification

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class SnsNotifier:
    def __init__(self, client: SNSClient | None, topic_arn: str | None) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, notification: Notification) -> str | None:
        if self._client is None or self._topic_arn is None:
            return None
        try:
            response = self._client.publish(
                TopicArn=self._topic_arn,
                Subject=notification.subject,
                Message=json.dumps(notification.messages()),
                MessageStructure="json",
            )
        except (ClientError, BotoCoreError) as exc:
            raise ReportingError(f"SNS Publish to {self._topic_arn} failed: {error_code(exc)}: {exc}") from exc
        return response.get("MessageId")
