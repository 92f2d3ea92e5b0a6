"""`make demo SCENARIO=expired-digest`: every revision names its build in ECR (`.../hokusai/api:build-N`). :31 is
seen healthy and pinned to its digest; CI pushes builds 32 to 34, and the repository's lifecycle rule ("keep the
3 most recent images") expires build-31. The next readiness check finds the known-good's digest gone and
notifies, naming image and digest, long before any incident; the on-call pushes the same image again, the check
says ready again, and when :34 breaks the route the rollback restores :31's digest (docs/readiness.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import boto3

from demo.scenarios.result import Decision, ScenarioResult
from demo.scenarios.steps import (
    BROKEN,
    KNOWN_GOOD,
    Rehearsal,
    Scenario,
    conclude,
    deploy_routing_change,
    failed_rollout,
    next_minute,
    probe_and_note,
    run_until,
    stack_deployed,
    watch_for_decision,
)
from demo.world import CLUSTER, SERVICE
from demo.world.ecr import EcrRegistry, ecr_image

REPOSITORY = "hokusai/api"
KEEP_MOST_RECENT = 3  # the repository's lifecycle rule: imageCountMoreThan 3
MAX_MINUTES = 15  # for a readiness check to come due (READINESS_INTERVAL_SECONDS is 300)
NOT_READY_ALARM = "RollbackNotReadyAlarm"


def short(digest: str | None) -> str:
    return digest[:19] + "..." if digest else "none"


@dataclasses.dataclass
class Readiness:
    """What the scenario saw of the readiness check: each verdict change and when, and the alarm's states."""

    changes: list[tuple[datetime, str, list[str]]] = dataclasses.field(default_factory=list)
    alarm: list[tuple[datetime, str]] = dataclasses.field(default_factory=list)
    routed_to_rollback: bool = False

    def first(self, verdict: str, after: datetime | None = None) -> datetime | None:
        return next((at for at, v, _ in self.changes if v == verdict and (after is None or at > after)), None)


def rehearse(r: Rehearsal) -> ScenarioResult:
    world = r.world
    r.keep_time()
    start = world.clock()
    registry = EcrRegistry(boto3.client("ecr"), REPOSITORY)
    pushed = [registry.push(f"build-{n}") for n in (29, 30, KNOWN_GOOD)]
    pinned = pushed[-1]
    world.simulator.with_tasks(registry.tags)  # tasks report the digest ECR served them
    seen = Readiness()

    stack_deployed(r)
    r.record(f"ECR {REPOSITORY}", f"builds 29..{KNOWN_GOOD}; lifecycle rule keeps the {KEEP_MOST_RECENT} most recent")
    _minutes(r, seen, 5, stop=lambda: False)
    for revision, at in ((32, 24), (33, 30)):
        run_until(r, start + timedelta(minutes=at))
        pushed.append(registry.push(f"build-{revision}"))
        failed_rollout(r, revision, start + timedelta(minutes=at))
    next_minute(r)
    pushed.append(registry.push(f"build-{BROKEN}"))
    r.record(f"CI pushes {REPOSITORY}:build-{BROKEN}", f"the routing change; :{BROKEN} is deployed later")
    next_minute(r)
    for digest in pushed[:-KEEP_MOST_RECENT]:
        registry.expire(digest)
    r.record(
        "ECR lifecycle rule expires old images",
        f"builds 29, 30 and {KNOWN_GOOD}: {REPOSITORY}@{short(pinned)}, the digest :{KNOWN_GOOD} is pinned to "
        "(time compressed: rules run within a day)",
    )

    _minutes(r, seen, MAX_MINUTES, stop=lambda: seen.first("not_ready") is not None)
    _minutes(r, seen, 2, stop=lambda: False)  # the on-call reads the notification
    registry.push(f"known-good-{KNOWN_GOOD}", build=f"build-{KNOWN_GOOD}")  # the same manifest: the same digest
    restored = registry.exists(pinned)
    r.record(
        "On-call pushes the image again",
        f"same manifest as {REPOSITORY}:known-good-{KNOWN_GOOD}: {short(pinned)} {'back' if restored else 'MISSING'}",
    )
    not_ready_at = seen.first("not_ready")
    _minutes(r, seen, MAX_MINUTES, stop=lambda: seen.first("ready", after=not_ready_at) is not None)
    _minutes(r, seen, 1, stop=lambda: False)

    world.broken_route_revisions.add(world.revisions[BROKEN])
    fault_at = deploy_routing_change(r)
    watch_for_decision(r)
    result = conclude(r, SCENARIO.name, fault_at, _judge(seen, pinned))
    told = [n for n in result.notifications if "rollback NOT READY" in n.subject]
    if result.ok and not (told and _named(pinned) in told[0].message):
        result = dataclasses.replace(result, ok=False, verdict="no notification named the missing image and digest")
    ready_again = seen.first("ready", after=not_ready_at)
    summary = {
        **result.summary,
        "not ready": (
            f"{not_ready_at:%H:%M}, {int((fault_at - not_ready_at).total_seconds() // 60)} min before :{BROKEN} "
            f"went live: {'; '.join(_missing(seen, 'not_ready'))}"
            if not_ready_at
            else "never found"
        ),
        "ready again": f"{ready_again:%H:%M}, after the image was pushed again" if ready_again else "never",
        "tasks now run": ", ".join(short(d) for d in sorted(world.simulator.serving_digests(CLUSTER, SERVICE))),
    }
    return dataclasses.replace(result, summary=summary)


