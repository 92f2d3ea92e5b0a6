"""Respond to one alarm signal: gather inputs, decide (pure), carry the decision out, record it.

Exactly-once acting rests on two mechanisms:
  * powertools Idempotency (in the handler) collapses duplicate deliveries of one alarm state change;
  * the per-service lock here: a `pending` rollback record written conditionally *before* UpdateService.
    Any concurrent responder loses that write, re-reads, and decides `in_progress` instead of acting.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from canary_rollback.aws.state_store import update_with_retry
from canary_rollback.config import GuardedService
from canary_rollback.decision import RollbackSettings, decide_rollback
from canary_rollback.errors import CanaryRollbackError, EcsError, StateConflict
from canary_rollback.metrics import service_metric
from canary_rollback.models import AlarmSignal, Decision, RollbackRecord, ServiceState
from canary_rollback.notifications import decision_notification
from canary_rollback.observability import logger
from canary_rollback.restore import TargetPlan, plan_rollback_target, reusable_copy
from canary_rollback.runtime import Runtime

LOCK_ATTEMPTS = 5


@dataclass(frozen=True)
class RollbackOutcome:
    decision: Decision
    alarm: AlarmSignal | None
    guarded: GuardedService

    def as_response(self) -> dict[str, Any]:
        return {
            "action": self.decision.action,
            "reason": self.decision.reason,
            "alarm": self.alarm.alarm_name if self.alarm else None,
            "cluster": self.guarded.cluster,
            "service": self.guarded.service,
            "current": self.decision.current,
            "target": self.decision.target,
        }


class RollbackResponder:
    def __init__(self, runtime: Runtime, guarded: GuardedService) -> None:
        self._rt = runtime
        self._guarded = guarded
        store = runtime.store
        assert store is not None  # require_rollback_settings guarantees a table
        self._store = store
        self._settings = RollbackSettings(
            cooldown_seconds=runtime.settings.rollback_cooldown_seconds,
            dry_run=runtime.settings.dry_run,
        )

    def respond(self, alarm: AlarmSignal | None) -> RollbackOutcome:
        now = self._rt.clock()
        if alarm is None or alarm.state != "ALARM":
            return self._finish(alarm, decide_rollback(alarm, None, ServiceState(), now, self._settings), now)
        try:
            decision = self._decide_and_act(alarm, now)
        except CanaryRollbackError as exc:
            self._record_error(alarm, exc, now)
            raise
        return self._finish(alarm, decision, now)

    def duplicate_in_progress(self, alarm: AlarmSignal) -> RollbackOutcome:
        """Another invocation is handling this very alarm state change (powertools Idempotency said so)."""
        decision = Decision(
            "in_progress",
            f"a duplicate delivery of alarm {alarm.alarm_name} at {alarm.changed_at} is being handled",
            None,
            None,
        )
        return self._finish(alarm, decision, self._rt.clock())

    def preview(self, alarm: AlarmSignal, now: datetime) -> Decision:
        """What the alarm would decide now: gathers the same inputs, acts on nothing, records nothing."""
        return self._decide(alarm, now)[1]

    def _decide(self, alarm: AlarmSignal, now: datetime) -> tuple[ServiceState, Decision, TargetPlan | None]:
        ecs = self._rt.ecs
        # State first, then the service: a `done` rollback read here is always visible in the service.
        state = self._store.load(self._guarded)
        service = ecs.describe(self._guarded)
        known_good = state.known_good
        needs_check = known_good is not None and known_good.arn != service.task_definition_arn
        # restore.py: a describe that fails (INACTIVE and unreferenced, or deleted) means "not ACTIVE"
        active = ecs.is_deployable(known_good.arn) if needs_check and known_good else True
        # The plan says what is restored (and whether a copy is registered), so the decision need not.
        decision = decide_rollback(alarm, service, state, now, self._settings)
        plan = self._plan(decision, state, active)
        if plan is not None:
            decision = replace(decision, reason=f"{decision.reason}; {plan.reason()}", needs_copy=plan.register)
        return state, decision, plan

    def _plan(self, decision: Decision, state: ServiceState, active: bool) -> TargetPlan | None:
        """Restore what was seen healthy (README "How decisions are made"): as it is, or a digest-pinned copy."""
        known_good = state.known_good
        if decision.action not in ("rolled_back", "dry_run") or known_good is None:
            return None
        if known_good.snapshot is None and not active:
            # Recorded before snapshots existed: the one case that still depends on describing the old revision.
            known_good = replace(known_good, snapshot=self._rt.ecs.registrable_snapshot(known_good.arn))
        return plan_rollback_target(known_good, active, self._rt.settings.pin_image_digests)

    def _decide_and_act(self, alarm: AlarmSignal, now: datetime) -> Decision:
        for _ in range(LOCK_ATTEMPTS):
            state, decision, plan = self._decide(alarm, now)
            if decision.action != "rolled_back":
                return decision
            assert decision.current is not None
            assert decision.target is not None
            lock = RollbackRecord(
                rollback_id=uuid.uuid4().hex[:12],
                at=now,
                alarm=alarm.alarm_name,
                from_arn=decision.current,
                to_arn=decision.target,
                status="pending",
                copy_arn=_copy_to_reuse(state, plan),
            )
            try:
                self._store.save(self._guarded, replace(state, last_rollback=lock), state.version)
            except StateConflict:
                continue  # someone else changed the state first: decide again on fresh data
            return self._carry_out(decision, lock, plan)
        raise StateConflict(f"state of {self._guarded.key} kept changing; no decision after {LOCK_ATTEMPTS} tries")

    def _carry_out(self, decision: Decision, lock: RollbackRecord, plan: TargetPlan | None) -> Decision:
        assert decision.target is not None
        target = decision.target
        reason = decision.reason
        try:
            if plan is not None and plan.register:
                # One copy per rollback: a retry finds the copy's ARN on the lock and deploys it again.
                target = lock.copy_arn or self._register_copy(plan, lock)
                reason = reason.replace(plan.reason(), plan.reason(target))
            self._rt.ecs.update_service(self._guarded, target)
        except EcsError:
            self._release(lock)
            raise

        copied_from = decision.target if plan is not None and plan.register else None

        def finish(state: ServiceState) -> tuple[ServiceState, None]:
            rollback = state.last_rollback
            if rollback is None or rollback.rollback_id != lock.rollback_id:
                return state, None  # superseded; keep what is there
            done = replace(rollback, status="done", to_arn=target)
            known_good = state.known_good
            if plan is not None and known_good is not None and copied_from == known_good.arn:
                known_good = plan.copied_known_good(target, known_good)
            return replace(state, last_rollback=done, known_good=known_good), None

        update_with_retry(self._store, self._guarded, finish)
        return replace(decision, target=target, reason=reason)

    def _register_copy(self, plan: TargetPlan, lock: RollbackRecord) -> str:
        """Register the copy, then record its ARN with the lock before UpdateService is called."""
        assert plan.request is not None
        copy_arn = self._rt.ecs.register_task_definition(plan.request, plan.tags)

        def record(state: ServiceState) -> tuple[ServiceState, None]:
            rollback = state.last_rollback
            if rollback is None or rollback.rollback_id != lock.rollback_id:
                return state, None
            return replace(state, last_rollback=replace(rollback, copy_arn=copy_arn)), None

        update_with_retry(self._store, self._guarded, record)
        logger.info("registered a copy of the known-good", extra={"copy": copy_arn, "plan": plan.reason(copy_arn)})
        return copy_arn

    def _release(self, lock: RollbackRecord) -> None:
        """UpdateService failed: mark the attempt failed so the next alarm (or retry) may act. No half state."""

        def fail(state: ServiceState) -> tuple[ServiceState, None]:
            rollback = state.last_rollback
            if rollback is None or rollback.rollback_id != lock.rollback_id:
                return state, None
            return replace(state, last_rollback=replace(rollback, status="failed")), None

        update_with_retry(self._store, self._guarded, fail)

    def _finish(self, alarm: AlarmSignal | None, decision: Decision, now: datetime) -> RollbackOutcome:
        outcome = RollbackOutcome(decision, alarm, self._guarded)
        record = {
            "kind": "decision",
            **outcome.as_response(),
            "alarm_state": alarm.state if alarm else None,
            "delivery": alarm.delivery if alarm else None,
            "dry_run": self._settings.dry_run,
            "at": now.isoformat(),
        }
        logger.info("rollback decision", extra={"decision": record})
        self._store.audit(self._guarded, record, now)
        if decision.action in ("rolled_back", "no_known_good"):
            self._rt.metrics_sink.publish(
                [
                    service_metric(
                        "Rollbacks",
                        "Count",
                        1 if decision.action == "rolled_back" else 0,
                        self._rt.settings.service_name,
                        now,
                    )
                ]
            )
        if decision.notify:
            self._rt.notifier.publish(decision_notification(self._guarded, alarm, decision))
        return outcome

    def _record_error(self, alarm: AlarmSignal, exc: Exception, now: datetime) -> None:
        record = {
            "kind": "error",
            "alarm": alarm.alarm_name,
            "error": type(exc).__name__,
            "message": str(exc),
            "cluster": self._guarded.cluster,
            "service": self._guarded.service,
            "at": now.isoformat(),
        }
        logger.error("rollback failed", extra={"error_record": record})
        try:
            self._store.audit(self._guarded, record, now)
        except CanaryRollbackError:
            logger.exception("could not write the error to the audit trail")


def _copy_to_reuse(state: ServiceState, plan: TargetPlan | None) -> str | None:
    """The copy an earlier, unfinished attempt at this same rollback registered (its lock pending or failed)."""
    last, known_good = state.last_rollback, state.known_good
    if plan is None or not plan.register or last is None or known_good is None or last.status == "done":
        return None
    return reusable_copy(known_good, last.copy_arn, last.to_arn)
