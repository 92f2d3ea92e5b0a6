"""One scheduled probe run: describe, probe, publish metrics, describe again, advance known-good tracking.

Metrics go out before any state is touched, so a broken state store (or ECS API) never hides what the
probes saw; and the run ends before the Lambda does, so a hung target is a failure, never missing data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from canary_rollback.aws.ecs import EcsGateway
from canary_rollback.aws.state_store import update_with_retry
from canary_rollback.core.audit import PromotionRecord, RecoveryRecord, RevertedRecord, record_fields
from canary_rollback.core.config import command_target
from canary_rollback.core.ecs_outcome import reverted_by_ecs
from canary_rollback.core.errors import EcsError
from canary_rollback.core.evidence import advance_failures, deployed_images
from canary_rollback.core.metrics import probe_run_metrics, service_metric
from canary_rollback.core.models import GuardedService, ProbeResult, RecoveryEvent, ServiceObservation, ServiceState
from canary_rollback.core.notifications import CardFacts, recovery_notification
from canary_rollback.core.observability import logger
from canary_rollback.core.readiness import ReadinessRecord
from canary_rollback.core.reporting import report_within
from canary_rollback.core.state_codec import Writer
from canary_rollback.http.prober import run_probes
from canary_rollback.probe.readiness_check import check_readiness_if_due
from canary_rollback.probe.snapshots import agreed_digests
from canary_rollback.probe.tracking import (
    SnapshotCapture,
    TrackingOutcome,
    recovery_pending,
    streak_to_reset,
    track_run,
    track_watch_round,
)
from canary_rollback.runtime import Runtime


@dataclass(frozen=True)
class ProbeRunReport:
    results: list[ProbeResult]
    tracking: TrackingOutcome | None
    service: ServiceObservation | None
    known_good_after: int
    readiness: ReadinessRecord | None = None  # the check this run made (docs/readiness.md), if it was due

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    def as_response(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "probes": [result.as_dict() for result in self.results],
            "known_good": self._known_good_view(),
        }

    def _known_good_view(self) -> dict[str, Any] | None:
        if self.tracking is None or self.service is None:
            return None
        state = self.tracking.state
        return {
            "arn": state.known_good.arn if state.known_good else None,
            "since": state.known_good.since.isoformat() if state.known_good else None,
            "current": self.service.task_definition_arn,
            "steady": self.service.steady,
            "candidate": state.candidate.arn if state.candidate else None,
            "streak": state.candidate.streak if state.candidate else 0,
            "needed": self.known_good_after,
            "promoted": self.tracking.promoted is not None,
            "note": self.tracking.note,
            "readiness": self._readiness_view(state.readiness),
        }

    def _readiness_view(self, stored: ReadinessRecord | None) -> dict[str, Any] | None:
        record = self.readiness or stored
        if record is None:
            return None
        return {
            "verdict": record.verdict,
            "checked_at": record.checked_at.isoformat(),
            "checked_now": self.readiness is not None,
            "missing": [f.detail for f in record.missing],
            "unchecked": [f.detail for f in record.unchecked],
        }


# Left of the Lambda's time after the probes: the metrics (EMF: a print; PutMetricData: one call), the second
# DescribeServices and the state write. Probes still unanswered at the deadline are timeouts.
PUBLISH_MARGIN_SECONDS = 5.0
# A scheduled run never needs longer than its slowest probe may take (60 s) plus the margin, even when the
# function's timeout is sized for a deployment watch.
RUN_BUDGET_SECONDS = 65.0


def run_deadline(context: object, margin_seconds: float = PUBLISH_MARGIN_SECONDS) -> float | None:
    """The run's deadline on the monotonic clock: the invocation's remaining time less the margin, and never
    more than the run's budget."""
    if not hasattr(context, "get_remaining_time_in_millis"):
        return None  # called outside Lambda (the CLI, a script): the probes' own timeouts bound the run
    remaining = int(context.get_remaining_time_in_millis()) / 1000
    return time.monotonic() + min(max(remaining - margin_seconds, 0.0), RUN_BUDGET_SECONDS)


