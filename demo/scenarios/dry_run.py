"""`make demo SCENARIO=dry-run`: the incident with `DryRun=true`: the decision and its notification say what
would have been done, and :34 stays."""

from __future__ import annotations

from demo.scenarios.result import ScenarioResult
from demo.scenarios.steps import (
    Rehearsal,
    Scenario,
    conclude,
    routing_change_after_history,
    safe_decision,
    watch_for_decision,
)


def rehearse(r: Rehearsal) -> ScenarioResult:
    fault_at = routing_change_after_history(r)
    watch_for_decision(r)
    return conclude(r, SCENARIO.name, fault_at, safe_decision("dry_run"))


SCENARIO = Scenario("dry-run", rehearse, parameters={"DryRun": "true"})
