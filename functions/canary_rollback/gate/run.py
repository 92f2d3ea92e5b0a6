"""One lifecycle hook invocation: plan (pure), probe, decide (pure), then publish, audit, log and notify.

The answer is what ECS acts on, so nothing after the decision may change it or make the invocation fail: a
Lambda error is read by ECS as a failed hook, and would roll back a healthy deployment, or fail a hook ECS
invokes while it rolls back. Metrics, audit and notification are therefore best effort (logged on failure).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from canary_rollback.core.audit import HookRecord, record_fields
from canary_rollback.core.config import command_target, require_hook_settings
from canary_rollback.core.errors import CanaryRollbackError
from canary_rollback.core.evidence import advance_failures
from canary_rollback.core.metrics import hook_metrics
from canary_rollback.core.models import GuardedService, ProbeResult
from canary_rollback.core.notifications import CardFacts, hook_failure_notification
from canary_rollback.core.observability import best_effort, logger
from canary_rollback.core.probe_spec import ProbeSpec
from canary_rollback.gate.stages import (
    HookAnswer,
    HookEvent,
    HookEventError,
    HookSettings,
    decide_hook,
    parse_hook_event,
    plan_hook,
)
from canary_rollback.http.prober import run_probes
from canary_rollback.runtime import Runtime


@dataclass(frozen=True)
class HookOutcome:
    answer: HookAnswer
    event: HookEvent | None
    results: tuple[ProbeResult, ...] = ()
    probes: tuple[ProbeSpec, ...] = ()  # as probed (at the stage's URL): the failure evidence names them


def execute_hook(runtime: Runtime, raw_event: Any, deadline: float | None = None) -> HookOutcome:
    """`deadline` (monotonic): probes unanswered then are timeouts, so ECS gets an answer, never a Lambda timeout."""
    settings = runtime.settings
    guarded = require_hook_settings(settings)
    hook_settings = HookSettings(guarded, settings.hook_passes_required, settings.hook_interval_seconds)
    try:
        event = parse_hook_event(raw_event)
    except HookEventError as exc:
        # Nothing here can be checked; a gate that cannot check must not pass.
        answer = HookAnswer("FAILED", {"reason": "malformed_event", "note": str(exc)})
        outcome = HookOutcome(answer, None)
        _record(runtime, guarded, outcome, runtime.clock())
        return outcome

    try:
        plan = plan_hook(event, runtime.probe_specs, hook_settings)
    except CanaryRollbackError as exc:
        # The probes could not be loaded at a stage that needs them: a gate that cannot check must not pass,
        # and the answer (not a Lambda error) says why.
        answer = HookAnswer("FAILED", {"stage": event.stage, "reason": "error", "note": f"probes unavailable: {exc}"})
        outcome = HookOutcome(answer, event)
        _record(runtime, guarded, outcome, runtime.clock())
        return outcome
    results: tuple[ProbeResult, ...] = ()
    if plan.answer is not None:
        answer = plan.answer
    else:
        session = runtime.http_session(len(plan.probes))
        results = tuple(run_probes(plan.probes, session, runtime.resolve_secret, deadline))
        answer = decide_hook(event, results, plan.probes, hook_settings)
    now = runtime.clock()
    outcome = HookOutcome(answer, event, results, plan.probes if results else ())
    if results:
        for result, spec in zip(results, plan.probes, strict=True):
            logger.info(
                "hook probe result",
                extra={"stage": event.stage, "url": spec.url, "probe": result.as_dict(), "detail": result.detail},
            )
        _best_effort(
            "publish hook metrics",
            lambda: runtime.metrics_sink.publish(hook_metrics(results, settings.powertools_service, event.stage, now)),
        )
    _record(runtime, guarded, outcome, now)
    return outcome


def _record(runtime: Runtime, guarded: GuardedService, outcome: HookOutcome, now: datetime) -> None:
    """Audit, log and (on FAILED) notify every answer."""
    answer, event = outcome.answer, outcome.event
    record = HookRecord(
        at=now,
        status=answer.status,
        details=answer.details,
        stage=event.stage if event else None,
        execution_id=event.execution_id if event else None,
        deployment=event.resource_arn if event else None,
        service_arn=event.service_arn if event else None,
        target_revision=event.target_revision_arn if event else None,
        probes=tuple(result.as_dict() for result in outcome.results),
        service=guarded.key,
    )
    store = runtime.store
    if store is not None:
        _best_effort("audit the hook answer", lambda: store.audit(guarded, record))
    # `service` is the log's own field (powertools' service name); the guarded service goes under its own key.
    logged = {
        **{key: value for key, value in record_fields(record).items() if key != "service"},
        "guarded": guarded.key,
    }
    if answer.unchecked:
        logger.warning("hook answer", extra=logged)
    else:
        logger.info("hook answer", extra=logged)
    if answer.status == "FAILED":
        facts = CardFacts(
            evidence=advance_failures((), outcome.probes, outcome.results, now),
            command=command_target(runtime.settings),
            decided_at=now,
            origin="gate",
        )
        notification = hook_failure_notification(
            guarded,
            event.stage if event else "unknown stage",
            event.target_revision_arn if event else "unknown revision",
            event.resource_arn if event else "",
            answer.details,
            facts,
        )
        _best_effort("notify the failed gate", lambda: runtime.notifier.publish(notification))
        decision = notification.decision
        if decision is not None:
            resources = (event.service_arn,) if event else ()
            _best_effort("put the decision event", lambda: runtime.decision_events.put(decision, resources))


def _best_effort(what: str, action: Callable[[], object]) -> None:
    best_effort(f"could not {what}; the hook answer stands", action)  # the answer stands whatever fails after it