def execute_probe_run(
    runtime: Runtime,
    deadline: float | None = None,
    run_id: str | None = None,
    *,
    count_towards_known_good: bool = True,
    at: datetime | None = None,
) -> ProbeRunReport:
    """`count_towards_known_good=False, at=...` is a deployment-watch round: metrics stamped with the round's
    own time (its ProbeFailures under Source=watch), recovery recorded, the known-good streak never extended and
    reset when the round failed on the candidate (docs/design.md, "Probe run")."""
    settings = runtime.settings
    store = runtime.store
    guarded = settings.guarded
    tracking_on = guarded is not None and store is not None

    specs = runtime.probe_specs()
    before: ServiceObservation | None = None
    before_error: EcsError | None = None
    # A watch round records only a pending recovery: without one it needs no ECS call and no state write.
    state = store.load(guarded) if store is not None and guarded is not None and not count_towards_known_good else None
    records = tracking_on and (
        count_towards_known_good or (state is not None and recovery_pending(state.last_rollback))
    )
    if records and guarded is not None:
        try:
            before = runtime.ecs.describe(guarded)
        except EcsError as exc:  # still probe and publish: an ECS outage must not hide what the probes see
            before_error = exc
    results = run_probes(specs, runtime.http_session(len(specs)), runtime.resolve_secret, deadline)
    now = at if at is not None else runtime.clock()
    for result in results:
        logger.info(
            "probe result",
            extra={"probe": result.as_dict(), "detail": result.detail},
        )
    runtime.metrics_sink.publish(
        probe_run_metrics(results, settings.powertools_service, now, watch_round=not count_towards_known_good)
    )

    if guarded is None or store is None:
        return ProbeRunReport(results, None, None, settings.known_good_after)
    if before_error is not None:
        raise before_error

    run_ok = all(result.ok for result in results)
    # A failed run or round is evidence against the revision the service runs (docs/design.md, "superseded"),
    # and a failed round resets the candidate's streak: a round records them even when it has no recovery to
    # judge (one write, only when it failed).
    target_failed = any(result.target_failure for result in results)
    resets = state is not None and streak_to_reset(state, run_ok)
    if not records and not target_failed and not resets:
        if state is not None and (state.probe_failures or not run_ok):
            # Nothing else to record, but the failure evidence is the rollback's: keep it current (one write,
            # only while something fails or just stopped failing).
            def keep_evidence(current: ServiceState) -> tuple[ServiceState, None]:
                failures = advance_failures(current.probe_failures, specs, results, now)
                return replace(current, probe_failures=failures), None

            update_with_retry(store, guarded, keep_evidence, "watch_round", loaded=state)
        return ProbeRunReport(results, None, None, settings.known_good_after)  # nothing else a round may record
    service = runtime.ecs.describe(guarded)
    if state is None:
        state = store.load(guarded)  # read once: the snapshot's prediction and the tracking write share it
    # Snapshot at promotion (docs/design.md): captured BEFORE the write that would promote.
    snapshot = (
        capture_for_run(
            runtime.ecs, state, guarded, service, run_ok, now, settings.known_good_after, before=before, run_id=run_id
        )
        if count_towards_known_good
        else None
    )

    def advance(state: ServiceState) -> tuple[ServiceState, TrackingOutcome]:
        if count_towards_known_good:
            outcome = track_run(
                state,
                service,
                run_ok,
                now,
                settings.known_good_after,
                before=before,
                run_id=run_id,
                snapshot=snapshot,
                target_failed=target_failed,
            )
        else:
            outcome = track_watch_round(state, service, run_ok, now, before=before, target_failed=target_failed)
        failures = advance_failures(state.probe_failures, specs, results, now)
        return replace(outcome.state, probe_failures=failures), outcome

    writer: Writer = "probe_run" if count_towards_known_good else "watch_round"
    saved, outcome = update_with_retry(store, guarded, advance, writer, loaded=state)
    tracking = replace(outcome, state=saved)
    logger.info(
        "known-good tracking",
        extra={
            "current": service.task_definition_arn,
            "before": before.task_definition_arn if before else None,
            "steady": service.steady,
            "note": tracking.note,
        },
    )

    if tracking.promoted is not None:
        promotion = PromotionRecord(
            at=now, arn=tracking.promoted.arn, reason=tracking.promoted.reason, service=guarded.key
        )
        store.audit(guarded, promotion)
        logger.info(
            "known-good promoted", extra={"kind": promotion.kind, "arn": promotion.arn, "reason": promotion.reason}
        )
    if tracking.recovery is not None and tracking.recovery.outcome == "reverted":
        _report_reverted(runtime, guarded, tracking.recovery, now)
    elif tracking.recovery is not None:
        event = tracking.recovery
        if event.seconds is not None:
            runtime.metrics_sink.publish(
                [service_metric("RecoverySeconds", "Seconds", event.seconds, settings.powertools_service, now)]
            )
        store.audit(
            guarded,
            RecoveryRecord(
                at=now,
                outcome=event.outcome,
                rollback_id=event.rollback.rollback_id,
                to=event.rollback.to_arn,
                seconds=event.seconds,
                service=guarded.key,
            ),
        )
        notification = recovery_notification(
            guarded, event, recovery_facts(runtime, tracking.state, now, count_towards_known_good)
        )
        runtime.notifier.publish(notification)
        verdict, events = notification.decision, runtime.decision_events
        if verdict is not None:
            resources = (event.rollback.to_arn,)
            report_within(None, [("put the decision event", lambda: events.put(verdict, resources))], best_effort=True)
        logger.info("rollback outcome", extra={"outcome": event.outcome, "seconds": event.seconds})
    # Rollback readiness (docs/readiness.md): scheduled runs only, when due, within this run's deadline.
    readiness = check_readiness_if_due(runtime, guarded, tracking.state, deadline) if count_towards_known_good else None
    return ProbeRunReport(results, tracking, service, settings.known_good_after, readiness)


