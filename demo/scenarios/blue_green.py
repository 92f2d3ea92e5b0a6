"""`make demo SCENARIO=blue-green`: the same broken :34, deployed BLUE_GREEN with the gate as its lifecycle hook.

ECS's side is simulated (`demo.world.blue_green`) and labelled so in the timeline. The gate must fail :34 at
POST_TEST_TRAFFIC_SHIFT through the test listener, ECS rolls back, production never leaves :31, and the rollback
alarm stays out of it (hook metrics carry a Stage and no ProbeFailures).
"""

from __future__ import annotations

from typing import Any

from demo.scenarios.result import Decision, Gate, HookAnswer, Notification, ScenarioResult
from demo.scenarios.steps import (
    BROKEN,
    KNOWN_GOOD,
    Rehearsal,
    Scenario,
    healthy_period,
    notifications_sent,
    result,
    stack_deployed,
)
from demo.world.blue_green import BlueGreenDeployment, brief
from demo.world.functions import install_deployment_hook, uninstall_deployment_hook
from demo.world.services import LoopbackAlb

GATED_STAGE = "POST_TEST_TRAFFIC_SHIFT"  # where the gate probes through the test listener
MINUTES_AFTER = 3


def gate_probes(production: LoopbackAlb, test_listener: LoopbackAlb) -> list[dict[str, Any]]:
    """The seed's two probes, each with a `test_url`: the same route through the test listener."""
    probes = production.probes()
    for probe in probes:
        probe["test_url"] = test_listener.url + probe["url"].removeprefix(production.url)
    return probes


def rehearse(r: Rehearsal) -> ScenarioResult:
    world = r.world
    stack_deployed(r)
    healthy_period(r, minutes=4)
    world.broken_route_revisions.add(world.revisions[BROKEN])
    with LoopbackAlb() as test_listener:
        env = world.stack.environment("DeploymentHookFunction")
        install_deployment_hook(env, gate_probes(world.alb, test_listener), world.clock)
        try:
            world.minute()
            deployment = BlueGreenDeployment(world, test_listener, BROKEN, r.record)
            outcome = deployment.run()
        finally:
            uninstall_deployment_hook()

    for _ in range(MINUTES_AFTER):  # production afterwards: scheduled runs, the rollback alarm as CloudWatch would
        world.minute()
        delivered = world.evaluate_alarm("RollbackAlarm")
        if delivered is not None:
            _, response = delivered
            decision = Decision(
                world.clock(),
                str(response["action"]),
                world.label(response["current"]),
                world.label(response["target"]),
                str(response["reason"]),
            )
            r.decisions.append(decision)
            r.record(f"Rollback decision: {decision.action}", decision.reason)
        report = world.probe_run()
        deployment.observe_production()
        status = "passed" if report["ok"] else "FAILED"
        r.record(
            f"Probe run {status}",
            ", ".join(f"{p['name']} {p['status'] or p['reason']}" for p in report["probes"])
            + f" (production on {world.label(world.current_revision())})",
        )

    notifications = notifications_sent(r)
    gate = Gate(
        deployment=outcome,
        hook_answers=tuple(
            HookAnswer(call.stage, call.answer["hookStatus"], brief(call.answer)) for call in deployment.calls
        ),
        production_saw=tuple(sorted({world.label(arn) for arn in deployment.production_served})),
        test_listener=tuple(deployment.test_listener_routes),
        rollback_alarm=world.alarms.state("RollbackAlarm"),
    )
    summary: dict[str, Any] = {
        "scenario": SCENARIO.name,
        "deployment": gate.deployment,
        "service now on": world.label(world.current_revision()),
        "production saw": ", ".join(gate.production_saw),
        "hook answers": [f"{a.stage}: {a.status} {a.evidence}" for a in gate.hook_answers],
        "rollback alarm": f"{gate.rollback_alarm} (hook metrics carry Stage and no ProbeFailures)",
        "notified": [n.subject for n in notifications],
    }
    ok, verdict = judge(r, deployment, gate, notifications)
    return result(r, SCENARIO.name, ok, verdict, notifications, summary, gate=gate)


def judge(
    r: Rehearsal, deployment: BlueGreenDeployment, gate: Gate, notifications: tuple[Notification, ...]
) -> tuple[bool, str]:
    """The gate failed :34 before production traffic reached it, ECS rolled back, and nothing else acted."""
    world = r.world
    green = world.revisions[deployment.green]
    failed = [answer.stage for answer in gate.hook_answers if answer.status == "FAILED"]
    if green in deployment.production_served:
        return False, f":{deployment.green} served production traffic"
    if gate.deployment != "rolled_back" or failed != [GATED_STAGE]:
        return False, f"expected the gate to fail {GATED_STAGE}; deployment {gate.deployment}, FAILED at {failed}"
    current = world.current_revision()
    if current != world.revisions[KNOWN_GOOD]:
        return False, f"service on {world.label(current)}, not :{KNOWN_GOOD}"
    if r.decisions or gate.rollback_alarm == "ALARM":
        return False, "the rollback alarm fired although ECS had already rolled the deployment back"
    if not any("deployment gate FAILED" in n.subject for n in notifications):
        return False, "the failed gate was not notified"
    return True, f"the gate failed :{deployment.green} at {GATED_STAGE}; :{deployment.green} never in production"


SCENARIO = Scenario("blue-green", rehearse)
