"""Deployment watch, the orchestration: answer an ECS deployment event, then probe in rounds until the watch ends.

The rules (which event, which lease action, when the next round is) live in `watch.py`; this module only
reads the clocks, talks to the StateTable and runs each round through the probe run's own code, so a round
publishes exactly the metrics a scheduled run does and records recovery the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from canary_rollback.aws.state_store import StateStore
from canary_rollback.core.arns import is_guarded_service
from canary_rollback.core.errors import CanaryRollbackError, StateConflict, StateStoreError
from canary_rollback.core.models import GuardedService, WatchLease
from canary_rollback.core.observability import logger
from canary_rollback.core.probe_spec import ProbeSpec
from canary_rollback.probe.run import execute_probe_run, follow_rollback
from canary_rollback.runtime import Runtime
from canary_rollback.watch.lease import (
    Ignored,
    LeaseDecision,
    decide_lease,
    next_round_at,
    parse_deployment_event,
    round_index,
    stale_after,
    watch_end,
)

# Consecutive heartbeat failures (DynamoDB throttled past botocore's retries) after which a watch gives up.
MAX_HEARTBEAT_FAILURES = 3
# Stop starting rounds this long before the invocation's deadline: the last round's metrics must go out.
DEADLINE_MARGIN_SECONDS = 10.0
# AWS calls of one round (heartbeat, metrics, a recovery check) on top of its slowest probe.
ROUND_OVERHEAD_SECONDS = 5.0
LEASE_ATTEMPTS = 5

WatchAction = Literal["watched", "extended", "ignored"]


@dataclass(frozen=True)
class WatchRound:
    index: int
    at: datetime
    ok: bool
    failures: tuple[str, ...]  # "probe status-or-reason", for people


@dataclass(frozen=True)
class WatchOutcome:
    action: WatchAction
    reason: str
    rounds: int = 0
    failed_rounds: int = 0
    handed_over: bool = False

    def as_response(self) -> dict[str, Any]:
        response: dict[str, Any] = {"action": self.action, "reason": self.reason}
        if self.action == "watched":
            response.update(rounds=self.rounds, failed_rounds=self.failed_rounds, handed_over=self.handed_over)
        return response


def round_budget(specs: Sequence[ProbeSpec]) -> float:
    """The longest a round can take: probes run concurrently, so the slowest probe's timeout plus AWS calls."""
    return max((spec.timeout_ms for spec in specs), default=0) / 1000 + ROUND_OVERHEAD_SECONDS


def watch_deployment(runtime: Runtime, event: Any, *, holder: str, remaining_seconds: float) -> WatchOutcome:
    """`holder` names this invocation (its request id); `remaining_seconds` is what the Lambda context allows."""
    parsed = parse_deployment_event(event)
    settings = runtime.settings
    guarded = settings.guarded
    if isinstance(parsed, Ignored):
        return _ignored(parsed.reason)
    if guarded is None or runtime.store is None:
        return _ignored("CLUSTER_NAME, SERVICE_NAME and STATE_TABLE are needed to watch a deployment")
    if not is_guarded_service(parsed.service_arn, guarded):
        return _ignored(f"deployment of {parsed.service_arn}, not of the guarded service {guarded.key}")
    service = runtime.ecs.describe(guarded)
    strategy = service.deployment_strategy
    if strategy != "ROLLING":
        # ECS gates these deployments with lifecycle hooks (our DeploymentHookFunction) and rolls them back by
        # itself: watch rounds would publish ProbeFailures and race that rollback with ours. The event still
        # follows our last rollback's deployment: ECS (or our own gate) may have reverted it.
        follow_rollback(runtime, guarded, service)
        return _ignored(f"{strategy} deployment: ECS's lifecycle hooks gate it and ECS rolls it back by itself")
    store = runtime.store

    start = runtime.monotonic()
    start_wall = runtime.clock()
    deadline = start + remaining_seconds - DEADLINE_MARGIN_SECONDS
    budget = round_budget(runtime.probe_specs())
    decision = _take_lease(
        store,
        guarded,
        runtime,
        holder=holder,
        holder_until=start_wall + timedelta(seconds=deadline - start),
        event_label=parsed.label,
        stale=stale_after(settings.watch_interval_seconds, budget),
        budget=budget,
    )
    logger.info(
        "deployment watch",
        extra={"event": parsed.label, "lease": decision.action, "until": decision.lease.watch_until.isoformat()},
    )
    if decision.action == "extend":
        until = decision.lease.watch_until.isoformat(timespec="seconds")
        return WatchOutcome("extended", f"{parsed.label}: the running watch goes on until {until}")
    return _run_rounds(runtime, store, guarded, decision.lease, start, start_wall, deadline, budget)


