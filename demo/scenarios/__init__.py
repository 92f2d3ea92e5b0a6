"""The scenarios `make demo SCENARIO=<name>` rehearses in the embedded world, one module each over shared
`steps`; each returns a `ScenarioResult` (values for the tests, a summary for people)."""

from __future__ import annotations

from collections.abc import Callable

from demo.scenarios import (
    blue_green,
    dry_run,
    expired_digest,
    incident,
    mutable_tag,
    no_known_good,
    not_a_deployment,
    resume,
)
from demo.scenarios.result import ScenarioResult, format_report
from demo.scenarios.steps import Rehearsal, Scenario
from demo.scenarios.timeline import TimelineEntry
from demo.world import World
from demo.world.local_aws import local_aws_environment
from demo.world.services import LoopbackAlb

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        incident.SCENARIO,
        no_known_good.SCENARIO,
        dry_run.SCENARIO,
        not_a_deployment.SCENARIO,
        mutable_tag.SCENARIO,
        blue_green.SCENARIO,
        resume.SCENARIO,
        expired_digest.SCENARIO,
    )
}

__all__ = ["SCENARIOS", "ScenarioResult", "TimelineEntry", "format_report", "run"]


def run(name: str, on_entry: Callable[[TimelineEntry], None] | None = None) -> ScenarioResult:
    """One scenario from nothing: moto and the loopback services started, the world created, the scenario
    rehearsed, everything stopped again. `on_entry` sees each timeline entry as it happens."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    scenario = SCENARIOS[name]
    with local_aws_environment(), LoopbackAlb() as alb:
        world = World.create(alb, dict(scenario.parameters), image_for=scenario.image_for)
        try:
            return scenario.rehearse(Rehearsal.start(world, on_entry))
        finally:
            world.close()
