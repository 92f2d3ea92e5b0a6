"""One name is enough: a stack's outputs and parameters say which service it guards, where its state and its topic
are (`canary-rollback ... --stack NAME`, docs/operate.md). The way SAM users name a stack: AWS_SAM_STACK_NAME."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import error_code
from canary_rollback.core.errors import ConfigError, StateStoreError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient


@dataclass(frozen=True)
class StackSettings:
    stack: str
    cluster: str
    service: str
    table: str
    topic: str | None
    pin_image_digests: str | None  # the stack's PinImageDigests parameter, as CloudFormation reports it


def read_stack(client: CloudFormationClient, name: str) -> StackSettings:
    """Outputs first (`ClusterName`, `ServiceName`, `StateTableName`, `NotifyTopicArn`), then the parameters of the
    same names for a stack deployed before those outputs existed."""
    try:
        stacks = client.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if error_code(exc) == "ValidationError":  # CloudFormation's answer for a stack that does not exist
            raise ConfigError(f"--stack {name}: no such CloudFormation stack in this account and region") from None
        raise StateStoreError(f"DescribeStacks {name} failed: {error_code(exc)}: {exc}") from exc
    except BotoCoreError as exc:
        raise StateStoreError(f"DescribeStacks {name} failed: {exc}") from exc
    if not stacks:
        raise ConfigError(f"--stack {name}: no such CloudFormation stack in this account and region")
    stack = stacks[0]
    values = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    values.update({o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])})
    wanted = {"ClusterName": "cluster", "ServiceName": "service", "StateTableName": "table"}
    missing = [key for key in wanted if not values.get(key)]
    if missing:
        raise ConfigError(
            f"--stack {name}: the stack has no {', '.join(missing)} (is it a canary-rollback stack?); "
            "or pass --cluster, --service and --table"
        )
    return StackSettings(
        stack=name,
        cluster=values["ClusterName"],
        service=values["ServiceName"],
        table=values["StateTableName"],
        topic=values.get("NotifyTopicArn") or None,
        pin_image_digests=values.get("PinImageDigests") or None,
    )
