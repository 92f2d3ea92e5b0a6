"""Is the known-good deployable? The answers moto cannot give (a revision being deleted, a throttled API) are
stubbed here (botocore's Stubber, no network); the rest run against moto in tests/integration/aws/test_adapters.py.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from canary_rollback.aws.ecs import EcsGateway
from canary_rollback.core.errors import EcsError

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


def test_a_revision_being_deleted_is_not_deployable() -> None:
    being_deleted = {"taskDefinitionArn": ARN, "family": "hokusai-api-development", "status": "DELETE_IN_PROGRESS"}
    assert gateway({"taskDefinition": being_deleted}).is_deployable(ARN) is False


def test_throttled_past_retries_is_an_error_so_no_copy_is_registered_for_nothing() -> None:
    with pytest.raises(EcsError, match="ThrottlingException"):
        gateway(error="ThrottlingException").is_deployable(ARN)
