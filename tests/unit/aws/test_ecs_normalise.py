"""Task definitions are normalised to ARNs whatever DescribeServices echoes (moto echoes `family:rev`)."""

from __future__ import annotations

import pytest

from canary_rollback.aws.ecs import deployment_strategy, observation_from_service, task_definition_arn
from canary_rollback.core.errors import EcsError
from tests.support.builders import SERVICE_ARN, rev


def test_family_revision_becomes_an_arn_in_the_service_account_and_region() -> None:
    assert task_definition_arn("hokusai-api-development:31", SERVICE_ARN) == rev(31)
    assert task_definition_arn(rev(31), SERVICE_ARN) == rev(31)
    gov = "arn:aws-us-gov:ecs:us-gov-west-1:111122223333:service/c/s"
    assert task_definition_arn("f:2", gov) == "arn:aws-us-gov:ecs:us-gov-west-1:111122223333:task-definition/f:2"


def test_unparseable_service_arn_is_a_clear_error() -> None:
    with pytest.raises(EcsError, match="unexpected service ARN"):
        task_definition_arn("f:1", "not-an-arn")


def test_observation_from_a_describe_services_answer() -> None:
    service = {
        "serviceArn": SERVICE_ARN,
        "taskDefinition": "hokusai-api-development:34",
        "desiredCount": 2,
        "runningCount": 2,
        "deployments": [
            {
                "status": "PRIMARY",
                "taskDefinition": "hokusai-api-development:34",
                "rolloutState": "COMPLETED",
                "runningCount": 2,
                "desiredCount": 2,
            }
        ],
    }
    observation = observation_from_service(service)
    assert observation.task_definition_arn == rev(34)
    assert observation.steady


@pytest.mark.parametrize(
    ("service", "strategy"),
    [
        ({}, "ROLLING"),
        ({"deploymentConfiguration": {"strategy": "BLUE_GREEN"}}, "BLUE_GREEN"),
        ({"deploymentConfiguration": {"strategy": "CANARY"}, "deploymentController": {"type": "ECS"}}, "CANARY"),
        ({"deploymentController": {"type": "CODE_DEPLOY"}}, "CODE_DEPLOY"),
        ({"deploymentConfiguration": {"maximumPercent": 200}}, "ROLLING"),
    ],
)
def test_deployment_strategy(service: dict[str, object], strategy: str) -> None:
    assert deployment_strategy(service) == strategy
