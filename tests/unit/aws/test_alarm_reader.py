"""How AlarmReader maps the errors moto cannot produce (botocore's Stubber, no network); the answers moto can
give are tested against it in tests/integration/aws/test_adapters.py."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from canary_rollback.aws.alarms import AlarmReader
from canary_rollback.core.errors import AlarmLookupError
from canary_rollback.core.models import AlarmNow


def reader_with(response: dict[str, object] | None = None, error: str | None = None) -> AlarmReader:
    client = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    stubber = Stubber(client)
    expected = {"AlarmNames": ["a"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
    if error is not None:
        stubber.add_client_error("describe_alarms", service_error_code=error, expected_params=expected)
    else:
        stubber.add_response("describe_alarms", response or {}, expected)
    stubber.activate()
    return AlarmReader(client)


def test_access_denied_means_not_one_of_ours_and_is_judged_by_the_event() -> None:
    assert reader_with(error="AccessDenied").now("a") == AlarmNow(known=False)


def test_throttled_past_retries_is_an_error_so_lambda_retries() -> None:
    with pytest.raises(AlarmLookupError, match="Throttling"):
        reader_with(error="Throttling").now("a")
