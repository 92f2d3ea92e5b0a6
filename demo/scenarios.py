"""The incident rehearsed, and its variants. Each scenario returns whether the loop closed as it should."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from demo.ecs_simulator import ImageRegistry, fake_digest
from demo.world import CLUSTER, SERVICE, IncidentWorld, TimelineEntry

SCENARIOS = ("incident", "no-known-good", "dry-run", "not-a-deployment", "mutable-tag", "blue-green")
MAX_MINUTES_AFTER_FAULT = 15
DECISION_TARGET_SECONDS = 60  # the deployment watch's goal: decide within a minute of :34 going live


@dataclass
class ScenarioResult:
    name: str
    ok: bool
    verdict: str
    timeline: list[TimelineEntry]
    summary: dict[str, Any] = field(default_factory=dict)
    notifications: list[dict[str, str]] = field(default_factory=list)


# mutable-tag: every revision names the same tag; CI moves it to the broken build before deploying :34.
MUTABLE_TAG = "hokusai/api:main"
GOOD_BUILD = fake_digest("hokusai/api main, Monday's build")
BROKEN_BUILD = fake_digest("hokusai/api main, the routing change")


def world_options(name: str) -> dict[str, Any]:
    """How a scenario's world differs from the incident's (IncidentWorld.create keyword arguments)."""
    if name == "mutable-tag":
        return {"image_for": lambda _revision: MUTABLE_TAG}
    return {}


def short(digest: str | None) -> str:
    return digest[:19] + "..." if digest else "none"


def run_scenario(name: str, world: IncidentWorld) -> ScenarioResult:
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    if name == "blue-green":  # the pre-traffic gate: ECS's side simulated (demo/blue_green.py)
        from demo.blue_green import run_blue_green

        result: ScenarioResult = run_blue_green(world)
        return result
    world.on_tick = lambda: _tick(world)  # the world goes on while a deployment watch sleeps between rounds
    start = world.clock()
    if name == "mutable-tag":
        # Real ECS: tasks report the digest their tag resolved to when their deployment started.
        world.simulator.with_tasks(ImageRegistry({MUTABLE_TAG: GOOD_BUILD}))
        world.broken_digests.add(BROKEN_BUILD)
    if name == "no-known-good":
        world.at(start + timedelta(minutes=38))  # the stack is deployed only now: nothing was ever seen healthy
        world.record("Stack deployed just now", f"{CLUSTER}/{SERVICE} on {world.label(world.current_revision())}")
    else:
        world.record("Stack deployed", f"{CLUSTER}/{SERVICE} running {world.label(world.current_revision())}")
        _healthy_period(world, minutes=5)
        _failed_rollout(world, 32, start + timedelta(minutes=24))
        _failed_rollout(world, 33, start + timedelta(minutes=30))
        _run_until(world, start + timedelta(minutes=38))
    if name == "not-a-deployment":
        world.route_broken_everywhere = True
        world.sync_routes()
        world.record("ALB rule change breaks the MLflow route", "no deployment: the known-good :31 itself answers 404")
        fault_at = world.clock()
        _probe_and_note(world)
    else:
        if name == "mutable-tag":
            assert world.simulator.registry is not None
            world.simulator.registry.push(MUTABLE_TAG, BROKEN_BUILD)
            moved = f"tag moves {short(GOOD_BUILD)} -> {short(BROKEN_BUILD)}; every revision names this tag"
            world.record(f"CI pushes the routing change to {MUTABLE_TAG}", moved)
        else:
            world.broken_route_revisions.add(world.revisions[34])
        world.deploy(34)
        world.record("Deploy :34 (routing change)", f"UpdateService -> {world.label(world.current_revision())}")
        _probe_and_note(world)
        world.deliver_deployment_events()  # ECS announces the deployment: ProbeFunction watches it, in rounds
        _finish_rollout(world)
        fault_at = world.completed_at.get(world.revisions[34], world.clock())  # :34 went live

    decision = _watch(world, fault_at)
    return _verdict(name, world, fault_at, decision)


def _healthy_period(world: IncidentWorld, minutes: int) -> None:
    for _ in range(minutes):
        world.minute()
        _probe_and_note(world)


def _failed_rollout(world: IncidentWorld, revision: int, at: datetime) -> None:
    _run_until(world, at)
    world.simulator.mark_unstartable(world.revisions[revision])
    world.deploy(revision)
    world.record(f"Deploy :{revision}", "UpdateService; new tasks crash on start")
    _probe_and_note(world)
    world.deliver_deployment_events()
    _finish_rollout(world)


def _finish_rollout(world: IncidentWorld) -> None:
    """Minute by minute until ECS finished the rollout (a deployment watch usually saw it finish already)."""
    for _ in range(MAX_MINUTES_AFTER_FAULT):
        if not world.rolling():
            return
        _next_minute(world)
        _tick(world)


def _run_until(world: IncidentWorld, moment: datetime) -> None:
    """Scheduled probe runs every minute until `moment` (quiet unless something changes)."""
    while _minute_after(world.clock()) <= moment:
        world.at(_minute_after(world.clock()))
        _probe_and_note(world)
    if world.clock() < moment:
        world.at(moment)


def _minute_after(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _next_minute(world: IncidentWorld) -> None:
    world.at(_minute_after(world.clock()))


def _tick(world: IncidentWorld) -> None:
    """What happens in the world at a 10-second mark: ECS and the scheduled run on the minute, alarms, events."""
    on_the_minute = world.clock().second == 0
    if on_the_minute:
        rolling = world.current_revision()
        outcome = world.advance_rollout()
        if outcome != "steady":
            world.record(f"Rollout of {world.label(rolling)} {outcome}", _rollout_evidence(world, outcome))
    _evaluate(world, "FastRollbackAlarm")
    if on_the_minute:
        _evaluate(world, "RollbackAlarm")
        _probe_and_note(world)
    world.deliver_deployment_events()


def _rollout_evidence(world: IncidentWorld, outcome: str) -> str:
    current = world.current_revision()
    if outcome == "failed":
        return f"circuit breaker rolled back to {world.label(current)}; never steady, never known-good"
    if current in world.broken_route_revisions:
        return "ECS health checks green, circuit breaker quiet; /api/mlflow -> 404"
    return f"service on {world.label(current)}"


def _evaluate(world: IncidentWorld, logical_id: str) -> None:
    """Evaluate one alarm; an ALARM goes through the EventBridge rule to RollbackFunction."""
    evaluation, response = world.evaluate_alarm(logical_id)
    if response is None:
        return
    label = "Fast alarm" if logical_id == "FastRollbackAlarm" else "Alarm"
    world.record(f"{label} -> {evaluation.state}", evaluation.reason)
    world.record(
        f"Rollback decision: {response['action']}",
        f"{world.label(response['current'])} -> {world.label(response['target'])}: {response['reason']}",
    )
    world.decisions.append((world.clock(), response))


def _probe_and_note(world: IncidentWorld) -> dict[str, Any]:
    report = world.probe_run()
    tracking = report.get("known_good") or {}
    failed = [f"{p['name']} {p['status'] or p['reason']}" for p in report["probes"] if not p["ok"]]
    previous = world.probe_reports[-2][1] if len(world.probe_reports) > 1 else None
    if tracking.get("promoted"):
        world.record(
            f"{world.label(tracking['arn'])} promoted to known-good",
            f"{tracking['streak']} consecutive all-pass runs on a steady service",
        )
    elif failed and (previous is None or previous["ok"] or len(world.probe_reports) % 5 == 0):
        world.record("Probe run FAILED", ", ".join(failed))
    elif not failed and previous is not None and not previous["ok"]:
        world.record("Probe run passed", ", ".join(f"{p['name']} {p['status']}" for p in report["probes"]))
    return report


def _watch(world: IncidentWorld, fault_at: datetime) -> dict[str, Any] | None:
    """Minute by minute after the fault (unless a deployment watch already saw it through): advance ECS,
    evaluate the alarms and deliver them, probe."""
    for _ in range(MAX_MINUTES_AFTER_FAULT):
        if world.decisions:
            decision = world.decisions[0][1]
            if decision["action"] != "rolled_back" or _recovery_seconds(world) is not None:
                break
        _next_minute(world)
        _tick(world)
    return world.decisions[0][1] if world.decisions else None


def _verdict(name: str, world: IncidentWorld, fault_at: datetime, decision: dict[str, Any] | None) -> ScenarioResult:
    notifications = world.stack.notifications()
    current = world.current_revision()
    summary: dict[str, Any] = {"scenario": name, "service now on": world.label(current)}
    if decision is None:
        return ScenarioResult(name, False, "the alarm never reached a decision", world.timeline, summary, notifications)

    alarm_entry = next((e for e in world.timeline if e.event.endswith("-> ALARM")), None)
    if alarm_entry is not None:
        summary["detection"] = f"{int((alarm_entry.at - fault_at).total_seconds())} s after the fault"
    summary["decision"] = decision["action"]
    summary["decided"] = _decided(name, world, fault_at)
    summary["from"] = world.label(decision["current"])
    summary["target"] = world.label(decision["target"])
    recovery = _recovery_seconds(world)
    if recovery is not None:
        summary["recovery"] = f"{recovery:g} s from decision to first all-pass run on the steady target"
    summary["notified"] = [n["subject"] for n in notifications]
    if name == "mutable-tag":
        _pinning_summary(world, summary)

    ok, verdict = _judge(name, world, decision, current, recovery)
    return ScenarioResult(name, ok, verdict, world.timeline, summary, notifications)


EXPECTED_ACTION = {
    "incident": "rolled_back",
    "no-known-good": "no_known_good",
    "dry-run": "dry_run",
    "not-a-deployment": "already_known_good",
    "mutable-tag": "rolled_back",
}


def _judge(
    name: str, world: IncidentWorld, decision: dict[str, Any], current: str, recovery: float | None
) -> tuple[bool, str]:
    """Did the loop close the way this scenario must close?"""
    expected = EXPECTED_ACTION[name]
    if decision["action"] != expected:
        return False, f"expected {expected}, decided {decision['action']}"
    if (
        name == "incident"
        and _decision_seconds(world, world.completed_at[world.revisions[34]]) > DECISION_TARGET_SECONDS
    ):
        return False, f"decided later than {DECISION_TARGET_SECONDS} s after :34 went live"
    if name == "incident":
        if current != world.revisions[31]:
            return False, f"service on {world.label(current)}, not :31"
        if recovery is None:
            return False, "rolled back but recovery was never recorded"
        return True, "rolled back :34 -> :31 and recovered"
    if name == "mutable-tag":
        serving = world.simulator.serving_digests(CLUSTER, SERVICE)
        if serving != {GOOD_BUILD}:
            return False, f"service runs {', '.join(short(d) for d in serving)}, not :31's {short(GOOD_BUILD)}"
        if recovery is None:
            return False, "rolled back but recovery was never recorded"
        return True, f"rolled back :34 -> a copy of :31 pinned to {short(GOOD_BUILD)} and recovered"
    if _our_updates(world):
        return False, "UpdateService was called by the rollback"
    return True, f"safe decision: {expected}"


def _pinning_summary(world: IncidentWorld, summary: dict[str, Any]) -> None:
    """What was restored, and what an UpdateService to :31 itself would have pulled (ECS resolves tags again)."""
    import boto3

    ecs = boto3.client("ecs")
    current = ecs.describe_task_definition(taskDefinition=world.current_revision())["taskDefinition"]
    summary["restored image"] = current["containerDefinitions"][0]["image"].replace(GOOD_BUILD, short(GOOD_BUILD))
    summary["tasks now run"] = ", ".join(short(d) for d in sorted(world.simulator.serving_digests(CLUSTER, SERVICE)))
    assert world.simulator.registry is not None
    now = world.simulator.registry.resolve(MUTABLE_TAG)
    verdict = "the image that broke :34: it would have stayed broken" if now in world.broken_digests else "fine"
    summary["without pinning"] = f":31 names {MUTABLE_TAG}, which ECS would resolve to {short(now)} now, {verdict}"


def _decision_seconds(world: IncidentWorld, fault_at: datetime) -> int:
    return int((world.decisions[0][0] - fault_at).total_seconds())


def _decided(name: str, world: IncidentWorld, fault_at: datetime) -> str:
    seconds = _decision_seconds(world, fault_at)
    if name == "not-a-deployment":
        return f"{seconds} s after the route broke (no deployment: no watch, the one-minute alarm)"
    return f"{seconds} s after :34 went live (target: at most {DECISION_TARGET_SECONDS} s)"


def _our_updates(world: IncidentWorld) -> list[tuple[str, str]]:
    """UpdateService calls other than the pipeline's own deploys of :32, :33, :34."""
    pipeline = {world.revisions[r] for r in (32, 33, 34)}
    return [call for call in world.simulator.update_calls if call[1] not in pipeline]


def _recovery_seconds(world: IncidentWorld) -> float | None:
    import boto3

    response = boto3.client("cloudwatch").get_metric_statistics(
        Namespace=world.stack.function_env["POWERTOOLS_METRICS_NAMESPACE"],
        MetricName="RecoverySeconds",
        Dimensions=[{"Name": "service", "Value": world.stack.function_env["POWERTOOLS_SERVICE_NAME"]}],
        StartTime=world.timeline[0].at - timedelta(hours=1),
        EndTime=world.clock() + timedelta(hours=1),
        Period=3600 * 3,
        Statistics=["Maximum"],
    )
    points = response["Datapoints"]
    return float(points[0]["Maximum"]) if points else None


def format_report(result: ScenarioResult, printer: Callable[[str], None] = print) -> None:
    printer("")
    printer("Summary")
    for key, value in result.summary.items():
        if isinstance(value, list):
            printer(f"  {key + ':':<16}")
            for item in value or ["(nothing)"]:
                printer(f"    - {item}")
        else:
            printer(f"  {key + ':':<16} {value}")
    printer("")
    printer(("LOOP CLOSED: " if result.ok else "LOOP NOT CLOSED: ") + result.verdict)
