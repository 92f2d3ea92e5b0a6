"""The AWS adapters against the moto server, for every answer moto can give (the unit tests stub only the
errors moto cannot produce: access denied, throttling)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from canary_rollback.aws.alarms import AlarmReader
from canary_rollback.aws.ecs import EcsGateway
from canary_rollback.core.models import AlarmNow


@pytest.fixture
def cloudwatch(aws: Any) -> Any:
    client = boto3.client("cloudwatch")
    client.put_metric_alarm(
        AlarmName="rollback",
        Namespace="CanaryRollback",
        MetricName="ProbeFailures",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    return client


def test_a_firing_alarm(cloudwatch: Any) -> None:
    cloudwatch.set_alarm_state(AlarmName="rollback", StateValue="ALARM", StateReason="test")
    assert AlarmReader(cloudwatch).now("rollback") == AlarmNow(known=True, state="ALARM")


def test_an_alarm_cloudwatch_does_not_know(cloudwatch: Any) -> None:
    assert AlarmReader(cloudwatch).now("deleted-alarm") == AlarmNow(known=False)


def test_active_and_deregistered_revisions(aws: Any) -> None:
    ecs = boto3.client("ecs")
    arns = [
        ecs.register_task_definition(
            family="hokusai-api-development",
            containerDefinitions=[{"name": "api", "image": "hokusai/api:main", "memory": 512}],
        )["taskDefinition"]["taskDefinitionArn"]
        for _ in range(2)
    ]
    ecs.deregister_task_definition(taskDefinition=arns[0])
    gateway = EcsGateway(ecs)
    assert gateway.is_deployable(arns[1]) is True
    assert gateway.is_deployable(arns[0]) is False  # INACTIVE


def test_a_revision_ecs_will_not_describe_is_not_active_never_an_error(aws: Any) -> None:
    # moto answers ClientException for a revision it does not know, as ECS does for a deleted one
    unknown = "arn:aws:ecs:us-east-1:123456789012:task-definition/hokusai-api-development:99"
    assert EcsGateway(boto3.client("ecs")).is_deployable(unknown) is False
