"""SNS notifications; without NOTIFY_TOPIC_ARN they are only logged."""

from __future__ import annotations

from typing import TYPE_CHECKING

from canary_rollback.notifications import Notification

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class SnsNotifier:
    def __init__(self, client: SNSClient | None, topic_arn: str | None) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, notification: Notification) -> str | None:
        if self._client is None or self._topic_arn is None:
            return None
        response = self._client.publish(
            TopicArn=self._topic_arn, Subject=notification.subject, Message=notification.body
        )
        return response.get("MessageId")
