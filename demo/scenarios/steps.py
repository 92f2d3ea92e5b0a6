"""The steps every scenario is made of, and what they observe on the way.

A `Rehearsal` is one scenario's run in one world: the timeline it tells and the observations its result is
built from. The steps move the world (minutes of scheduled runs, deployments, ticks of the alarm evaluator)
and write down what people should see; they never judge. Each scenario module judges its own ending.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from canary_rollback.watch.run import WatchRound
from demo.scenarios.picture import Chart, MarkKind
from demo.scenarios.result import Decision, Notification, ScenarioResult
from demo.scenarios.timeline import Timeline, TimelineEntry
from demo.world import CLUSTER, SERVICE, World
from demo.world.service import ImageFor, build_image

MAX_MINUTES_AFTER_FAULT = 15
DECISION_TARGET_SECONDS = 60  # the deployment watch's goal: decide within a minute of :34 going live
BROKEN = 34  # the revision with the routing change
KNOWN_GOOD = 31
PIPELINE_DEPLOYS = (32, 33, 34)  # what CI deploys during the incident: never the rollback's doing


@dataclass(frozen=True)
class Scenario:
    """A scenario as `make demo SCENARIO=<name>` knows it: how its stack and world differ, and its story."""

    name: str
    rehearse: Callable[[Rehearsal], ScenarioResult]
    parameters: Mapping[str, str] = field(default_factory=dict)  # the stack's, over the template's defaults
    image_for: ImageFor = build_image


@dataclass
class Rehearsal:
    """One scenario's run in one world: its timeline, and what the result is built from."""

    world: World
    timeline: Timeline
    probe_reports: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)
    watch_rounds: list[WatchRound] = field(default_factory=list)
    failing_rounds: int = 0  # consecutive failing watch rounds, to keep the timeline short
    chart: Chart = field(default_factory=lambda: Chart("canary-rollback demo"))  # the timeline, as a picture

    @classmethod
    def start(cls, world: World, on_entry: Callable[[TimelineEntry], None] | None = None) -> Rehearsal:
        rehearsal = cls(world, Timeline(world.clock, on_entry))
        world.logs.on_watch_round = rehearsal.note_watch_round
        return rehearsal

    def record(self, event: str, evidence: str = "") -> None:
        self.timeline.record(event, evidence)

    def note_watch_round(self, watch_round: WatchRound) -> None:
        """Failing watch rounds on the timeline (the first three in a row, then one a minute), and the first
        passing round after them."""
        self.watch_rounds.append(watch_round)
        failing = {failure.split(" ", 1)[0] for failure in watch_round.failures}
        for probe in self.probe_names():
            self.chart.probe(watch_round.at, probe, probe not in failing, round=True)
        if not watch_round.ok:
            self.failing_rounds += 1
            if self.failing_rounds <= 3 or self.failing_rounds % 6 == 0:
                self.record(f"Watch round {watch_round.index} FAILED", ", ".join(watch_round.failures))
        elif self.failing_rounds:
            self.record(f"Watch round {watch_round.index} passed", "every probe passed")
            self.failing_rounds = 0

    def probe_names(self) -> list[str]:
        return [probe["name"] for probe in self.probe_reports[-1][1]["probes"]] if self.probe_reports else []

    def observe(self) -> None:
        """The picture's continuous lines: both rollback alarms' states and the revision serving traffic."""
        world, now = self.world, self.world.clock()
        for logical_id in ("RollbackAlarm", "FastRollbackAlarm"):
            self.chart.alarm(now, logical_id, world.alarms.state(logical_id))
        self.chart.revision(now, world.label(world.simulator.serving_revision(CLUSTER, SERVICE)))

    def mark(self, kind: MarkKind, label: str) -> None:
        self.chart.mark(self.world.clock(), kind, label)

    def keep_time(self) -> None:
        """While a deployment watch sleeps between rounds, the rest of the world goes on (`tick`)."""
        self.world.timer.on_tick = lambda: tick(self)


