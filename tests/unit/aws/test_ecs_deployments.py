"""What DescribeServices says about deployments, as the decision needs it: when each started, its id and
rollout reason, and the alarms ECS itself rolls a deployment back on. No network."""

from __future__ import annotations

from datetime import UTC, datetime

from canary_rollback.aws.ecs import deployment_alarms, observation_from_service

SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/hokusai-development/hokusai-api"
STARTED = datetime(2026, 11, 26, 19, 10, tzinfo=UTC)


def service(**configuration: object) -> dict[str, object]:
    return {
        "serviceArn": SERVICE_ARN,
        "taskDefinition": "hokusai-api-development:34",
        "desiredCount": 2,
        "runningCount": 2,
        "deploymentConfiguration": configuration,
        "deployments": [
            {
                "id": "ecs-svc/1",
                "status": "PRIMARY",
                "taskDefinition": "hokusai-api-development:34",
                "rolloutState": "FAILED",
                "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
                "createdAt": STARTED,
                "runningCount": 0,
                "desiredCount": 2,
            }
        ],
    }


def test_deployment_id_start_and_rollout_reason_are_kept() -> None:
    (deployment,) = observation_from_service(service()).deployments
    assert deployment.deployment_id == "ecs-svc/1"
    assert deployment.created_at == STARTED
    assert deployment.rollout_state_reason == "ECS deployment circuit breaker: tasks failed to start."
    assert observation_from_service(service()).deployment_started_at == STARTED


def test_ecs_rolls_back_on_its_deployment_alarms_only_when_enabled_with_rollback() -> None:
    names = ["stack-RollbackAlarm", "stack-FastRollbackAlarm"]
    on = service(strategy="BLUE_GREEN", alarms={"alarmNames": names, "enable": True, "rollback": True})
    assert deployment_alarms(on) == tuple(names)
    assert observation_from_service(on).ecs_rolls_back_on("stack-RollbackAlarm")
    assert deployment_alarms(service(alarms={"alarmNames": names, "enable": True, "rollback": False})) == ()
    assert deployment_alarms(service(alarms={"alarmNames": names, "enable": False, "rollback": True})) == ()
    assert deployment_alarms(service()) == ()
