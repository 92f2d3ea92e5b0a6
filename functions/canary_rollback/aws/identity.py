"""Who is calling: the AWS identity an operator's action is recorded under (what CloudTrail shows too)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import AwsClients, error_code


def caller_arn(clients: AwsClients) -> str:
    """The caller's ARN, or why it is unknown: a pause is still recorded when STS cannot answer."""
    try:
        return clients.sts.get_caller_identity()["Arn"]
    except (ClientError, BotoCoreError) as exc:
        return f"unknown AWS identity ({error_code(exc)})"
