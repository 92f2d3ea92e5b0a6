"""The incident's world, driven minute by minute on a simulated clock through the real handlers.

ECS: cluster hokusai-development, service hokusai-api, family hokusai-api-development revisions 1..34.
The loopback ALB answers 404 on the MLflow route while a revision with the broken routing serves traffic.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from canary_rollback.handlers import probe as probe_handler
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.idempotency import RollbackApplication
from canary_rollback.runtime import build_runtime
from demo.alarm_evaluator import Evaluation, evaluate_alarm, state_change_event
from demo.ecs_simulator import EcsRolloutSimulator
from demo.lambda_context import FakeLambdaContext
from demo.local_aws import ACCOUNT, REGION
from demo.services import LoopbackAlb
from demo.stack import LocalStack, create_local_stack
from demo.template import load_template

CLUSTER = "hokusai-development"
SERVICE = "hokusai-api"
FAMILY = "hokusai-api-development"


class SimClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment


@dataclass
class TimelineEntry:
    at: datetime
    event: str
    evidence: str


def eventbridge_rule_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge matching for the pattern forms the template uses: lists of exact values, nested objects."""
    for key, expected in pattern.items():
        if key not in event:
            return False
        actual = event[key]
        if isinstance(expected, dict):
            if not isinstance(actual, dict) or not eventbridge_rule_matches(expected, actual):
                return False
        elif isinstance(actual, list):
            if not set(actual) & set(expected):
                return False
        elif actual not in expected:
            return False
    return True


@dataclass
class IncidentWorld:
    stack: LocalStack
    simulator: EcsRolloutSimulator
    alb: LoopbackAlb
    clock: SimClock
    revisions: dict[int, str]
    rule_pattern: dict[str, Any]
    broken_route_revisions: set[str] = field(default_factory=set)
    route_broken_everywhere: bool = False
    broken_digests: set[str] = field(default_factory=set)  # images that break the route wherever they run
    timeline: list[TimelineEntry] = field(default_factory=list)
    alarm_state: str = "INSUFFICIENT_DATA"
    probe_reports: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    on_entry: Callable[[TimelineEntry], None] | None = None

    # ---- set-up ------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        alb: LoopbackAlb,
        parameters: dict[str, str] | None = None,
        start: datetime | None = None,
        image_for: Callable[[int], str] | None = None,
    ) -> IncidentWorld:
        """`image_for(revision)`: the image each revision names (default `hokusai/api:build-N`)."""
        probes = json.dumps(alb.probes())
        stack = create_local_stack("canary-rollback", {"Probes": probes, **(parameters or {})})
        stack.function_env["METRICS_SINK"] = "cloudwatch"  # metrics into the local CloudWatch for the alarm
        ecs = boto3.client("ecs")
        ecs.create_cluster(clusterName=CLUSTER)
        revisions: dict[int, str] = {}
        for revision in range(1, 35):
            response = ecs.register_task_definition(
                family=FAMILY,
                containerDefinitions=[
                    {
                        "name": "api",
                        "image": image_for(revision) if image_for else f"hokusai/api:build-{revision}",
                        "memory": 512,
                        "essential": True,
                        "portMappings": [{"containerPort": 8001}],
                    }
                ],
                executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/hokusai-api-execution",
                requiresCompatibilities=["FARGATE"],
                networkMode="awsvpc",
                cpu="256",
                memory="512",
            )
            revisions[revision] = response["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=f"{FAMILY}:31", desiredCount=2)
        simulator = EcsRolloutSimulator(REGION, ACCOUNT)
        simulator.settle(CLUSTER, SERVICE)
        pattern = load_template()["Resources"]["RollbackFunction"]["Properties"]["Events"]["AlarmState"]
        rule = dict(pattern["Properties"]["Pattern"])
        alarm = boto3.client("cloudwatch").describe_alarms(AlarmNames=[stack.alarm_names["RollbackAlarm"]])
        rule["resources"] = [alarm["MetricAlarms"][0]["AlarmArn"]]
        real_now = datetime.now(UTC) - timedelta(days=1)
        clock = SimClock(start or real_now.replace(hour=18, minute=30, second=0, microsecond=0))
        world = cls(stack, simulator, alb, clock, revisions, rule)
        probe_handler.runtime.set(build_runtime(stack.function_env, clock=clock))
        rollback_handler.application.set(
            RollbackApplication(build_runtime(stack.function_env, need_probes=False, clock=clock))
        )
        return world

    def close(self) -> None:
        probe_handler.runtime.set(None)
        rollback_handler.application.set(None)
        self.simulator.close()

    # ---- observation -------------------------------------------------------------------------------
    def record(self, event: str, evidence: str = "") -> None:
        entry = TimelineEntry(self.clock(), event, evidence)
        self.timeline.append(entry)
        if self.on_entry is not None:
            self.on_entry(entry)

    def current_revision(self) -> str:
        service = boto3.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
        return str(service["taskDefinition"])

    def label(self, arn: str | None) -> str:
        if arn is None:
            return "none"
        for revision, known in self.revisions.items():
            if known == arn:
                return f":{revision}"
        return arn.rsplit("/", 1)[-1]

    # ---- actions -----------------------------------------------------------------------------------
    def at(self, moment: datetime) -> None:
        self.clock.set(moment)

    def sync_routes(self) -> None:
        serving = self.simulator.serving_revision(CLUSTER, SERVICE)
        routed = not self.route_broken_everywhere and serving not in self.broken_route_revisions
        if self.broken_digests and self.simulator.serving_digests(CLUSTER, SERVICE) & self.broken_digests:
            routed = False  # the tasks run an image that breaks the route, whatever revision named it
        self.alb.routes.mlflow_routed = routed

    def deploy(self, revision: int) -> None:
        self.simulator.deploy(CLUSTER, SERVICE, self.revisions[revision])

    def advance_rollout(self) -> str:
        outcome = self.simulator.advance(CLUSTER, SERVICE)
        self.sync_routes()
        return outcome

    def probe_run(self) -> dict[str, Any]:
        self.sync_routes()
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/canary-rollback-ProbeSchedule"],
            "detail": {},
        }
        report: dict[str, Any] = probe_handler.handler(event, FakeLambdaContext("ProbeFunction"))
        self.probe_reports.append((self.clock(), report))
        return report

    def evaluate_rollback_alarm(self) -> tuple[Evaluation, dict[str, Any] | None]:
        """Evaluate the template's rollback alarm; on a state change, deliver it as EventBridge would."""
        cloudwatch = boto3.client("cloudwatch")
        name = self.stack.alarm_names["RollbackAlarm"]
        alarm: dict[str, Any] = dict(cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0])
        evaluation = evaluate_alarm(alarm, cloudwatch, self.clock())
        if evaluation.state == self.alarm_state:
            return evaluation, None
        previous, self.alarm_state = self.alarm_state, evaluation.state
        cloudwatch.set_alarm_state(
            AlarmName=name,
            StateValue=evaluation.state,  # type: ignore[arg-type]
            StateReason=evaluation.reason[:1000],
        )
        event = state_change_event(alarm, evaluation, previous, self.clock(), REGION, ACCOUNT)
        if not eventbridge_rule_matches(self.rule_pattern, event):
            return evaluation, None  # the rule only forwards ALARM
        response: dict[str, Any] = rollback_handler.handler(event, FakeLambdaContext("RollbackFunction"))
        return evaluation, response

    def minute(self) -> datetime:
        self.clock.set(self.clock() + timedelta(minutes=1))
        return self.clock()
