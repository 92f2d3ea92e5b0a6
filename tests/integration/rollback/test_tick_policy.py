"""The reconcile tick and the stop of a gated deployment make only calls RollbackFunction's policy allows: each
recorded call is checked as IAM would for template.yaml (the action, the ARN built from the request, the
conditions), with the policy check of tests/integration/test_template.py."""

from __future__ import annotations

from typing import Any

from canary_rollback.aws.clients import AwsClients
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE
from demo.world.local_aws import ACCOUNT, REGION
from tests.integration.conftest import make_known_good
from tests.integration.rollback.conftest import fire, tick
from tests.integration.test_template import _permits, _resource_arns, _statements, resolver


def resource_arns(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """The service-deployment operations, as the ECS service authorization reference scopes them."""
    if (service, operation) == ("ecs", "ListServiceDeployments"):
        return [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{params['cluster']}/{params['service']}"]
    if (service, operation) == ("ecs", "StopServiceDeployment"):
        return [params["serviceDeploymentArn"]]
    return _resource_arns(service, operation, params)


def test_every_call_of_a_tick_that_stops_a_gated_deployment_is_allowed(world: Any) -> None:
    # Given RollbackFunction with every AWS call recorded, and a BLUE_GREEN deployment ECS would not roll back
    calls: list[tuple[str, str, dict[str, Any]]] = []
    clients = AwsClients(on_call=lambda *call: calls.append(call))
    runtime = build_runtime(
        world.stack.environment("RollbackFunction"), need_probes=False, clients=clients, clock=world.clock
    )
    rollback_handler.application.set(RollbackApplication(runtime))
    make_known_good(world)
    world.simulator.with_service_deployments()
    world.simulator.gate(CLUSTER, SERVICE, "BLUE_GREEN", ())
    world.deploy(34)
    world.minute()

    # When a quiet tick, then a tick with the alarm firing, decide
    assert tick(world)["action"] == "quiet"
    fire(world)
    assert tick(world)["action"] == "rolled_back"

    # Then IAM allows each call on the resource it names
    names = world.stack.alarm_names
    statements = _statements(
        "RollbackFunction",
        resolver(
            NotifyTopic=world.stack.topic_arn,
            **{
                "RollbackAlarm.Arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{names['RollbackAlarm']}",
                "FastRollbackAlarm.Arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{names['FastRollbackAlarm']}",
                "StateTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{world.stack.table_name}",
            },
        ),
    )
    checked = set()
    for service, operation, params in calls:
        action = f"{'cloudwatch' if service == 'monitoring' else service}:{operation}"
        for arn in resource_arns(service, operation, params):
            assert any(_permits(s, action, arn, params) for s in statements), f"{action} on {arn} is not allowed"
        checked.add(action)
    assert {"cloudwatch:DescribeAlarms", "ecs:ListServiceDeployments", "ecs:StopServiceDeployment"} <= checked
    assert "ecs:UpdateService" not in checked