def recovery_facts(runtime: Runtime, state: ServiceState, now: datetime, scheduled: bool) -> CardFacts:
    """The recovery verdict's evidence card: the failures still on record (none once recovered) and the images the
    service runs now, from the known-good's snapshot when it is the revision judged."""
    known_good, rollback = state.known_good, state.last_rollback
    images = None
    judged_known_good = known_good is not None and rollback is not None and known_good.arn == rollback.to_arn
    if judged_known_good and known_good is not None and known_good.snapshot is not None:
        images = deployed_images(known_good.snapshot.definition)
    return CardFacts(
        evidence=state.probe_failures,
        images=images,
        command=command_target(runtime.settings),
        decided_at=now,
        origin="probe" if scheduled else "watch",
    )


def follow_rollback(runtime: Runtime, guarded: GuardedService, service: ServiceObservation) -> bool:
    """Whoever sees the service first follows the last rollback's deployment (docs/design.md, "The rollback lock"):
    used where no probe run follows (an ECS deployment event of a gated service). True when ECS reverted it."""
    store = runtime.store
    if store is None:
        return False
    now = runtime.clock()

    def follow(state: ServiceState) -> tuple[ServiceState, RecoveryEvent | None]:
        lock = state.last_rollback
        how = reverted_by_ecs(lock, service)
        if lock is None or how is None:
            return state, None
        reverted = lock.reverted(now, how)
        event = RecoveryEvent("reverted", reverted, None, current=service.task_definition_arn)
        return replace(state, last_rollback=reverted), event

    state = store.load(guarded)
    if reverted_by_ecs(state.last_rollback, service) is None:
        return False  # nothing to record: no write
    _, event = update_with_retry(store, guarded, follow, "follow", loaded=state)
    if event is not None:
        _report_reverted(runtime, guarded, event, now)
    return event is not None


def _report_reverted(runtime: Runtime, guarded: GuardedService, event: RecoveryEvent, now: datetime) -> None:
    """ECS undid the rollback (this run saw it first): audited and notified plainly; the next tick tries again."""
    rollback = event.rollback
    record = RevertedRecord(
        at=now,
        rollback_id=rollback.rollback_id,
        alarm=rollback.alarm,
        from_arn=rollback.from_arn,
        to=rollback.to_arn,
        attempt=rollback.attempt,
        how=rollback.reverted_how,
        current=event.current,
        service=guarded.key,
    )
    store = runtime.store
    assert store is not None  # tracking runs only with a state table
    store.audit(guarded, record)
    facts = CardFacts(command=command_target(runtime.settings), decided_at=now, origin="probe")
    notification = recovery_notification(guarded, event, facts)
    runtime.notifier.publish(notification)
    verdict, events = notification.decision, runtime.decision_events
    if verdict is not None:
        resources = (event.rollback.to_arn,)
        report_within(None, [("put the decision event", lambda: events.put(verdict, resources))], best_effort=True)
    logger.warning("rollback reverted by ECS", extra={"reverted": record_fields(record)})


def capture_snapshot(ecs: EcsGateway, guarded: GuardedService, arn: str) -> SnapshotCapture:
    """The revision as registered plus the digests its running tasks report (EcsError if ECS cannot say)."""
    snapshot = ecs.registrable_snapshot(arn)
    digests, disagreement = agreed_digests(ecs.running_digests(guarded, arn))
    if disagreement is not None:
        logger.warning("known-good not promoted", extra={"arn": arn, "reason": disagreement})
        return SnapshotCapture(arn, None, disagreement)
    return SnapshotCapture(arn, replace(snapshot, digests=digests))


def capture_for_run(
    ecs: EcsGateway,
    state: ServiceState,
    guarded: GuardedService,
    service: ServiceObservation,
    run_ok: bool,
    now: datetime,
    known_good_after: int,
    *,
    before: ServiceObservation | None = None,
    run_id: str | None = None,
) -> SnapshotCapture:
    """Predict this run with the same pure tracking function; capture only when it would promote, so the other
    runs make no extra ECS calls. A run that was not predicted to promote (the state moved meanwhile) gets a
    capture without snapshot, which `attach` refuses: no revision is ever promoted without its snapshot."""
    arn = service.task_definition_arn
    predicted = track_run(state, service, run_ok, now, known_good_after, before=before, run_id=run_id)
    if predicted.promoted is None:
        return SnapshotCapture(arn, None, "no snapshot was captured in this run (it was not expected to promote)")
    try:
        return capture_snapshot(ecs, guarded, arn)
    except EcsError as exc:
        logger.warning("snapshot not captured", extra={"arn": arn, "error": str(exc)})
        return SnapshotCapture(arn, None, f"its snapshot could not be captured ({exc})")
