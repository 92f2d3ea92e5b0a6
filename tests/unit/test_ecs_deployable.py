"""Is the known-good deployable? A refusal to describe means "not ACTIVE"; a throttled API is an error."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from canary_rollback.aws.ecs import EcsGateway
from canary_rollback.errors import EcsError

ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/hokusai-api-development:31"


def gateway(response: dict[str, object] | None = None, error: str | None = None) -> EcsGateway:
    client = boto3.client("ecs", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    stubber = Stubber(client)
    if error is not None:
        stubber.add_client_error("describe_task_definition", service_error_code=error)
    else:
        stubber.add_response("describe_task_definition", response or {})
    stubber.activate()
    return EcsGateway(client)


def definition(status: str) -> dict[str, object]:
    return {"taskDefinition": {"taskDefinitionArn": ARN, "family": "hokusai-api-development", "status": status}}


@pytest.mark.parametrize(
    ("status", "deployable"), [("ACTIVE", True), ("INACTIVE", False), ("DELETE_IN_PROGRESS", False)]
)
def test_status_decides(status: str, deployable: bool) -> None:
    assert gateway(definition(status)).is_deployable(ARN) is deployable


def test_a_revision_ecs_will_not_describe_is_not_active_never_an_error() -> None:
    assert gateway(error="ClientException").is_deployable(ARN) is False


def test_throttled_past_retries_is_an_error_so_no_copy_is_registered_for_nothing() -> None:
    with pytest.raises(EcsError, match="ThrottlingException"):
        gateway(error="ThrottlingException").is_deployable(ARN)
