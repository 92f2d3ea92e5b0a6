"""`make demo SCENARIO=resume`: no alarm left unanswered. The on-call paused automatic rollback for an ALB
migration; :34 rolls out with the MLflow route broken, the alarm fires once and is answered `paused` (told
once, however often the one-minute reconcile tick decides again). When the on-call resumes, the alarm is still
in ALARM and sends no new event: the next tick rolls back to :31."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from canary_rollback import operate
from canary_rollback.core.models import GuardedService
from canary_rollback.runtime import build_runtime
from demo.scenarios.result import Decision, ScenarioResult
from demo.scenarios.steps import (
    BROKEN,
    KNOWN_GOOD,
    MAX_MINUTES_AFTER_FAULT,
    Rehearsal,
    Scenario,
    conclude,
    deliver_deployment_events,
    deploy_routing_change,
    history,
    next_minute,
    recovery_seconds,
    tick,
)
from demo.world import CLUSTER, SERVICE

PAUSED_FOR = timedelta(minutes=6)  # from :34 going live to the on-call's resume
TICK = "[tick] "  # marks the decisions the reconcile tick made, apart from those of an alarm's event
REASON = "ALB migration in progress"


def rehearse(r: Rehearsal) -> ScenarioResult:
    world = r.world
    r.world.timer.on_tick = lambda: tick_and_reconcile(r)  # the tick runs inside a watch's sleep too
    history(r, world.clock())
    operator = build_runtime(world.stack.environment("RollbackFunction"), need_probes=False, clock=world.clock)
    guarded = GuardedService(CLUSTER, SERVICE)
    operate.pause(operator, guarded, REASON)
    r.record("On-call pauses automatic rollback", f"canary-rollback pause --reason {REASON!r}")
    world.broken_route_revisions.add(world.revisions[BROKEN])
    fault_at = deploy_routing_change(r)
    resume_at = fault_at + PAUSED_FOR
    resumed = False
    for _ in range(MAX_MINUTES_AFTER_FAULT):
        if any(d.action == "rolled_back" for d in r.decisions) and recovery_seconds(r) is not None:
            break
        if not resumed and world.clock() >= resume_at:
            operate.resume(operator, guarded)
            r.record("On-call resumes automatic rollback", "canary-rollback resume; the alarm is still in ALARM")
            resumed = True
        next_minute(r)
        tick_and_reconcile(r)
    return conclude(r, SCENARIO.name, fault_at, judge, "after :34 went live (paused, then resumed)")


def tick_and_reconcile(r: Rehearsal) -> None:
    """A 10-second mark of the world, and on the minute RollbackFunction's reconcile tick (whose rollback ECS
    announces at once, as it does any deployment)."""
    tick(r)
    world = r.world
    if world.clock().second != 0:
        return
    response = world.rollback_tick()
    if response["action"] == "quiet":
        return
    decision = Decision(
        world.clock(),
        str(response["action"]),
        world.label(response["current"]),
        world.label(response["target"]),
        str(response["reason"]),
    )
    ticks = [d for d in r.decisions if d.reason.startswith(TICK)]
    r.decisions.append(replace(decision, reason=f"{TICK}{decision.reason}"))
    if not ticks or ticks[-1].action != decision.action:  # a repeated answer is audited, not told: one line
        again = " (audited; told already)" if decision.action == "paused" else ""
        r.record(
            f"Reconcile tick: {decision.action}{again}", f"{decision.current} -> {decision.target}: {decision.reason}"
        )
    if decision.action == "rolled_back":
        deliver_deployment_events(r)


def judge(r: Rehearsal, first: Decision, recovery: float | None) -> tuple[bool, str]:
    """The alarm's one event answered `paused`, told once; after resume a tick (no new alarm event) rolled back to
    :31, which recovered."""
    world = r.world
    if first.action != "paused":
        return False, f"expected paused while paused, decided {first.action}"
    rolled = next((d for d in r.decisions if d.action == "rolled_back" and d.reason.startswith(TICK)), None)
    if rolled is None:
        return False, "resumed, but no tick rolled back: the alarm was left unanswered"
    if world.current_revision() != world.revisions[KNOWN_GOOD]:
        return False, f"service on {world.label(world.current_revision())}, not :{KNOWN_GOOD}"
    if recovery is None:
        return False, "rolled back but recovery was never recorded"
    paused = sum(1 for d in r.decisions if d.action == "paused")
    return True, f"answered paused {paused} times; after resume a tick rolled back :{BROKEN} -> :{KNOWN_GOOD}"


SCENARIO = Scenario("resume", rehearse)
