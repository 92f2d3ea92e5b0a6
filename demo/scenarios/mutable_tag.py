"""`make demo SCENARIO=mutable-tag`: every revision names `hokusai/api:main`; CI moves the tag to the broken
build and deploys :34. The rollback registers a copy of :31 pinned to the digest its tasks ran, and the summary
shows that :31 itself would now pull the broken image (ECS resolves a tag again at each deployment)."""

from __future__ import annotations

import dataclasses

from demo.scenarios.result import Decision, Pinning, ScenarioResult
from demo.scenarios.steps import (
    BROKEN,
    KNOWN_GOOD,
    Rehearsal,
    Scenario,
    conclude,
    deploy_routing_change,
    history,
    watch_for_decision,
)
from demo.world import CLUSTER, SERVICE
from demo.world.ecs_simulator import ImageRegistry, fake_digest

MUTABLE_TAG = "hokusai/api:main"
GOOD_BUILD = fake_digest("hokusai/api main, Monday's build")
BROKEN_BUILD = fake_digest("hokusai/api main, the routing change")


def short(digest: str | None) -> str:
    return digest[:19] + "..." if digest else "none"


def rehearse(r: Rehearsal) -> ScenarioResult:
    world = r.world
    r.keep_time()
    # Real ECS: tasks report the digest their tag resolved to when their deployment started.
    registry = ImageRegistry({MUTABLE_TAG: GOOD_BUILD})
    world.simulator.with_tasks(registry)
    world.broken_digests.add(BROKEN_BUILD)
    history(r, world.clock())
    registry.push(MUTABLE_TAG, BROKEN_BUILD)
    moved = f"tag moves {short(GOOD_BUILD)} -> {short(BROKEN_BUILD)}; every revision names this tag"
    r.record(f"CI pushes the routing change to {MUTABLE_TAG}", moved)
    fault_at = deploy_routing_change(r)
    watch_for_decision(r)
    result = conclude(r, SCENARIO.name, fault_at, judge)
    if not result.decisions:
        return result
    pinning = pinning_now(r, registry)
    summary = {
        **result.summary,
        "restored image": pinning.restored_image.replace(GOOD_BUILD, short(GOOD_BUILD)),
        "tasks now run": ", ".join(short(d) for d in pinning.tasks_run),
        "without pinning": f":{KNOWN_GOOD} names {MUTABLE_TAG}, which ECS would resolve to "
        f"{short(pinning.tag_resolves_to)} now, "
        + ("the image that broke :34: it would have stayed broken" if pinning.tag_breaks_the_route else "fine"),
    }
    return dataclasses.replace(result, pinning=pinning, summary=summary)


def pinning_now(r: Rehearsal, registry: ImageRegistry) -> Pinning:
    """What was restored, and what an UpdateService to :31 itself would have pulled."""
    world = r.world
    current = world.ecs.describe_task_definition(taskDefinition=world.current_revision())["taskDefinition"]
    now = registry.resolve(MUTABLE_TAG)
    return Pinning(
        restored_image=str(current["containerDefinitions"][0]["image"]),
        tasks_run=tuple(sorted(world.simulator.serving_digests(CLUSTER, SERVICE))),
        tag_resolves_to=now,
        tag_breaks_the_route=now in world.broken_digests,
    )


def judge(r: Rehearsal, decision: Decision, recovery: float | None) -> tuple[bool, str]:
    """Rolled back to a copy of :31 pinned to the digest seen healthy, and recovered there."""
    if decision.action != "rolled_back":
        return False, f"expected rolled_back, decided {decision.action}"
    serving = r.world.simulator.serving_digests(CLUSTER, SERVICE)
    if serving != {GOOD_BUILD}:
        return False, f"service runs {', '.join(short(d) for d in serving)}, not :{KNOWN_GOOD}'s {short(GOOD_BUILD)}"
    if recovery is None:
        return False, "rolled back but recovery was never recorded"
    return True, f"rolled back :{BROKEN} -> a copy of :{KNOWN_GOOD} pinned to {short(GOOD_BUILD)} and recovered"


def image_for(_revision: int) -> str:
    return MUTABLE_TAG


SCENARIO = Scenario("mutable-tag", rehearse, image_for=image_for)
