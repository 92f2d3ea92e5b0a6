"""The readiness step of a scheduled probe run: prove the known-good restorable, record it, tell on change.

Never fails or delays the probe run (docs/readiness.md): it runs only when due, inside the run's deadline less
a margin (and never longer than READINESS_BUDGET_SECONDS); the lookups run in a thread that is not waited for
past that budget, and whatever they could not answer by then is `unchecked`. Reporting is best effort, within
the run's deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from canary_rollback.aws.state_store import update_with_retry
from canary_rollback.core.audit import ReadinessChangeRecord
from canary_rollback.core.config import command_target
from canary_rollback.core.errors import EcsError, ReadinessLookupError
from canary_rollback.core.metrics import service_metric
from canary_rollback.core.models import GuardedService, KnownGood, ServiceState
from canary_rollback.core.notifications import CardFacts, readiness_notification
from canary_rollback.core.observability import logger
from canary_rollback.core.readiness import ReadinessFinding, ReadinessRecord
from canary_rollback.core.reporting import report_within
from canary_rollback.probe.readiness import (
    image_finding,
    readiness_due,
    restored_images,
    role_finding,
    role_names,
    should_audit,
    should_notify,
    snapshot_error_finding,
    task_definition_finding,
    unfinished_finding,
    verdict,
)
from canary_rollback.runtime import Runtime

# A handful of lookups; each client gives up after two attempts of at most 2 s + 5 s (aws/clients.py).
READINESS_BUDGET_SECONDS = 10.0
# Left of the run's deadline for what follows the lookups: one state write, the metric, the audit, SNS.
REPORT_MARGIN_SECONDS = 2.0
MIN_BUDGET_SECONDS = 1.0

Add = Callable[[ReadinessFinding], None]


def readiness_budget(deadline: float | None, now_monotonic: float) -> float:
    """Seconds the lookups may take: the run's deadline less the margin, capped (outside Lambda: the cap)."""
    if deadline is None:
        return READINESS_BUDGET_SECONDS
    return max(0.0, min(READINESS_BUDGET_SECONDS, deadline - now_monotonic - REPORT_MARGIN_SECONDS))


def check_readiness_if_due(
    runtime: Runtime, guarded: GuardedService, state: ServiceState, deadline: float | None
) -> ReadinessRecord | None:
    """The record this run made, or None: no known-good, not due, or no time left (the next run checks)."""
    known_good = state.known_good
    now = runtime.clock()
    interval = runtime.settings.readiness_interval_seconds
    if known_good is None or not readiness_due(state.readiness, known_good.arn, now, interval):
        return None
    budget = readiness_budget(deadline, time.monotonic())
    if budget < MIN_BUDGET_SECONDS:
        logger.info("readiness check postponed: no time left in this run", extra={"budget_seconds": budget})
        return None
    findings = _gather_within(budget, lambda add: _gather(runtime, known_good, add))
    record = ReadinessRecord(known_good.arn, now, verdict(findings), tuple(findings))
    _report(runtime, guarded, state, record, deadline)
    return record


def _gather_within(budget: float, gather: Callable[[Add], None]) -> list[ReadinessFinding]:
    found: list[ReadinessFinding] = []

    def work() -> None:
        try:
            gather(found.append)
        except Exception as exc:  # a bug in the check is the check's own error, never the probe run's
            logger.exception("readiness check failed")
            found.append(ReadinessFinding("check", "readiness check", "error", f"the check failed: {exc!r}"))

    worker = threading.Thread(target=work, name="readiness-check", daemon=True)
    worker.start()
    worker.join(budget)
    unfinished = worker.is_alive()  # read before copying: a finished worker has added everything
    findings = list(found)
    if unfinished:
        findings.append(unfinished_finding(budget))
    return findings


def _gather(runtime: Runtime, known_good: KnownGood, add: Add) -> None:
    """Ask ECS, ECR and IAM what a restore of `known_good` needs, one finding per answer, as they come."""
    ecs, arn = runtime.ecs, known_good.arn
    active: bool | None = None
    try:
        active = ecs.is_deployable(arn)
        add(task_definition_finding(arn, active, known_good.snapshot is not None, None))
    except EcsError as exc:
        add(task_definition_finding(arn, None, known_good.snapshot is not None, str(exc)))
    snapshot = known_good.snapshot
    if snapshot is None and active:
        try:  # recorded before snapshots existed: an ACTIVE revision can still be described
            snapshot = ecs.registrable_snapshot(arn)
        except EcsError as exc:
            add(snapshot_error_finding(arn, str(exc)))
    if snapshot is None:
        return
    for image in restored_images(snapshot, runtime.settings.pin_image_digests):
        if image.repository is None or image.problem is not None:
            add(image_finding(image, None, None))
            continue
        try:
            presence = runtime.ecr.image_presence(image.repository, digest=image.digest, tag=image.tag)
            add(image_finding(image, presence, None))
        except ReadinessLookupError as exc:
            add(image_finding(image, None, str(exc)))
    for kind, named, lookup in role_names(snapshot, arn):
        if lookup is None:
            add(role_finding(kind, named, None, None))
            continue
        try:
            add(role_finding(kind, named, runtime.iam.role_exists(lookup), None))
        except ReadinessLookupError as exc:
            add(role_finding(kind, named, None, str(exc)))


def _report(
    runtime: Runtime, guarded: GuardedService, state: ServiceState, record: ReadinessRecord, deadline: float | None
) -> None:
    """Record it in the state item (its own attribute), publish RollbackReady, audit and notify on change. Best
    effort and bounded by the run's deadline (core/reporting.py): a broken or hanging table or topic must not fail
    or hold the probe run that found this out."""
    store = runtime.store
    assert store is not None  # the probe run checks readiness only while it tracks state
    logger.info("rollback readiness", extra={"known_good": record.known_good, "readiness": record.headline()})
    previous = state.readiness  # what the state write finds replaces it: the latest check anyone recorded

    def write(current: ServiceState) -> tuple[ServiceState, ReadinessRecord | None]:
        return replace(current, readiness=record), current.readiness

    def save() -> None:
        nonlocal previous
        _, previous = update_with_retry(store, guarded, write, "readiness", loaded=state)

    def publish() -> None:
        value = record.metric_value
        if value is not None:
            service = runtime.settings.powertools_service
            runtime.metrics_sink.publish([service_metric("RollbackReady", "Count", value, service, record.checked_at)])

    def audit() -> None:
        if should_audit(previous, record):
            change = ReadinessChangeRecord(
                at=record.checked_at,
                known_good=record.known_good,
                verdict=record.verdict,
                previous=previous.verdict if previous is not None else None,
                headline=record.headline(),
                missing=tuple(f.detail for f in record.missing),
                unchecked=tuple(f.detail for f in record.unchecked),
                service=guarded.key,
            )
            store.audit(guarded, change)

    def notify() -> None:
        if should_notify(previous, record):
            facts = CardFacts(command=command_target(runtime.settings), decided_at=record.checked_at)
            runtime.notifier.publish(readiness_notification(guarded, record, previous, facts))

    steps = [
        ("record rollback readiness", save),
        ("publish RollbackReady", publish),
        ("audit rollback readiness", audit),
        ("notify rollback readiness", notify),
    ]
    report_within(deadline, steps, best_effort=True, service=guarded.key)
