"""ECR and IAM answers moto cannot give (access denied, throttled past retries) are the readiness check's own
errors, never "missing"; stubbed with botocore's Stubber (no network). The answers moto can give (image or
repository gone, role gone) run against moto in tests/integration/probe/test_readiness.py."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from canary_rollback.aws.ecr import EcrGateway
from canary_rollback.aws.iam import IamGateway
from canary_rollback.core.errors import ReadinessLookupError
from canary_rollback.core.images import EcrRepository

REPOSITORY = EcrRepository("123456789012", "us-east-1", "hokusai/api")


@pytest.mark.parametrize("code", ["AccessDeniedException", "ThrottlingException"])
def test_ecr_that_cannot_say_is_a_lookup_error(code: str) -> None:
    client = boto3.client("ecr", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    stubber = Stubber(client)
    stubber.add_client_error("describe_images", service_error_code=code)
    stubber.activate()
    with pytest.raises(ReadinessLookupError, match=code):
        EcrGateway(lambda region: client).image_presence(REPOSITORY, digest="sha256:" + "a" * 64, tag=None)


@pytest.mark.parametrize("code", ["AccessDenied", "Throttling"])
def test_iam_that_cannot_say_is_a_lookup_error(code: str) -> None:
    client = boto3.client("iam", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    stubber = Stubber(client)
    stubber.add_client_error("get_role", service_error_code=code)
    stubber.activate()
    with pytest.raises(ReadinessLookupError, match=code):
        IamGateway(client).role_exists("hokusai-api-execution")