def _minutes(r: Rehearsal, seen: Readiness, limit: int, stop: Callable[[], bool]) -> None:
    """Scheduled runs a minute apart (at most `limit`, until `stop`), noting each readiness change and the
    not-ready alarm: evaluated as CloudWatch would, and never forwarded to RollbackFunction."""
    world = r.world
    for _ in range(limit):
        if stop():
            return
        next_minute(r)
        _note_readiness(r, seen, probe_and_note(r))
        change = world.alarms.evaluate(NOT_READY_ALARM, world.clock())
        if change is not None:
            seen.alarm.append((world.clock(), change.state))
            routed = world.delivery.alarm_state_change(change.event) is not None
            seen.routed_to_rollback |= routed
            how = "routed to RollbackFunction!" if routed else "notifies the topic; never a rollback trigger"
            r.record(f"{NOT_READY_ALARM} in {change.state}", how)


def _note_readiness(r: Rehearsal, seen: Readiness, report: dict[str, Any]) -> None:
    readiness = (report.get("known_good") or {}).get("readiness")
    if not readiness or not readiness["checked_now"]:
        return
    verdict, missing = readiness["verdict"], list(readiness["missing"])
    if seen.changes and seen.changes[-1][1:] == (verdict, missing):
        return
    seen.changes.append((r.world.clock(), verdict, missing))
    if verdict == "not_ready":
        r.record("Readiness check: NOT READY (notified)", "; ".join(missing))
    elif verdict == "ready":
        r.record("Readiness check: ready", f"known-good {r.world.label(report['known_good']['arn'])} can be restored")
    else:
        r.record("Readiness check: unchecked", "; ".join(readiness["unchecked"]))


def _missing(seen: Readiness, verdict: str) -> list[str]:
    return next((missing for _, v, missing in seen.changes if v == verdict), [])


def _named(digest: str) -> str:
    return f"image {REPOSITORY}@{digest} no longer in ECR repository {REPOSITORY}"


def _judge(seen: Readiness, pinned: str) -> Callable[[Rehearsal, Decision, float | None], tuple[bool, str]]:
    def judge(r: Rehearsal, decision: Decision, recovery: float | None) -> tuple[bool, str]:
        """Told what is missing before the incident, ready again once fixed, and the rollback restored the digest."""
        world = r.world
        fault_at = world.completed_at.get(world.revisions[BROKEN])
        not_ready_at = seen.first("not_ready")
        if not_ready_at is None or fault_at is None or not_ready_at >= fault_at:
            return False, "the readiness check did not find the expired digest before the incident"
        if not any(_named(pinned) in missing for missing in _missing(seen, "not_ready")):
            return False, f"the readiness check did not name {REPOSITORY}@{short(pinned)}"
        if ("ALARM" not in [state for _, state in seen.alarm]) or seen.routed_to_rollback:
            return False, f"{NOT_READY_ALARM} did not fire, or reached RollbackFunction"
        if seen.first("ready", after=not_ready_at) is None:
            return False, "never ready again after the image was pushed again"
        if decision.action != "rolled_back":
            return False, f"expected rolled_back, decided {decision.action}"
        if world.simulator.serving_digests(CLUSTER, SERVICE) != {pinned}:
            return False, f"the rollback did not restore :{KNOWN_GOOD}'s digest {short(pinned)}"
        if recovery is None:
            return False, "rolled back but recovery was never recorded"
        lead = int((fault_at - not_ready_at).total_seconds() // 60)
        return True, (
            f"the expired digest was named {lead} min before :{BROKEN} went live; pushed again, ready again, "
            f"and the rollback restored {short(pinned)}"
        )

    return judge


def image_for(revision: int) -> str:
    return ecr_image(REPOSITORY, f"build-{revision}")


SCENARIO = Scenario("expired-digest", rehearse, image_for=image_for)
