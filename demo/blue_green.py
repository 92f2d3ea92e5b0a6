"""`make demo SCENARIO=blue-green`: the same broken :34, deployed BLUE_GREEN with the gate as its lifecycle hook.

ECS's side is SIMULATED and labelled so in the timeline: moto implements no deployment strategies, test
listeners or lifecycle hooks (README, "Limits"). The simulation invokes the real hook handler at each lifecycle
stage with the event shape the AWS documentation gives ("Lambda hooks for Amazon ECS service deployments"),
calls it again after `callBackDelay` with the returned `hookDetails` merged in, routes a second loopback
"ALB test listener" to the green revision, and rolls the deployment back when the hook answers FAILED (a
rollback re-invokes TEST_TRAFFIC_SHIFT with the green revision's weight at 0, as ECS does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from canary_rollback.handlers import hook as hook_handler
from canary_rollback.runtime import build_runtime
from demo.lambda_context import FakeLambdaContext
from demo.local_aws import ACCOUNT, REGION
from demo.services import LoopbackAlb
from demo.template import load_template
from demo.world import CLUSTER, SERVICE, IncidentWorld

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


@dataclass
class HookCall:
    stage: str
    answer: dict[str, Any]


@dataclass
class BlueGreenDeployment:
    """One simulated BLUE_GREEN deployment of `green` over the service's current revision, hook attached."""

    world: IncidentWorld
    test_listener: LoopbackAlb
    green: int
    calls: list[HookCall] = field(default_factory=list)
    production_served: list[str] = field(default_factory=list)  # task definition ARNs, one per observation
    rolled_back: bool = False
    deployment_arn: str = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{CLUSTER}/{SERVICE}/EZe5RNVLH6PPzHXINuP28"

    def run(self) -> str:
        """Walk the lifecycle; returns `completed` or `rolled_back`."""
        world = self.world
        world.deploy(self.green)  # UpdateService starts the deployment, as a pipeline would
        world.record(
            f"Deploy :{self.green} (BLUE_GREEN, hook attached)",
            f"UpdateService -> :{self.green}; the deployment below is {SIMULATED}",
        )
        for index, stage in enumerate(STAGES):
            if index:
                world.at(world.clock() + timedelta(seconds=30))  # each stage takes its time in real ECS too
            self._observe_production()
            if stage == "POST_SCALE_UP":
                world.record(f"{SIMULATED} green tasks running", f":{self.green} started; no traffic reaches it yet")
            if stage == "TEST_TRAFFIC_SHIFT":
                self._route_test_listener(to_green=True)
            if stage == "PRODUCTION_TRAFFIC_SHIFT":
                world.advance_rollout()  # production now reaches green
            answer = self._invoke_until_settled(stage, self._weights(stage, green_share=100))
            if answer["hookStatus"] == "FAILED":
                self._roll_back()
                return "rolled_back"
        self._observe_production()
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
            self.world.record(f"{SIMULATED} {stage}", f"hook -> {answer['hookStatus']} {_brief(answer)}")
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
        route = "routed" if self.test_listener.routes.mlflow_routed else "404 (route broken)"
        self.world.record(f"{SIMULATED} test listener -> {label}", f"/api/mlflow through the test listener: {route}")

    def _roll_back(self) -> None:
        world = self.world
        world.at(world.clock() + timedelta(seconds=5))
        # There is no ROLLBACK stage: ECS re-invokes TEST_TRAFFIC_SHIFT with green's weight back at 0.
        self._invoke_until_settled("TEST_TRAFFIC_SHIFT", self._weights("TEST_TRAFFIC_SHIFT", green_share=0))
        back_on = world.simulator.roll_back_deployment(CLUSTER, SERVICE)
        self._route_test_listener(to_green=False)
        world.record(
            f"{SIMULATED} deployment rolled back",
            f"green :{self.green} tasks stopped; service on {world.label(back_on)}; production never left it",
        )
        self.rolled_back = True
        self._observe_production()

    def _observe_production(self) -> None:
        self.production_served.append(self.world.simulator.serving_revision(CLUSTER, SERVICE))


def _brief(answer: dict[str, Any]) -> str:
    details = answer.get("hookDetails", {})
    if "probe" in details:
        return f"({details['probe']} {details.get('status') or details.get('reason')} at {details.get('url')})"
    if "passes" in details:
        return f"(passes {details['passes']})"
    return f"({details['note']})" if "note" in details else ""


