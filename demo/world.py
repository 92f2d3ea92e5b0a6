"""The incident's world, driven minute by minute on a simulated clock through the real handlers.

A deployment watch runs inside ProbeFunction's invocation and sleeps between rounds; here its sleep advances
the simulated clock in 10-second ticks, and `on_tick` lets the scenario move the rest of the world meanwhile
(rollouts, scheduled runs, alarm evaluation), exactly as if the watch ran in a Lambda of its own.

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
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from canary_rollback.watch.lease import DEPLOYMENT_DETAIL_TYPE, DEPLOYMENT_SOURCE
from demo.alarm_evaluator import Evaluation, evaluate_alarm, state_change_event
from demo.ecs_simulator import DeploymentStateChange, EcsRolloutSimulator
from demo.lambda_context import FakeLambdaContext
from demo.local_aws import ACCOUNT, REGION
from demo.services import LoopbackAlb
from demo.stack import LocalStack, create_local_stack
from demo.template import load_template

CLUSTER = "hokusai-development"
SERVICE = "hokusai-api"
FAMILY = "hokusai-api-development"
EXECUTION_ROLE = "hokusai-api-execution"
ECS_TASKS_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
TICK_SECONDS = 10  # the watch's interval and the fast alarm's period: the world moves on this grid


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
    # ---- the deployment watch (additive) ----
    watch_pattern: dict[str, Any] = field(default_factory=dict)
    probe_timeout_seconds: int = 60
    alarm_states: dict[str, str] = field(default_factory=dict)
    completed_at: dict[str, datetime] = field(default_factory=dict)  # task definition -> when its rollout completed
    watch_responses: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    decisions: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)  # the scenario's record
    on_tick: Callable[[], None] | None = None
    _failing_rounds: int = 0  # consecutive failing watch rounds, to keep the timeline short

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
                executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION_ROLE}",
                requiresCompatibilities=["FARGATE"],
                networkMode="awsvpc",
                cpu="256",
                memory="512",
            )
            revisions[revision] = response["taskDefinition"]["taskDefinitionArn"]
        # The execution role every revision names exists, as in a real account (the readiness check looks it up).
        boto3.client("iam").create_role(RoleName=EXECUTION_ROLE, AssumeRolePolicyDocument=ECS_TASKS_TRUST)
        ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=f"{FAMILY}:31", desiredCount=2)
        simulator = EcsRolloutSimulator(REGION, ACCOUNT)
        simulator.settle(CLUSTER, SERVICE)
        template = load_template()
        pattern = template["Resources"]["RollbackFunction"]["Properties"]["Events"]["AlarmState"]
        rule = dict(pattern["Properties"]["Pattern"])
        rule["resources"] = [
            alarm["AlarmArn"]
            for alarm in boto3.client("cloudwatch").describe_alarms(
                AlarmNames=[stack.alarm_names[name] for name in ("RollbackAlarm", "FastRollbackAlarm")]
            )["MetricAlarms"]
        ]
        real_now = datetime.now(UTC) - timedelta(days=1)
        clock = SimClock(start or real_now.replace(hour=18, minute=30, second=0, microsecond=0))
        world = cls(stack, simulator, alb, clock, revisions, rule)
        probe = template["Resources"]["ProbeFunction"]["Properties"]
        watch = dict(probe["Events"]["DeploymentEvents"]["Properties"]["Pattern"])
        watch["resources"] = [ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["serviceArn"]]
        world.watch_pattern = watch
        world.probe_timeout_seconds = int(probe["Timeout"])
        probe_runtime = build_runtime(stack.function_env, clock=clock)
        probe_runtime.monotonic = world.sim_monotonic
        probe_runtime.sleep = world.sim_sleep
        probe_runtime.on_watch_round = world.note_watch_round
        probe_handler.runtime.set(probe_runtime)
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
        if outcome == "completed":
            self.completed_at[self.current_revision()] = self.clock()
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
        return self.evaluate_alarm("RollbackAlarm")

    def evaluate_alarm(self, logical_id: str) -> tuple[Evaluation, dict[str, Any] | None]:
        """Evaluate one of the template's alarms; on a state change, deliver it as EventBridge would."""
        cloudwatch = boto3.client("cloudwatch")
        name = self.stack.alarm_names[logical_id]
        alarm: dict[str, Any] = dict(cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0])
        evaluation = evaluate_alarm(alarm, cloudwatch, self.clock())
        known = self.alarm_states.get(logical_id, "INSUFFICIENT_DATA")
        if evaluation.state == known:
            return evaluation, None
        previous = known
        self.alarm_states[logical_id] = evaluation.state
        if logical_id == "RollbackAlarm":
            self.alarm_state = evaluation.state
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

    # ---- the deployment watch ------------------------------------------------------------------------
    def sim_monotonic(self) -> float:
        """The watch's monotonic clock: seconds on the simulated clock."""
        return self.clock().timestamp()

    def sim_sleep(self, seconds: float) -> None:
        """The watch sleeping between rounds: the world goes on, one 10-second tick at a time."""
        target = self.clock() + timedelta(seconds=seconds)
        while True:
            now = self.clock()
            step = TICK_SECONDS - (now.second % TICK_SECONDS) - now.microsecond / 1e6
            tick = now + timedelta(seconds=step)
            if tick > target:
                break
            self.clock.set(tick)
            if self.on_tick is not None:
                self.on_tick()  # may deliver an event whose own watch moves the clock further
        if self.clock() < target:
            self.clock.set(target)

    def rolling(self) -> bool:
        """A deployment of the service is still rolling out (the simulator advances it)."""
        service = boto3.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
        return any(d.get("rolloutState") == "IN_PROGRESS" for d in service.get("deployments", []))

    def deliver_deployment_events(self) -> list[dict[str, Any]]:
        """ECS deployment state changes, through the template's rule, to ProbeFunction (which watches)."""
        responses: list[dict[str, Any]] = []
        for change in self.simulator.take_events():
            event = self.deployment_event(change)
            if not eventbridge_rule_matches(self.watch_pattern, event):
                continue
            self.record(f"ECS: {change.event_name}", f"{self.label(change.task_definition_arn)} -> ProbeFunction")
            context = FakeLambdaContext("ProbeFunction", self.probe_timeout_seconds)
            response: dict[str, Any] = probe_handler.handler(event, context)
            self.watch_responses.append((self.clock(), response))
            if response["action"] == "watched":
                handed = "; handed over to a later event's invocation" if response.get("handed_over") else ""
                self.record(
                    "Deployment watch ended",
                    f"{response['rounds']} rounds, {response['failed_rounds']} failed{handed}",
                )
            else:
                self.record(f"Deployment watch: {response['action']}", response["reason"].split(": ", 1)[-1])
            responses.append(response)
        return responses

    def deployment_event(self, change: DeploymentStateChange) -> dict[str, Any]:
        """The EventBridge event ECS emits (AWS docs, "Amazon ECS service deployment state change events")."""
        stamp = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": DEPLOYMENT_DETAIL_TYPE,
            "source": DEPLOYMENT_SOURCE,
            "account": ACCOUNT,
            "time": stamp,
            "region": REGION,
            "resources": [change.service_arn],
            "detail": {
                "eventType": "ERROR" if change.event_name.endswith("FAILED") else "INFO",
                "eventName": change.event_name,
                "deploymentId": change.deployment_id,
                "updatedAt": stamp,
                "reason": f"ECS deployment {change.deployment_id} {change.event_name.rsplit('_', 1)[-1].lower()}.",
            },
        }

    def note_watch_round(self, watch_round: Any) -> None:
        """Failing watch rounds on the timeline (the first three in a row, then one a minute), and the first
        passing round after them."""
        if not watch_round.ok:
            self._failing_rounds += 1
            if self._failing_rounds <= 3 or self._failing_rounds % 6 == 0:
                self.record(f"Watch round {watch_round.index} FAILED", ", ".join(watch_round.failures))
        elif self._failing_rounds:
            self.record(f"Watch round {watch_round.index} passed", "every probe passed")
            self._failing_rounds = 0
