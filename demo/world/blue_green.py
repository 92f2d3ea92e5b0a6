"""ECS's side of a BLUE_GREEN deployment with a lifecycle hook, SIMULATED: moto implements no deployment
strategies, test listeners or lifecycle hooks (docs/gate.md).

The simulation invokes the real hook handler at each lifecycle stage with the event shape the AWS documentation
gives ("Lambda hooks for Amazon ECS service deployments"), calls it again after `callBackDelay` with the returned
`hookDetails` merged in, routes a second loopback "ALB test listener" to the green revision, and rolls the
deployment back when the hook answers FAILED (a rollback re-invokes TEST_TRAFFIC_SHIFT with the green revision's
weight at 0, as ECS does). What it does is told to `note(event, evidence)`, each line labelled as simulated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from canary_rollback.handlers import hook as hook_handler
from demo.world.lambda_context import FakeLambdaContext
from demo.world.local_aws import ACCOUNT, REGION
from demo.world.service import CLUSTER, SERVICE
from demo.world.services import LoopbackAlb
from demo.world.world import World

Note = Callable[[str, str], None]

SIMULATED = "[simulated ECS]"
STAGES = (
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
)
_REVISION_PREFIX = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/{CLUSTER}/{SERVICE}/"
BLUE_REVISION = _REVISION_PREFIX + "1920498462936580504"  # :31's service revision
GREEN_REVISION = _REVISION_PREFIX + "9313423515462893900"  # :34's
MAX_CALLS_PER_STAGE = 20


@dataclass(frozen=True)
class HookCall:
    stage: str
    answer: dict[str, Any]


@dataclass
class BlueGreenDeployment:
    """One simulated BLUE_GREEN deployment of `green` over the service's current revision, hook attached."""

    world: World
    test_listener: LoopbackAlb
    green: int
    note: Note  # (event, evidence) of each step, for whoever tells the story
    calls: list[HookCall] = field(default_factory=list)
    production_served: list[str] = field(default_factory=list)  # task definition ARNs, one per observation
    test_listener_routes: list[tuple[str, bool]] = field(default_factory=list)  # (revision, MLflow route answers)
    rolled_back: bool = False
    deployment_arn: str = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{CLUSTER}/{SERVICE}/EZe5RNVLH6PPzHXINuP28"

    def run(self) -> str:
        """Walk the lifecycle; returns `completed` or `rolled_back`."""
        world = self.world
        world.deploy(self.green)  # UpdateService starts the deployment, as a pipeline would
        self.note(
            f"Deploy :{self.green} (BLUE_GREEN, hook attached)",
            f"UpdateService -> :{self.green}; the deployment below is {SIMULATED}",
        )
        for index, stage in enumerate(STAGES):
            if index:
                world.at(world.clock() + timedelta(seconds=30))  # each stage takes its time in real ECS too
            self.observe_production()
            if stage == "POST_SCALE_UP":
                self.note(f"{SIMULATED} green tasks running", f":{self.green} started; no traffic reaches it yet")
            if stage == "TEST_TRAFFIC_SHIFT":
                self._route_test_listener(to_green=True)
            if stage == "PRODUCTION_TRAFFIC_SHIFT":
                world.advance_rollout()  # production now reaches green
            answer = self._invoke_until_settled(stage, self._weights(stage, green_share=100))
            if answer["hookStatus"] == "FAILED":
                self._roll_back()
                return "rolled_back"
        self.observe_production()
        return "completed"

    # ---- ECS's behaviour, simulated ------------------------------------------------------------------
    def _weights(self, stage: str, green_share: int) -> tuple[dict[str, int], dict[str, int]]:
        """(testTrafficWeights, productionTrafficWeights) as the documented payloads carry them per stage."""
        shares = {GREEN_REVISION: green_share, BLUE_REVISION: 100 - green_share}
        if stage == "TEST_TRAFFIC_SHIFT":
            return shares, {}
        if stage == "PRODUCTION_TRAFFIC_SHIFT":
            return {}, shares
        return {}, {}

    def _event(self, stage: str, weights: tuple[dict[str, int], dict[str, int]], details: dict[str, Any]) -> Any:
        event: dict[str, Any] = {
            "executionId": f"demo-{stage.lower()}-{len(self.calls)}",
            "lifecycleStage": stage,
            "resourceArn": self.deployment_arn,
            "executionDetails": {
                "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{SERVICE}",
                "targetServiceRevisionArn": GREEN_REVISION,
                "testTrafficWeights": weights[0],
                "productionTrafficWeights": weights[1],
            },
        }
        if details:
            event["hookDetails"] = details
        return event

    def _invoke_until_settled(self, stage: str, weights: tuple[dict[str, int], dict[str, int]]) -> dict[str, Any]:
        details: dict[str, Any] = {}
        for _ in range(MAX_CALLS_PER_STAGE):
            answer: dict[str, Any] = hook_handler.handler(
                self._event(stage, weights, details), FakeLambdaContext("DeploymentHookFunction")
            )
            self.calls.append(HookCall(stage, answer))
            self.note(f"{SIMULATED} {stage}", f"hook -> {answer['hookStatus']} {brief(answer)}")
            if answer["hookStatus"] != "IN_PROGRESS":
                return answer
            # ECS waits callBackDelay, then invokes again with the returned hookDetails merged into the event
            self.world.at(self.world.clock() + timedelta(seconds=int(answer.get("callBackDelay", 30))))
            details = {**details, **answer.get("hookDetails", {})}
        raise RuntimeError(f"{stage}: the hook never settled in {MAX_CALLS_PER_STAGE} calls")

    def _route_test_listener(self, to_green: bool) -> None:
        revision = self.world.revisions[self.green] if to_green else self.world.current_revision()
        self.test_listener.routes.mlflow_routed = revision not in self.world.broken_route_revisions
        label = f":{self.green}" if to_green else self.world.label(revision)
        self.test_listener_routes.append((label, self.test_listener.routes.mlflow_routed))
        route = "routed" if self.test_listener.routes.mlflow_routed else "404 (route broken)"
        self.note(f"{SIMULATED} test listener -> {label}", f"/api/mlflow through the test listener: {route}")

    def _roll_back(self) -> None:
        world = self.world
        world.at(world.clock() + timedelta(seconds=5))
        # There is no ROLLBACK stage: ECS re-invokes TEST_TRAFFIC_SHIFT with green's weight back at 0.
        self._invoke_until_settled("TEST_TRAFFIC_SHIFT", self._weights("TEST_TRAFFIC_SHIFT", green_share=0))
        back_on = world.simulator.roll_back_deployment(CLUSTER, SERVICE)
        self._route_test_listener(to_green=False)
        self.note(
            f"{SIMULATED} deployment rolled back",
            f"green :{self.green} tasks stopped; service on {world.label(back_on)}; production never left it",
        )
        self.rolled_back = True
        self.observe_production()

    def observe_production(self) -> None:
        """Note which revision serves production now (the gate's promise: never the green one)."""
        self.production_served.append(self.world.simulator.serving_revision(CLUSTER, SERVICE))


def brief(answer: dict[str, Any]) -> str:
    """A hook answer's evidence in a few words, for people."""
    details = answer.get("hookDetails", {})
    if "probe" in details:
        return f"({details['probe']} {details.get('status') or details.get('reason')} at {details.get('url')})"
    if "passes" in details:
        return f"(passes {details['passes']})"
    return f"({details['note']})" if "note" in details else ""