def gate_probes(production: LoopbackAlb, test_listener: LoopbackAlb) -> list[dict[str, Any]]:
    """The seed's two probes, each with a `test_url`: the same route through the test listener."""
    probes = production.probes()
    for probe in probes:
        probe["test_url"] = test_listener.url + probe["url"].removeprefix(production.url)
    return probes


def install_hook(world: IncidentWorld, test_listener: LoopbackAlb) -> None:
    """The DeploymentHookFunction's environment: the stack's, plus its own variables at the template's defaults."""
    parameters = load_template()["Parameters"]
    env = {
        **world.stack.function_env,
        "PROBES": json.dumps(gate_probes(world.alb, test_listener)),
        "HOOK_PASSES_REQUIRED": str(parameters["HookPassesRequired"]["Default"]),
        "HOOK_INTERVAL_SECONDS": str(parameters["HookIntervalSeconds"]["Default"]),
    }
    hook_handler.runtime.set(build_runtime(env, clock=world.clock))


def uninstall_hook() -> None:
    hook_handler.runtime.set(None)


def run_blue_green(world: IncidentWorld) -> Any:
    """The scenario: :31 known-good, then :34 (route broken) deployed BLUE_GREEN; the gate must stop it."""
    from demo.scenarios import ScenarioResult, _healthy_period

    world.record("Stack deployed", f"{CLUSTER}/{SERVICE} running {world.label(world.current_revision())}")
    _healthy_period(world, minutes=4)
    world.broken_route_revisions.add(world.revisions[34])
    with LoopbackAlb() as test_listener:
        install_hook(world, test_listener)
        try:
            world.minute()
            deployment = BlueGreenDeployment(world, test_listener, green=34)
            outcome = deployment.run()
        finally:
            uninstall_hook()

    decisions: list[dict[str, Any]] = []
    for _ in range(3):  # production afterwards: scheduled probes, the rollback alarm evaluated as CloudWatch would
        world.minute()
        _, response = world.evaluate_rollback_alarm()
        if response is not None:
            decisions.append(response)
            world.record(f"Rollback decision: {response['action']}", response["reason"])
        report = world.probe_run()
        deployment.production_served.append(world.simulator.serving_revision(CLUSTER, SERVICE))
        status = "passed" if report["ok"] else "FAILED"
        world.record(
            f"Probe run {status}",
            ", ".join(f"{p['name']} {p['status'] or p['reason']}" for p in report["probes"])
            + f" (production on {world.label(world.current_revision())})",
        )

    notifications = world.stack.notifications()
    served = sorted({world.label(arn) for arn in deployment.production_served})
    current = world.current_revision()
    summary: dict[str, Any] = {
        "scenario": "blue-green",
        "deployment": outcome,
        "service now on": world.label(current),
        "production saw": ", ".join(served),
        "hook answers": [
            f"{call.stage}: {call.answer['hookStatus']} {_brief(call.answer)}" for call in deployment.calls
        ],
        "rollback alarm": f"{world.alarm_state} (hook metrics carry Stage and no ProbeFailures)",
        "notified": [n["subject"] for n in notifications],
    }
    ok, verdict = _judge(world, deployment, outcome, current, decisions, notifications)
    return ScenarioResult("blue-green", ok, verdict, world.timeline, summary, notifications)


def _judge(
    world: IncidentWorld,
    deployment: BlueGreenDeployment,
    outcome: str,
    current: str,
    decisions: list[dict[str, Any]],
    notifications: list[dict[str, str]],
) -> tuple[bool, str]:
    green = world.revisions[deployment.green]
    failed = [call.stage for call in deployment.calls if call.answer["hookStatus"] == "FAILED"]
    if green in deployment.production_served:
        return False, f":{deployment.green} served production traffic"
    if outcome != "rolled_back" or failed != ["POST_TEST_TRAFFIC_SHIFT"]:
        return False, f"expected the gate to fail POST_TEST_TRAFFIC_SHIFT; deployment {outcome}, FAILED at {failed}"
    if current != world.revisions[31]:
        return False, f"service on {world.label(current)}, not :31"
    if decisions or world.alarm_state == "ALARM":
        return False, "the rollback alarm fired although ECS had already rolled the deployment back"
    if not any("deployment gate FAILED" in n["subject"] for n in notifications):
        return False, "the failed gate was not notified"
    return (
        True,
        f"the gate failed :{deployment.green} at POST_TEST_TRAFFIC_SHIFT; :{deployment.green} never in production",
    )
