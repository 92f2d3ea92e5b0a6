"""The embedded world, assembled: the stack in moto, the guarded ECS service with its rollout simulator, the
loopback services, the simulated clock, the alarms and the event rules, with the real handlers installed.

It knows no scenario: it offers the moves (deploy, advance a rollout, run the schedule, evaluate an alarm,
deliver ECS's events) and answers questions about itself; scenarios decide the order and tell the story.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3

from demo.world import functions
from demo.world.alarms import AlarmChange, StackAlarms
from demo.world.clock import SimClock, SimTimer, yesterday_evening
from demo.world.delivery import Delivery, EventRule, ForwardedChange
from demo.world.ecs_simulator import EcsRolloutSimulator
from demo.world.function_logs import FunctionLogs
from demo.world.local_aws import ACCOUNT, REGION
from demo.world.service import CLUSTER, SERVICE, ImageFor, build_image, create_execution_role, create_service
from demo.world.services import LoopbackAlb
from demo.world.stack import LocalStack, create_local_stack
from demo.world.template import load_template

ROLLBACK_ALARMS = ("RollbackAlarm", "FastRollbackAlarm")  # the alarms RollbackFunction's rule listens to


@dataclass
class World:
    stack: LocalStack
    simulator: EcsRolloutSimulator
    alb: LoopbackAlb
    clock: SimClock
    timer: SimTimer
    revisions: dict[int, str]  # revision number -> task definition ARN
    alarms: StackAlarms
    delivery: Delivery
    logs: FunctionLogs
    template: dict[str, Any]
    ecs: Any  # boto3 clients the world reads moto with
    cloudwatch: Any
    # Faults of the loopback ALB: a revision (or an image digest) whose tasks break the MLflow route.
    broken_route_revisions: set[str] = field(default_factory=set)
    route_broken_everywhere: bool = False
    broken_digests: set[str] = field(default_factory=set)
    completed_at: dict[str, datetime] = field(default_factory=dict)  # task definition -> when its rollout completed

    @classmethod
    def create(
        cls,
        alb: LoopbackAlb,
        parameters: dict[str, str] | None = None,
        start: datetime | None = None,
        image_for: ImageFor = build_image,
    ) -> World:
        """`parameters`: the stack's, over the template's defaults (its probes point at `alb`)."""
        template = load_template()
        stack = create_local_stack(
            "canary-rollback", {"Probes": json.dumps(alb.probes()), **(parameters or {})}, template
        )
        stack.function_env["METRICS_SINK"] = "cloudwatch"  # metrics into the local CloudWatch for the alarms
        ecs = boto3.client("ecs")
        create_execution_role(boto3.client("iam"))
        revisions = create_service(ecs, image_for)
        clock = SimClock(start or yesterday_evening())
        simulator = EcsRolloutSimulator(REGION, ACCOUNT)
        simulator.clock = clock  # deployments start (createdAt) on the world's clock
        simulator.settle(CLUSTER, SERVICE)
        cloudwatch = boto3.client("cloudwatch")
        alarms = StackAlarms(stack.alarm_names, cloudwatch)
        resources = template["Resources"]
        alarm_rule = dict(resources["RollbackFunction"]["Properties"]["Events"]["AlarmState"]["Properties"]["Pattern"])
        alarm_rule["resources"] = alarms.arns(*ROLLBACK_ALARMS)
        probe = resources["ProbeFunction"]["Properties"]
        deployment_rule = dict(probe["Events"]["DeploymentEvents"]["Properties"]["Pattern"])
        deployment_rule["resources"] = [
            ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["serviceArn"]
        ]
        delivery = Delivery(EventRule(alarm_rule), EventRule(deployment_rule), int(probe["Timeout"]))
        timer = SimTimer(clock)
        functions.install(stack, clock, timer)
        logs = FunctionLogs().listen()
        return cls(stack, simulator, alb, clock, timer, revisions, alarms, delivery, logs, template, ecs, cloudwatch)

    def close(self) -> None:
        self.logs.close()
        functions.uninstall()
        self.simulator.close()

    # ---- questions ---------------------------------------------------------------------------------
    def current_revision(self) -> str:
        """The service's task definition as DescribeServices answers it."""
        return str(self._service()["taskDefinition"])

    def rolling(self) -> bool:
        """A deployment of the service is still rolling out (the simulator advances it)."""
        return any(d.get("rolloutState") == "IN_PROGRESS" for d in self._service().get("deployments", []))

    def label(self, arn: str | None) -> str:
        """`:31` for the family's revisions the world registered, the ARN's last part for any other."""
        if arn is None:
            return "none"
        for revision, known in self.revisions.items():
            if known == arn:
                return f":{revision}"
        return arn.rsplit("/", 1)[-1]

    def _service(self) -> dict[str, Any]:
        service: dict[str, Any] = self.ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
        return service

    # ---- time --------------------------------------------------------------------------------------
    def at(self, moment: datetime) -> None:
        self.clock.set(moment)

    def minute(self) -> datetime:
        return self.clock.advance(60)

    # ---- ECS and the ALB ---------------------------------------------------------------------------
    def deploy(self, revision: int) -> None:
        """What a CI pipeline does: UpdateService to one of the family's revisions."""
        self.simulator.deploy(CLUSTER, SERVICE, self.revisions[revision])

    def advance_rollout(self) -> str:
        """One step of ECS's rollout (completed | failed | steady); the ALB then routes to what serves."""
        outcome = self.simulator.advance(CLUSTER, SERVICE)
        self.sync_routes()
        if outcome == "completed":
            self.completed_at[self.current_revision()] = self.clock()
        return outcome

    def sync_routes(self) -> None:
        serving = self.simulator.serving_revision(CLUSTER, SERVICE)
        routed = not self.route_broken_everywhere and serving not in self.broken_route_revisions
        if self.broken_digests and self.simulator.serving_digests(CLUSTER, SERVICE) & self.broken_digests:
            routed = False  # the tasks run an image that breaks the route, whatever revision named it
        self.alb.routes.mlflow_routed = routed

    # ---- the functions -----------------------------------------------------------------------------
    def probe_run(self) -> dict[str, Any]:
        """The ProbeSchedule rule fires now: ProbeFunction's report."""
        self.sync_routes()
        return self.delivery.scheduled_probe_run(self.clock())

    def rollback_tick(self) -> dict[str, Any]:
        """RollbackFunction's Tick schedule fires now (the reconcile tick: each rollback alarm in ALARM decided
        again)."""
        return self.delivery.rollback_tick(self.clock())

    def evaluate_alarm(self, logical_id: str) -> tuple[AlarmChange, dict[str, Any]] | None:
        """Evaluate one of the template's alarms now; a state change the AlarmState rule forwards reaches
        RollbackFunction: its change and RollbackFunction's answer, else None."""
        change = self.alarms.evaluate(logical_id, self.clock())
        if change is None:
            return None
        response = self.delivery.alarm_state_change(change.event)
        return None if response is None else (change, response)

    def deployment_events(self) -> list[ForwardedChange]:
        """ECS's deployment state changes since the last call that the DeploymentEvents rule forwards."""
        return self.delivery.forwarded(self.simulator.take_events(), self.clock())

    def deliver(self, forwarded: ForwardedChange) -> dict[str, Any]:
        """A forwarded deployment event to ProbeFunction; it may watch (the simulated timer runs meanwhile)."""
        return self.delivery.to_probe_function(forwarded)
