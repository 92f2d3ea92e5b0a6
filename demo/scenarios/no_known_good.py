"""`make demo SCENARIO=no-known-good`: the stack is deployed just before :34, so nothing was ever seen healthy:
`no_known_good`, a notification, no guessed revision."""

from __future__ import annotations

from datetime import timedelta

from demo.scenarios.result import ScenarioResult
from demo.scenarios.steps import (
    BROKEN,
    Rehearsal,
    Scenario,
    conclude,
    deploy_routing_change,
    safe_decision,
    stack_deployed,
    watch_for_decision,
)

HISTORY_MINUTES = 38  # when the incident deploys :34, 38 minutes into the evening


def rehearse(r: Rehearsal) -> ScenarioResult:
    world = r.world
    r.keep_time()
    world.at(world.clock() + timedelta(minutes=HISTORY_MINUTES))  # the stack is deployed only now
    stack_deployed(r, "Stack deployed just now", running="on")
    world.broken_route_revisions.add(world.revisions[BROKEN])
    fault_at = deploy_routing_change(r)
    watch_for_decision(r)
    return conclude(r, SCENARIO.name, fault_at, safe_decision("no_known_good"))


SCENARIO = Scenario("no-known-good", rehearse)