def _ignored(reason: str) -> WatchOutcome:
    logger.info("deployment event ignored", extra={"reason": reason})
    return WatchOutcome("ignored", reason)


def _take_lease(
    store: StateStore,
    guarded: GuardedService,
    runtime: Runtime,
    *,
    holder: str,
    holder_until: datetime,
    event_label: str,
    stale: timedelta,
    budget: float,
) -> LeaseDecision:
    """Read, decide, write conditionally; a lost race (two events at once) decides again on what won."""
    for _ in range(LEASE_ATTEMPTS):
        decision = decide_lease(
            store.load_watch(guarded),
            now=runtime.clock(),
            holder=holder,
            holder_until=holder_until,
            watch_seconds=runtime.settings.watch_seconds,
            event_label=event_label,
            stale_after=stale,
            round_budget=timedelta(seconds=budget),
        )
        try:
            return LeaseDecision(decision.action, store.put_watch(guarded, decision.lease))
        except StateConflict:
            continue
    raise StateConflict(f"watch lease of {guarded.key} kept changing; gave up after {LEASE_ATTEMPTS} attempts")


def _run_rounds(
    runtime: Runtime,
    store: StateStore,
    guarded: GuardedService,
    lease: WatchLease,
    start: float,
    start_wall: datetime,
    deadline: float,
    budget: float,
) -> WatchOutcome:
    interval = runtime.settings.watch_interval_seconds
    watch_until = lease.watch_until
    rounds = failed = next_index = 0
    handed_over = False
    store_failures = 0
    reason = "watch window over"
    while True:
        now = runtime.monotonic()
        slot = next_round_at(
            start,
            interval,
            now,
            next_index=next_index,
            watch_end=watch_end(start, start_wall, watch_until),
            deadline=deadline,
            round_budget=budget,
        )
        if slot is None:
            # Done: release the lease, unless an event extended it since the last heartbeat (then go on).
            try:
                if store.release_watch(guarded, lease.holder, watch_until, runtime.clock()):
                    break
            except StateStoreError:
                logger.warning("could not release the watch lease; it expires with this invocation", exc_info=True)
                break
            current = store.heartbeat_watch(guarded, lease.holder, runtime.clock())
            if current is None:
                handed_over = True
                break
            watch_until = current.watch_until
            continue
        if slot > now:
            runtime.sleep(slot - now)
        index = round_index(start, interval, slot)
        next_index = index + 1
        at = start_wall + timedelta(seconds=index * interval)
        # Before every round: prove this invocation still holds the watch and learn of extensions.
        try:
            current = store.heartbeat_watch(guarded, lease.holder, runtime.clock())
            store_failures = 0
        except StateStoreError:
            # DynamoDB throttled past retries: keep watching on what we knew; a few in a row end the watch.
            store_failures += 1
            logger.warning("watch heartbeat failed", extra={"consecutive": store_failures}, exc_info=True)
            if store_failures >= MAX_HEARTBEAT_FAILURES:
                reason = "the state table kept failing"
                break
            current = replace(lease, watch_until=watch_until)
        if current is None:
            handed_over = True
            break
        watch_until = current.watch_until
        watch_round = _probe_round(runtime, index, at, budget)
        if watch_round is None:
            continue
        rounds += 1
        failed += 0 if watch_round.ok else 1
    if handed_over:
        reason = "handed over to the invocation of a later deployment event"
    logger.info("deployment watch ended", extra={"rounds": rounds, "failed_rounds": failed, "reason": reason})
    return WatchOutcome("watched", reason, rounds, failed, handed_over)


def _probe_round(runtime: Runtime, index: int, at: datetime, budget: float) -> WatchRound | None:
    """One round through the probe run's own code; its metrics carry the round's slot time."""
    try:
        # The round's own deadline (real time: the probes are real HTTP even when the demo simulates the grid),
        # so a hung target is a timeout of this round, never a stalled watch.
        report = execute_probe_run(runtime, deadline=time.monotonic() + budget, count_towards_known_good=False, at=at)
    except CanaryRollbackError:
        # A state-store or ECS hiccup must not end the watch: the round's metrics, published first, stand.
        logger.exception("watch round could not finish", extra={"round": index})
        return None
    failures = tuple(f"{r.name} {r.status or r.reason}" for r in report.results if not r.ok)
    # One record per round: how an operator (and the demo's timeline) follows a watch; keep message and fields.
    logger.info("watch round", extra={"round": index, "at": at.isoformat(), "ok": report.ok, "failures": failures})
    return WatchRound(index, at, report.ok, failures)