# ---- the incident's history -----------------------------------------------------------------------------
def stack_deployed(r: Rehearsal, event: str = "Stack deployed", running: str = "running") -> None:
    world = r.world
    r.record(event, f"{CLUSTER}/{SERVICE} {running} {world.label(world.current_revision())}")


def history(r: Rehearsal, start: datetime) -> None:
    """The evening before the fault: :31 proves itself, :32 and :33 fail to start, until 38 minutes in."""
    stack_deployed(r)
    healthy_period(r, minutes=5)
    failed_rollout(r, 32, start + timedelta(minutes=24))
    failed_rollout(r, 33, start + timedelta(minutes=30))
    run_until(r, start + timedelta(minutes=38))


def routing_change_after_history(r: Rehearsal) -> datetime:
    """The incident as it happened: the evening's history, then :34 with the broken route; returns when :34
    went live."""
    r.keep_time()
    history(r, r.world.clock())
    r.world.broken_route_revisions.add(r.world.revisions[BROKEN])
    return deploy_routing_change(r)


def deploy_routing_change(r: Rehearsal) -> datetime:
    """CI deploys :34, ECS rolls it out and announces it; returns when :34 went live (the fault's moment)."""
    world = r.world
    world.deploy(BROKEN)
    r.mark("deployment", f"deploy :{BROKEN}")
    r.record(f"Deploy :{BROKEN} (routing change)", f"UpdateService -> {world.label(world.current_revision())}")
    probe_and_note(r)
    deliver_deployment_events(r)  # ECS announces the deployment: ProbeFunction watches it, in rounds
    finish_rollout(r)
    return world.completed_at.get(world.revisions[BROKEN], world.clock())


def healthy_period(r: Rehearsal, minutes: int) -> None:
    for _ in range(minutes):
        r.world.minute()
        probe_and_note(r)


def failed_rollout(r: Rehearsal, revision: int, at: datetime) -> None:
    world = r.world
    run_until(r, at)
    world.simulator.mark_unstartable(world.revisions[revision])
    world.deploy(revision)
    r.mark("deployment", f"deploy :{revision}")
    r.record(f"Deploy :{revision}", "UpdateService; new tasks crash on start")
    probe_and_note(r)
    deliver_deployment_events(r)
    finish_rollout(r)


def finish_rollout(r: Rehearsal) -> None:
    """Minute by minute until ECS finished the rollout (a deployment watch usually saw it finish already)."""
    for _ in range(MAX_MINUTES_AFTER_FAULT):
        if not r.world.rolling():
            return
        next_minute(r)
        tick(r)


def run_until(r: Rehearsal, moment: datetime) -> None:
    """Scheduled probe runs every minute until `moment` (quiet unless something changes)."""
    world = r.world
    while _minute_after(world.clock()) <= moment:
        world.at(_minute_after(world.clock()))
        probe_and_note(r)
    if world.clock() < moment:
        world.at(moment)


