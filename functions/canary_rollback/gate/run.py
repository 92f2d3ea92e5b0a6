"""One lifecycle hook invocation: plan (pure), probe, decide (pure), then publish, audit, log and notify.

The answer is what ECS acts on, so nothing after the decision may change it, delay it past the timeout or make
the invocation fail: a Lambda error or timeout is read by ECS as a failed hook, and would roll back a healthy
deployment, or fail a hook ECS invokes while it rolls back. Metrics, audit and notification are therefore best
effort (logged on failure) and waited for only until the invocation's deadline (docs/design.md, "Answers on
time"). While automatic rollback is paused the answer is SUCCEEDED at every stage (docs/design.md, "Pause"); the
pause flag is read best effort too, and briefly: a state table that cannot answer leaves the gate as it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from canary_rollback.core.audit import HookRecord, record_fields
from canary_rollback.core.config import command_target, require_hook_settings
from canary_rollback.core.errors import CanaryRollbackError
from canary_rollback.core.evidence import advance_failures
from canary_rollback.core.metrics import hook_metrics
from canary_rollback.core.models import GuardedService, PauseFlag, ProbeResult
from canary_rollback.core.notifications import CardFacts, hook_failure_notification, hook_paused_notification
from canary_rollback.core.observability import logger
from canary_rollback.core.probe_spec import ProbeSpec
from canary_rollback.core.reporting import Step, report_within, result_within
from canary_rollback.gate.stages import (
    HookAnswer,
    HookEvent,
    HookEventError,
    HookSettings,
    decide_hook,
    parse_hook_event,
    plan_hook,
    while_paused,
)
from canary_rollback.http.prober import run_probes
from canary_rollback.runtime import Runtime


@dataclass(frozen=True)
class HookOutcome:
    answer: HookAnswer
    event: HookEvent | None
    results: tuple[ProbeResult, ...] = ()
    probes: tuple[ProbeSpec, ...] = ()  # as probed (at the stage's URL): the failure evidence names them
    would_have: HookAnswer | None = None  # while paused: the answer the gate would have given


# The longest the pause flag (one GetItem) is waited for: a hanging table must not eat the reporting's time.
PAUSE_READ_SECONDS = 5.0


def execute_hook(
    runtime: Runtime, raw_event: Any, deadline: float | None = None, report_by: float | None = None
) -> HookOutcome:
    """`deadline` (monotonic): probes unanswered then are timeouts, so ECS gets an answer, never a Lambda timeout.
    `report_by` (monotonic): the pause read and the reporting after the answer are not waited for past it."""
    settings = runtime.settings
    guarded = require_hook_settings(settings)
    hook_settings = HookSettings(guarded, settings.hook_passes_required, settings.hook_interval_seconds)
    try:
        event = parse_hook_event(raw_event)
    except HookEventError as exc:
        # Nothing here can be checked; a gate that cannot check must not pass.
        answer = HookAnswer("FAILED", {"reason": "malformed_event", "note": str(exc)})
        outcome = _unless_paused(runtime, guarded, HookOutcome(answer, None), report_by)
        _report(report_by, _record(runtime, guarded, outcome, runtime.clock()))
        return outcome

    try:
        plan = plan_hook(event, runtime.probe_specs, hook_settings)
    except CanaryRollbackError as exc:
        # The probes could not be loaded at a stage that needs them: a gate that cannot check must not pass,
        # and the answer (not a Lambda error) says why.
        answer = HookAnswer("FAILED", {"stage": event.stage, "reason": "error", "note": f"probes unavailable: {exc}"})
        outcome = _unless_paused(runtime, guarded, HookOutcome(answer, event), report_by)
        _report(report_by, _record(runtime, guarded, outcome, runtime.clock()))
        return outcome
    results: tuple[ProbeResult, ...] = ()
    if plan.answer is not None:
        answer = plan.answer
    else:
        session = runtime.http_session(len(plan.probes))
        results = tuple(run_probes(plan.probes, session, runtime.resolve_secret, deadline))
        answer = decide_hook(event, results, plan.probes, hook_settings)
    now = runtime.clock()
    outcome = _unless_paused(
        runtime, guarded, HookOutcome(answer, event, results, plan.probes if results else ()), report_by
    )
    steps: list[Step] = []
    if results:
        for result, spec in zip(results, plan.probes, strict=True):
            logger.info(
                "hook probe result",
                extra={"stage": event.stage, "url": spec.url, "probe": result.as_dict(), "detail": result.detail},
            )
        metrics, sink = hook_metrics(results, settings.powertools_service, event.stage, now), runtime.metrics_sink
        steps.append(("publish hook metrics", lambda: sink.publish(metrics)))
    _report(report_by, [*steps, *_record(runtime, guarded, outcome, now)])
    return outcome


def _unless_paused(
    runtime: Runtime, guarded: GuardedService, outcome: HookOutcome, report_by: float | None
) -> HookOutcome:
    """While paused, SUCCEEDED whatever the gate found; the outcome keeps what it would have answered."""
    pause = _pause(runtime, guarded, report_by)
    if pause is None:
        return outcome
    return replace(outcome, answer=while_paused(outcome.answer, pause), would_have=outcome.answer)


def _pause(runtime: Runtime, guarded: GuardedService, report_by: float | None) -> PauseFlag | None:
    store = runtime.store
    if store is None:
        return None
    by = None if report_by is None else min(report_by, time.monotonic() + PAUSE_READ_SECONDS)
    try:
        return result_within(by, "read the pause flag", lambda: store.load(guarded).paused)
    except CanaryRollbackError:
        logger.warning("could not read the pause flag; the gate answers as if not paused", exc_info=True)
        return None


def _record(runtime: Runtime, guarded: GuardedService, outcome: HookOutcome, now: datetime) -> list[Step]:
    """Log every answer now; its audit record and its notification (on FAILED, or while paused when it would have
    held the deployment) are the steps returned."""
    answer, event = outcome.answer, outcome.event
    would_have = outcome.would_have
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
        would_have_answered=would_have.status if would_have is not None else None,
        would_have_details=would_have.details if would_have is not None else None,
    )
    steps: list[Step] = []
    store = runtime.store
    if store is not None:
        steps.append(("audit the hook answer", lambda: store.audit(guarded, record)))
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
        notifier = runtime.notifier  # its client built here, not in the reporting thread
        steps.append(("notify the failed gate", lambda: notifier.publish(notification)))
        decision, events = notification.decision, runtime.decision_events
        if decision is not None:
            resources = (event.service_arn,) if event else ()
            steps.append(("put the decision event", lambda: events.put(decision, resources)))
    elif would_have is not None and would_have.status != "SUCCEEDED":
        paused = hook_paused_notification(
            guarded,
            event.stage if event else "unknown stage",
            event.target_revision_arn if event else "unknown revision",
            would_have.status,
            would_have.details,
            str(answer.details.get("paused", "")),
            CardFacts(
                evidence=advance_failures((), outcome.probes, outcome.results, now),
                command=command_target(runtime.settings),
                decided_at=now,
                origin="gate",
            ),
        )
        notifier = runtime.notifier
        steps.append(("notify the paused gate", lambda: notifier.publish(paused)))
        told, paused_events = paused.decision, runtime.decision_events
        if told is not None:
            paused_resources = (event.service_arn,) if event else ()
            steps.append(("put the decision event", lambda: paused_events.put(told, paused_resources)))
    return steps


def _report(report_by: float | None, steps: list[Step]) -> None:
    report_within(report_by, steps, best_effort=True, prefix="the hook answered but ")
