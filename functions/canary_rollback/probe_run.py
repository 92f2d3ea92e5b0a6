"""One scheduled probe run: probe, publish metrics, then advance known-good tracking.

Metrics go out before any state is touched, so a broken state store never hides what the probes saw.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from canary_rollback.aws.state_store import update_with_retry
from canary_rollback.metrics import probe_run_metrics, service_metric
from canary_rollback.models import ProbeResult, ServiceObservation, ServiceState
from canary_rollback.notifications import recovery_notification
from canary_rollback.observability import logger
from canary_rollback.prober import run_probes
from canary_rollback.runtime import Runtime
from canary_rollback.tracking import TrackingOutcome, recovery_pending, track_run, track_watch_round


@dataclass(frozen=True)
class ProbeRunReport:
    results: list[ProbeResult]
    tracking: TrackingOutcome | None
    service: ServiceObservation | None
    known_good_after: int

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
        }


def execute_probe_run(
    runtime: Runtime, *, count_towards_known_good: bool = True, at: datetime | None = None
) -> ProbeRunReport:
    """`count_towards_known_good=False, at=...` is a deployment-watch round: metrics stamped with the round's
    own time, recovery recorded, the known-good streak never extended (README, "Deployment watch")."""
    specs = runtime.probe_specs()
    results = run_probes(specs, runtime.http_session(len(specs)), runtime.resolve_secret)
    now = at if at is not None else runtime.clock()
    for result in results:
        logger.info(
            "probe result",
            extra={"probe": result.as_dict(), "detail": result.detail},
        )
    runtime.metrics_sink.publish(probe_run_metrics(results, runtime.settings.service_name, now))

    settings = runtime.settings
    store = runtime.store
    if settings.guarded is None or store is None:
        return ProbeRunReport(results, None, None, settings.known_good_after)

    guarded = settings.guarded
    run_ok = all(result.ok for result in results)
    if not count_towards_known_good and not recovery_pending(store.load(guarded).last_rollback):
        return ProbeRunReport(results, None, None, settings.known_good_after)  # nothing a round may record
    service = runtime.ecs.describe(guarded)

    def advance(state: ServiceState) -> tuple[ServiceState, TrackingOutcome]:
        if count_towards_known_good:
            outcome = track_run(state, service, run_ok, now, settings.known_good_after)
        else:
            outcome = track_watch_round(state, service, run_ok, now)
        return outcome.state, outcome

    saved, outcome = update_with_retry(store, guarded, advance)
    tracking = replace(outcome, state=saved)
    logger.info(
        "known-good tracking",
        extra={"current": service.task_definition_arn, "steady": service.steady, "note": tracking.note},
    )

    if tracking.promoted is not None:
        record = {"kind": "promotion", "arn": tracking.promoted.arn, "reason": tracking.promoted.reason}
        store.audit(guarded, {**record, "at": now.isoformat(), "service": guarded.key}, now)
        logger.info("known-good promoted", extra=record)
    if tracking.recovery is not None:
        event = tracking.recovery
        if event.seconds is not None:
            runtime.metrics_sink.publish(
                [service_metric("RecoverySeconds", "Seconds", event.seconds, settings.service_name, now)]
            )
        store.audit(
            guarded,
            {
                "kind": "recovery",
                "outcome": event.outcome,
                "rollback_id": event.rollback.rollback_id,
                "to": event.rollback.to_arn,
                "seconds": event.seconds,
                "at": now.isoformat(),
                "service": guarded.key,
            },
            now,
        )
        runtime.notifier.publish(recovery_notification(guarded, event))
        logger.info("rollback outcome", extra={"outcome": event.outcome, "seconds": event.seconds})
    return ProbeRunReport(results, tracking, service, settings.known_good_after)
