"""`make demo`: the incident. :31 proves itself, :32 and :33 fail to start, :34 rolls out green with the MLflow
route broken; the deployment watch sees it, the fast alarm fires, RollbackFunction rolls back to :31."""

from __future__ import annotations

from demo.scenarios.result import Decision, ScenarioResult
from demo.scenarios.steps import (
    BROKEN,
    DECISION_TARGET_SECONDS,
    KNOWN_GOOD,
    Rehearsal,
    Scenario,
    conclude,
    routing_change_after_history,
    watch_for_decision,
)


def rehearse(r: Rehearsal) -> ScenarioResult:
    fault_at = routing_change_after_history(r)
    watch_for_decision(r)
    return conclude(r, SCENARIO.name, fault_at, judge)


def judge(r: Rehearsal, decision: Decision, recovery: float | None) -> tuple[bool, str]:
    """Rolled back to :31 within a minute of :34 going live, and recovered there."""
    world = r.world
    if decision.action != "rolled_back":
        return False, f"expected rolled_back, decided {decision.action}"
    live = world.completed_at[world.revisions[BROKEN]]
    if int((decision.at - live).total_seconds()) > DECISION_TARGET_SECONDS:
        return False, f"decided later than {DECISION_TARGET_SECONDS} s after :{BROKEN} went live"
    current = world.current_revision()
    if current != world.revisions[KNOWN_GOOD]:
        return False, f"service on {world.label(current)}, not :{KNOWN_GOOD}"
    if recovery is None:
        return False, "rolled back but recovery was never recorded"
    return True, f"rolled back :{BROKEN} -> :{KNOWN_GOOD} and recovered"


SCENARIO = Scenario("incident", rehearse)
