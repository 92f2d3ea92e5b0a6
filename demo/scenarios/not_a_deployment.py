"""`make demo SCENARIO=not-a-deployment`: an ALB rule change breaks the route on the known-good :31 itself: no
deployment to watch, the one-minute alarm fires, `already_known_good`, no rollback."""

from __future__ import annotations

from demo.scenarios.result import ScenarioResult
from demo.scenarios.steps import (
    Rehearsal,
    Scenario,
    conclude,
    history,
    probe_and_note,
    safe_decision,
    watch_for_decision,
)


def rehearse(r: Rehearsal) -> ScenarioResult:
    world = r.world
    r.keep_time()
    history(r, world.clock())
    world.route_broken_everywhere = True
    world.sync_routes()
    r.record("ALB rule change breaks the MLflow route", "no deployment: the known-good :31 itself answers 404")
    fault_at = world.clock()
    probe_and_note(r)
    watch_for_decision(r)
    fault = "after the route broke (no deployment: no watch, the one-minute alarm)"
    return conclude(r, SCENARIO.name, fault_at, safe_decision("already_known_good"), fault)


SCENARIO = Scenario("not-a-deployment", rehearse)