def _minute_after(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def next_minute(r: Rehearsal) -> None:
    r.world.at(_minute_after(r.world.clock()))


# ---- what happens at each tick ----------------------------------------------------------------------------
def tick(r: Rehearsal) -> None:
    """What happens in the world at a 10-second mark: ECS and the scheduled run on the minute, alarms, events."""
    world = r.world
    on_the_minute = world.clock().second == 0
    if on_the_minute:
        rolling = world.current_revision()
        outcome = world.advance_rollout()
        if outcome != "steady":
            r.record(f"Rollout of {world.label(rolling)} {outcome}", _rollout_evidence(r, outcome))
    evaluate(r, "FastRollbackAlarm")
    if on_the_minute:
        evaluate(r, "RollbackAlarm")
        probe_and_note(r)
    r.observe()
    deliver_deployment_events(r)


def _rollout_evidence(r: Rehearsal, outcome: str) -> str:
    world = r.world
    current = world.current_revision()
    if outcome == "failed":
        return f"circuit breaker rolled back to {world.label(current)}; never steady, never known-good"
    if current in world.broken_route_revisions:
        return "ECS health checks green, circuit breaker quiet; /api/mlflow -> 404"
    return f"service on {world.label(current)}"


def evaluate(r: Rehearsal, logical_id: str) -> None:
    """Evaluate one alarm; an ALARM goes through the EventBridge rule to RollbackFunction."""
    world = r.world
    delivered = world.evaluate_alarm(logical_id)
    if delivered is None:
        return
    change, response = delivered
    label = "Fast alarm" if logical_id == "FastRollbackAlarm" else "Alarm"
    r.record(f"{label} -> {change.state}", change.evaluation.reason)
    decision = Decision(
        world.clock(),
        str(response["action"]),
        world.label(response["current"]),
        world.label(response["target"]),
        str(response["reason"]),
    )
    r.record(f"Rollback decision: {decision.action}", f"{decision.current} -> {decision.target}: {decision.reason}")
    r.decisions.append(decision)
    r.observe()
    r.mark("decision", f"decision: {decision.action}")
    if decision.action == "rolled_back":
        r.mark("rollback", f"rollback {decision.current} -> {decision.target}")


def probe_and_note(r: Rehearsal) -> dict[str, Any]:
    """A scheduled probe run; the timeline notes a promotion, the first failure (then every fifth run's), the
    first pass after failures."""
    world = r.world
    report = world.probe_run()
    r.probe_reports.append((world.clock(), report))
    for probe in report["probes"]:
        r.chart.probe(world.clock(), probe["name"], bool(probe["ok"]))
    r.observe()
    tracking = report.get("known_good") or {}
    failed = [f"{p['name']} {p['status'] or p['reason']}" for p in report["probes"] if not p["ok"]]
    previous = r.probe_reports[-2][1] if len(r.probe_reports) > 1 else None
    if tracking.get("promoted"):
        r.promoted.append(world.label(tracking["arn"]))
        r.record(
            f"{world.label(tracking['arn'])} promoted to known-good",
            f"{tracking['streak']} consecutive all-pass runs on a steady service",
        )
    elif failed and (previous is None or previous["ok"] or len(r.probe_reports) % 5 == 0):
        r.record("Probe run FAILED", ", ".join(failed))
    elif not failed and previous is not None and not previous["ok"]:
        r.record("Probe run passed", ", ".join(f"{p['name']} {p['status']}" for p in report["probes"]))
    return report


def deliver_deployment_events(r: Rehearsal) -> None:
    """ECS deployment state changes, through the template's rule, to ProbeFunction (which watches)."""
    world = r.world
    for forwarded in world.deployment_events():
        change = forwarded.change
        r.record(f"ECS: {change.event_name}", f"{world.label(change.task_definition_arn)} -> ProbeFunction")
        response = world.deliver(forwarded)
        if response["action"] == "watched":
            handed = "; handed over to a later event's invocation" if response.get("handed_over") else ""
            r.record(
                "Deployment watch ended", f"{response['rounds']} rounds, {response['failed_rounds']} failed{handed}"
            )
        else:
            r.record(f"Deployment watch: {response['action']}", response["reason"].split(": ", 1)[-1])


def watch_for_decision(r: Rehearsal) -> Decision | None:
    """Minute by minute after the fault (unless a deployment watch already saw it through): advance ECS,
    evaluate the alarms and deliver them, probe. Ends at the first decision (a rollback: once recovered)."""
    for _ in range(MAX_MINUTES_AFTER_FAULT):
        if r.decisions and (r.decisions[0].action != "rolled_back" or recovery_seconds(r) is not None):
            break
        next_minute(r)
        tick(r)
    return r.decisions[0] if r.decisions else None


# ---- what the scenario found ------------------------------------------------------------------------------
Judge = Callable[[Rehearsal, Decision, float | None], tuple[bool, str]]


def conclude(
    r: Rehearsal,
    name: str,
    fault_at: datetime,
    judge: Judge,
    fault: str = f"after :{BROKEN} went live (target: at most {DECISION_TARGET_SECONDS} s)",
) -> ScenarioResult:
    """The result after the alarm path: the summary `make demo` prints, the values, the scenario's verdict."""
    world = r.world
    notifications = notifications_sent(r)
    summary: dict[str, Any] = {"scenario": name, "service now on": world.label(world.current_revision())}
    decision = r.decisions[0] if r.decisions else None
    if decision is None:
        return result(r, name, False, "the alarm never reached a decision", notifications, summary, fault_at=fault_at)

    alarm_entry = r.timeline.first(lambda e: e.event.endswith("-> ALARM"))
    detected = None if alarm_entry is None else int((alarm_entry.at - fault_at).total_seconds())
    if detected is not None:
        summary["detection"] = f"{detected} s after the fault"
    decided = int((decision.at - fault_at).total_seconds())
    summary["decision"] = decision.action
    summary["decided"] = f"{decided} s {fault}"
    summary["from"] = decision.current
    summary["target"] = decision.target
    recovery = recovery_seconds(r)
    if recovery is not None:
        summary["recovery"] = f"{recovery:g} s from decision to first all-pass run on the steady target"
    summary["notified"] = [n.subject for n in notifications]
    ok, verdict = judge(r, decision, recovery)
    return result(
        r,
        name,
        ok,
        verdict,
        notifications,
        summary,
        fault_at=fault_at,
        detected_seconds=detected,
        decided_seconds=decided,
        recovery_seconds=recovery,
    )


def result(
    r: Rehearsal,
    name: str,
    ok: bool,
    verdict: str,
    notifications: tuple[Notification, ...],
    summary: dict[str, Any],
    **values: Any,
) -> ScenarioResult:
    decided = values.get("decided_seconds")
    r.chart.title = (
        f"make demo SCENARIO={name}: "
        + (f"{decided} s from the fault to the decision; " if decided is not None else "")
        + ("loop closed" if ok else "loop NOT closed")
    )
    return ScenarioResult(
        name=name,
        ok=ok,
        verdict=verdict,
        chart=r.chart,
        service_now_on=r.world.label(r.world.current_revision()),
        timeline=tuple(r.timeline.entries),
        notifications=notifications,
        decisions=tuple(r.decisions),
        promoted=tuple(r.promoted),
        watch_rounds=tuple(r.watch_rounds),
        function_warnings=tuple(r.world.logs.warnings),
        summary=summary,
        **values,
    )


def notifications_sent(r: Rehearsal) -> tuple[Notification, ...]:
    return tuple(Notification(n["subject"], n["message"]) for n in r.world.stack.notifications())


def safe_decision(expected: str) -> Judge:
    """The loop closes safely when RollbackFunction decided `expected` and never called UpdateService."""

    def judge(r: Rehearsal, decision: Decision, recovery: float | None) -> tuple[bool, str]:
        if decision.action != expected:
            return False, f"expected {expected}, decided {decision.action}"
        if rollback_updates(r):
            return False, "UpdateService was called by the rollback"
        return True, f"safe decision: {expected}"

    return judge


def rollback_updates(r: Rehearsal) -> list[tuple[str, str]]:
    """UpdateService calls other than the pipeline's own deploys of :32, :33, :34."""
    pipeline = {r.world.revisions[revision] for revision in PIPELINE_DEPLOYS}
    return [call for call in r.world.simulator.update_calls if call[1] not in pipeline]


def recovery_seconds(r: Rehearsal) -> float | None:
    """The RecoverySeconds metric the probe run published, if it did (read back from moto's CloudWatch)."""
    env = r.world.stack.function_env
    response = r.world.cloudwatch.get_metric_statistics(
        Namespace=env["POWERTOOLS_METRICS_NAMESPACE"],
        MetricName="RecoverySeconds",
        Dimensions=[{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}],
        StartTime=r.timeline.entries[0].at - timedelta(hours=1),
        EndTime=r.world.clock() + timedelta(hours=1),
        Period=3600 * 3,
        Statistics=["Maximum"],
    )
    points = response["Datapoints"]
    return float(points[0]["Maximum"]) if points else None
