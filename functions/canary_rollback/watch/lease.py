"""Deployment watch, the pure parts: which events start a watch, the one-watch-per-service lease, the round schedule.

Most breakage arrives with a deployment and ECS announces every deployment on EventBridge, so the probe
watches closely exactly then (docs/watch.md). No AWS and no clock reads here: every function
takes the instant it reasons about, so the rules can be tested as a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from canary_rollback.core.models import WatchLease

DEPLOYMENT_SOURCE = "aws.ecs"
DEPLOYMENT_DETAIL_TYPE = "ECS Deployment State Change"
# Each of these starts a watch or extends the running one (rollback deployments send IN_PROGRESS too).
DEPLOYMENT_EVENT_NAMES = frozenset(
    {"SERVICE_DEPLOYMENT_IN_PROGRESS", "SERVICE_DEPLOYMENT_COMPLETED", "SERVICE_DEPLOYMENT_FAILED"}
)


def looks_like_deployment_event(event: Any) -> bool:
    """Routing only: whatever ECS sends as a deployment state change goes to the watch, which may ignore it.

    Everything else reaching ProbeFunction (the schedule, `sam local invoke -e events/schedule.json`) is a
    scheduled run, as before the watch existed.
    """
    if not isinstance(event, dict):
        return False
    return event.get("source") == DEPLOYMENT_SOURCE or event.get("detail-type") == DEPLOYMENT_DETAIL_TYPE


@dataclass(frozen=True)
class DeploymentEvent:
    """The fields of an EventBridge "ECS Deployment State Change" event the watch uses."""

    service_arn: str
    event_name: str
    deployment_id: str | None
    updated_at: str | None

    @property
    def label(self) -> str:
        return f"{self.event_name} {self.deployment_id or '?'}"


@dataclass(frozen=True)
class Ignored:
    """Why an event starts no watch. Answered `ignored`, never raised: a stray event is not an error."""

    reason: str


def parse_deployment_event(event: Any) -> DeploymentEvent | Ignored:
    if not isinstance(event, dict):
        return Ignored("not an event object")
    if event.get("source") != DEPLOYMENT_SOURCE or event.get("detail-type") != DEPLOYMENT_DETAIL_TYPE:
        return Ignored("not an ECS Deployment State Change event")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return Ignored("event has no detail object")
    name = detail.get("eventName")
    if name not in DEPLOYMENT_EVENT_NAMES:
        return Ignored(f"deployment event {name!r} is not one the watch follows")
    resources = event.get("resources")
    if not isinstance(resources, list) or len(resources) != 1 or not isinstance(resources[0], str):
        return Ignored("event does not name exactly one service in resources")
    deployment_id = detail.get("deploymentId")
    updated_at = detail.get("updatedAt")
    return DeploymentEvent(
        service_arn=resources[0],
        event_name=str(name),
        deployment_id=deployment_id if isinstance(deployment_id, str) else None,
        updated_at=updated_at if isinstance(updated_at, str) else None,
    )


# ---- the lease: at most one watch loop per service -------------------------------------------------------

LeaseAction = Literal["start", "extend", "handover"]


@dataclass(frozen=True)
class LeaseDecision:
    action: LeaseAction
    lease: WatchLease  # what to write; its `version` is the version it replaces (0: no item yet)


def decide_lease(
    current: WatchLease | None,
    *,
    now: datetime,
    holder: str,
    holder_until: datetime,
    watch_seconds: int,
    event_label: str,
    stale_after: timedelta,
    round_budget: timedelta = timedelta(0),
) -> LeaseDecision:
    """start: no live watch. extend: the running loop can reach the new end, so tell it and return at once.

    handover: a watch runs but its invocation ends before the new end (a deploy that took longer than the
    function's timeout allows for); this invocation takes the lease and the old holder stops at its next
    round, so the watch is continued, never dropped, and never run twice.
    """
    watch_until = now + timedelta(seconds=watch_seconds)
    version = current.version if current is not None else 0
    if current is None or not current.alive(now, stale_after):
        return LeaseDecision("start", WatchLease(holder, holder_until, watch_until, now, event_label, version))
    # The holder starts no round that could outlast its deadline: it can watch until holder_until - budget.
    if current.holder_until - round_budget >= watch_until:
        extended = replace(current, watch_until=max(current.watch_until, watch_until), last_event=event_label)
        return LeaseDecision("extend", extended)
    return LeaseDecision("handover", WatchLease(holder, holder_until, watch_until, now, event_label, version))


def stale_after(interval_seconds: int, round_budget_seconds: float) -> timedelta:
    """A live holder heartbeats every interval, or after its slowest possible round; allow missing two."""
    return timedelta(seconds=2 * interval_seconds + round_budget_seconds)


# ---- the round schedule ---------------------------------------------------------------------------------


def next_round_at(
    start: float,
    interval: float,
    now: float,
    *,
    next_index: int,
    watch_end: float,
    deadline: float,
    round_budget: float,
) -> float | None:
    """The monotonic instant of the next round's slot, or None when the watch is over.

    Rounds sit on the grid start + k * interval (k >= next_index, the rounds already run), so they never
    drift. A round that overran its interval makes the next one run at once in the slot now open, never in a
    burst for the slots it missed. A round is started only in a slot before the watch's end, and only if its
    probes can finish before the invocation's deadline.
    """
    if interval <= 0:
        raise ValueError("interval must be positive")
    open_slot = math.floor((now - start) / interval + 1e-9) if now > start else 0
    slot = start + max(next_index, open_slot) * interval
    if slot >= watch_end or max(slot, now) + round_budget > deadline:
        return None
    return slot


def round_index(start: float, interval: float, slot: float) -> int:
    return round((slot - start) / interval)


def watch_end(start_monotonic: float, start_wall: datetime, watch_until: datetime) -> float:
    """The lease speaks wall-clock time (it is shared between invocations); the loop runs on its monotonic clock."""
    return start_monotonic + (watch_until - start_wall).total_seconds()
