"""Respond to one alarm signal: gather inputs, decide (pure), hold the lock, act once, report.

What each AWS call may do to us, and the answer (docs/design.md, "Failure at every step"):
  * DescribeAlarms / GetItem / DescribeServices fail -> nothing was changed; raise, Lambda retries.
  * the conditional lock write loses a race -> decide again on fresh state (another responder acts).
  * RegisterTaskDefinition / UpdateService fail -> the lock is marked failed (no cooldown held), the error is
    audited and raised, Lambda retries and decides afresh.
  * the process dies after the lock and before UpdateService returns -> the lock stays pending; the same
    state change's retry resumes it, any other takes it over once its lease is over.
  * anything after ECS accepted UpdateService (lock bookkeeping, audit, metric, SNS) fails -> logged, never
    raised: the answer stays `rolled_back`, and a redelivery answers the same without a second UpdateService.
  * any of that hangs -> it is not waited for past the invocation's deadline less a margin (docs/design.md,
    "Answers on time").
Tell once: a non-acting answer already notified for the same alarm state change is audited, not notified again
(the reconcile tick re-makes decisions every minute while an alarm stays in ALARM).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from canary_rollback.aws.state_store import update_with_retry
from canary_rollback.core.arns import revision_label
from canary_rollback.core.audit import AbandonedRecord, DecisionRecord, ErrorRecord, TakeoverRecord, record_fields
from canary_rollback.core.config import command_target
from canary_rollback.core.errors import CanaryRollbackError, EcsError, StateConflict
from canary_rollback.core.evidence import TargetImage
from canary_rollback.core.metrics import service_metric
from canary_rollback.core.models import (
    NON_ACTING,
    AlarmNow,
    AlarmSignal,
    Decision,
    GuardedService,
    KnownGood,
    ServiceState,
    ToldAnswer,
)
from canary_rollback.core.notifications import CardFacts, decision_notification, decision_record
from canary_rollback.core.observability import logger
from canary_rollback.core.reporting import Step, report_within
from canary_rollback.core.rollback_record import RollbackRecord, take_lock
from canary_rollback.rollback.decision import RollbackSettings, decide_rollback
from canary_rollback.rollback.manual import OPERATOR_ALARM, decide_operator_rollback, operator_state_change
from canary_rollback.rollback.restore import TargetPlan, plan_rollback_target, target_images
from canary_rollback.runtime import Runtime

LOCK_ATTEMPTS = 5


@dataclass(frozen=True)
class RollbackOutcome:
    decision: Decision
    alarm: AlarmSignal | None
    guarded: GuardedService
    operator: str | None = None  # a person's rollback (`canary-rollback rollback`): who, as the audit trail says

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


@dataclass(frozen=True)
class OperatorPlan:
    """A person's rollback as it would be carried out now: from, to, and each image with its pinned digest."""

    decision: Decision
    state: ServiceState
    plan: TargetPlan | None
    images: tuple[TargetImage, ...] | None
    now: datetime

    @property
    def acts(self) -> bool:
        return self.decision.action == "rolled_back"

    @property
    def explained(self) -> Decision:
        """The decision with what is restored and why (the restore plan's words)."""
        return _explained(self.decision, self.plan)


class RollbackResponder:
    def __init__(self, runtime: Runtime, guarded: GuardedService) -> None:
        self._rt = runtime
        self._guarded = guarded
        store = runtime.store
        assert store is not None  # require_rollback_settings guarantees a table
        self._store = store
        settings = runtime.settings
        self._settings = RollbackSettings(
            cooldown_seconds=settings.rollback_cooldown_seconds,
            dry_run=settings.dry_run,
            max_alarm_age_seconds=settings.max_alarm_age_seconds,
            lock_lease_seconds=settings.rollback_lock_lease_seconds,
        )

    def respond(
        self, alarm: AlarmSignal | None, alarm_now: AlarmNow | None = None, report_by: float | None = None
    ) -> RollbackOutcome:
        """`alarm_now`: what CloudWatch says about the alarm, when the caller already read it (the tick).
        `report_by` (monotonic): what follows the decision (the lock marked done, audit, metric, notification) is
        not waited for past it, so the answer is returned before the invocation's timeout (None: inline)."""
        now = self._rt.clock()
        try:
            state: ServiceState | None = None
            mark_done: Step | None = None
            if alarm is None or alarm.state != "ALARM":
                decision = decide_rollback(alarm, None, ServiceState(), now, self._settings)
            else:
                decision, mark_done, state = self._decide_and_act(alarm, now, alarm_now)
            outcome = RollbackOutcome(decision, alarm, self._guarded)
            facts = self.card_facts(decision, state or ServiceState(), now)
            self._report(outcome, now, mark_done, report_by, state=state, facts=facts)
        except CanaryRollbackError as exc:
            self._record_error(alarm, exc, now, report_by)
            raise
        return outcome

    def preview(self, alarm: AlarmSignal, now: datetime) -> Decision:
        """What the alarm would decide now: gathers the same inputs, acts on nothing, records nothing."""
        _, _, decision, plan, _ = self._decide(alarm, now, None)
        return _explained(decision, plan)

    # ---- a person's rollback (rollback/manual.py) -----------------------------------------------------
    def plan_operator_rollback(self, operator: str, reason: str) -> OperatorPlan:
        """What `canary-rollback rollback` would do now, with the same restore plan an alarm's rollback uses
        (a digest-pinned copy when the known-good would be restored pinned). Acts on nothing."""
        now = self._rt.clock()
        state = self._store.load(self._guarded)
        service = self._rt.ecs.describe(self._guarded)
        decision = decide_operator_rollback(service, state, now, operator, reason)
        plan = self._plan(decision, state, service.task_definition_arn)
        known_good = state.known_good
        if plan is not None and known_good is not None:
            images = plan.images(known_good)
        else:
            images = target_images(
                known_good, decision.target, state.last_rollback, self._rt.settings.pin_image_digests
            )
        return OperatorPlan(decision, state, plan, images, now)

    def operator_rollback(self, operator: str, reason: str, shown: OperatorPlan | None = None) -> RollbackOutcome:
        """Carry out a person's rollback under the rollback lock, audited with `operator`. Decided again on fresh
        state; when the target is no longer the one `shown` to the person, nothing is done (StateConflict)."""
        for _ in range(LOCK_ATTEMPTS):
            planned = self.plan_operator_rollback(operator, reason)
            decision, state, now = planned.decision, planned.state, planned.now
            if shown is not None and decision.target != shown.decision.target:
                raise StateConflict(
                    f"the plan changed since it was shown (target now {decision.target}); run the command again"
                )
            facts = replace(
                self.card_facts(planned.explained, state, now),
                images=planned.images,
                origin="operator",
                dry_run=False,
                facts=(("Operator", operator),),
            )
            if decision.action != "rolled_back":
                refused = RollbackOutcome(decision, None, self._guarded, operator)
                self._report(refused, now, None, None, facts=facts)
                return refused
            assert decision.current is not None  # a rolled_back decision names both
            assert decision.target is not None
            held = state.last_rollback
            lock = take_lock(
                rollback_id=uuid.uuid4().hex[:12],
                now=now,
                alarm=OPERATOR_ALARM,
                state_change=operator_state_change(operator, now),
                from_arn=decision.current,
                to_arn=decision.target,
                lease=timedelta(seconds=self._settings.lock_lease_seconds),
                replacing=held,
            )
            try:
                self._store.save(self._guarded, state, replace(state, last_rollback=lock), "rollback")
            except StateConflict:
                continue  # someone else changed the state first: decide again on fresh data
            if decision.claim == "takeover":
                self._audit_takeover(held, lock, now)
            carried, mark_done = self._carry_out(decision, lock, decision.current, planned.plan)
            outcome = RollbackOutcome(carried, None, self._guarded, operator)
            self._report(outcome, now, mark_done, None, facts=replace(facts, evidence=state.probe_failures))
            return outcome
        raise StateConflict(f"state of {self._guarded.key} kept changing; no rollback after {LOCK_ATTEMPTS} tries")

    # ---- deciding ------------------------------------------------------------------------------------
    def _decide(
        self, alarm: AlarmSignal, now: datetime, alarm_now: AlarmNow | None
    ) -> tuple[ServiceState, str, Decision, TargetPlan | None, RollbackRecord | None]:
        """(state, current, decision, restore plan, reused): `reused` is an earlier attempt's lock of this same
        rollback, whose registered copy is deployed again instead of registering another."""
        ecs = self._rt.ecs
        # State first, then the service: a `done` rollback read here is always visible in the service.
        state = self._store.load(self._guarded)
        service = ecs.describe(self._guarded)
        current = service.task_definition_arn
        decision = decide_rollback(alarm, service, state, now, self._settings, alarm_now=alarm_now)
        reused = self._copy_to_reuse(alarm, decision, state)
        if reused is not None:
            reason = f"{decision.reason}; deploying {revision_label(reused.to_arn)}, the copy this rollback registered"
            decided = replace(decision, target=reused.to_arn, reason=reason)
            return state, current, _with_readiness(decided, state, reused.copied_from), None, reused
        held, known_good = state.last_rollback, state.known_good
        resumed_copy = decision.claim == "resume" and held is not None and held.copied_from is not None
        if resumed_copy and decision.via == "update_service" and known_good is not None:
            decision = replace(decision, target=known_good.arn)  # its copy cannot be reused: plan afresh
        plan = self._plan(decision, state, current)
        return state, current, _with_readiness(decision, state, plan.source_arn if plan else None), plan, None

    def _copy_to_reuse(self, alarm: AlarmSignal, decision: Decision, state: ServiceState) -> RollbackRecord | None:
        """One copy per rollback, and only while ECS will deploy it (docs/design.md, "What a rollback restores").

        A copy is reused only by the rollback that registered it: its own retry (the same alarm state change after
        a refused RegisterTaskDefinition or UpdateService), its resume, or the takeover of its abandoned lock. A
        later rollback (a reverted one's next try included) plans afresh from the known-good's snapshot, and so
        does this one once its copy is no longer ACTIVE (ECS refuses to deploy an INACTIVE revision)."""
        held, known_good = state.last_rollback, state.known_good
        if decision.action != "rolled_back" or decision.claim == "replay" or decision.via != "update_service":
            return None
        if held is None or known_good is None or held.status not in ("pending", "failed"):
            return None
        if held.copied_from is None or held.copied_from != known_good.arn:
            return None
        if not (decision.claim in ("resume", "takeover") or held.state_change == alarm.state_change):
            return None  # a later rollback: afresh
        if not self._rt.ecs.is_deployable(held.to_arn):
            logger.warning(
                "the copy this rollback registered is no longer ACTIVE; registering a fresh one",
                extra={"copy": held.to_arn, "rollback_id": held.rollback_id},
            )
            return None
        return held

    def _plan(self, decision: Decision, state: ServiceState, current: str) -> TargetPlan | None:
        """What is restored (restore.py): the known-good as it is, or a copy from its snapshot with its images
        pinned to the digests seen healthy. Only when the decision moves the service to the known-good itself
        (a resumed attempt that already registered its copy deploys that copy)."""
        known_good = state.known_good
        if decision.action not in ("rolled_back", "dry_run") or decision.claim == "replay" or known_good is None:
            return None
        if decision.via != "update_service":
            return None  # StopServiceDeployment: ECS goes back to the revision it kept running
        if decision.target != known_good.arn or known_good.arn == current:
            return None
        # A describe that fails (INACTIVE and unreferenced, or deleted) means "not ACTIVE", never an error.
        active = self._rt.ecs.is_deployable(known_good.arn)
        if known_good.snapshot is None and not active:
            # Recorded before snapshots existed: the one case that still depends on describing an old revision.
            known_good = replace(known_good, snapshot=self._rt.ecs.registrable_snapshot(known_good.arn))
        return plan_rollback_target(known_good, active, self._rt.settings.pin_image_digests)

    def _decide_and_act(
        self, alarm: AlarmSignal, now: datetime, alarm_now: AlarmNow | None
    ) -> tuple[Decision, Step | None, ServiceState]:
        """(decision, the step that marks the lock done once ECS accepted the rollback (None: ECS was not asked to
        act), the state it was decided on). Loops only when another responder wrote the state first."""
        if alarm_now is None:
            alarm_now = self._rt.alarms.now(alarm.alarm_name)
        for _ in range(LOCK_ATTEMPTS):
            state, current, decision, plan, reused = self._decide(alarm, now, alarm_now)
            found = state.last_rollback
            if decision.settles is not None:
                # The last rollback as this decision leaves it (reverted by ECS, or abandoned): written first, so
                # whoever decides next sees it, and conditionally, so two responders never both record it.
                try:
                    state = self._store.save(
                        self._guarded, state, replace(state, last_rollback=decision.settles), "rollback"
                    )
                except StateConflict:
                    continue
                if decision.settles.status == "failed" and found is not None:
                    self._audit_abandoned(found, current, now)
            if decision.action == "superseded" and self._store.load(self._guarded).version != state.version:
                # The state was read before the service: a deployment newer than the alarm may be another
                # responder's rollback whose lock was written after our read. Decide again on fresh data.
                continue
            if decision.action != "rolled_back":
                return _explained(decision, plan), None, state
            if decision.claim == "replay":
                return decision, None, state  # answered before; nothing to do, nobody to tell twice
            held = state.last_rollback
            if decision.claim == "resume" and held is not None:
                # Resuming is holding the lock again: renew its lease with the same conditional write a takeover
                # uses, so a resumed attempt and a takeover can never both go on to UpdateService.
                lock = held.renewed(now, timedelta(seconds=self._settings.lock_lease_seconds))
                if reused is None and lock.copied_from is not None and decision.target is not None:
                    lock = replace(lock, to_arn=decision.target, copied_from=None)  # its copy cannot be reused
            else:
                lock = self._new_lock(alarm, decision, state, now)
                if reused is not None:
                    # Keep where the copy came from, so it becomes the known-good when the rollback is done.
                    lock = replace(lock, to_arn=reused.to_arn, copied_from=reused.copied_from)
            try:
                self._store.save(self._guarded, state, replace(state, last_rollback=lock), "rollback")
            except StateConflict:
                continue  # someone else changed the state first: decide again on fresh data
            if decision.claim == "takeover":
                self._audit_takeover(held, lock, now)
            decided, mark_done = self._carry_out(decision, lock, current, plan)
            if decided.target is not None and decided.target != lock.to_arn:
                lock = lock.copied(decided.target)  # the copy it registered, for the card's images
            return decided, mark_done, replace(state, last_rollback=lock)
        raise StateConflict(f"state of {self._guarded.key} kept changing; no decision after {LOCK_ATTEMPTS} tries")

    def _new_lock(self, alarm: AlarmSignal, decision: Decision, state: ServiceState, now: datetime) -> RollbackRecord:
        assert decision.current is not None
        assert decision.target is not None
        abandoned = state.last_rollback
        # Taking over a lock whose UpdateService already went through keeps that rollback's origin.
        reached = decision.claim == "takeover" and abandoned is not None and decision.current == abandoned.to_arn
        from_arn = abandoned.from_arn if reached and abandoned is not None else decision.current
        known_good = state.known_good
        attempt = 1
        if (
            abandoned is not None
            and abandoned.status == "reverted"
            and known_good is not None
            and abandoned.restores(known_good.arn, known_good.copied_from)
            and known_good.since <= abandoned.at
        ):
            attempt = abandoned.attempt + 1  # ECS reverted the last try at this same known-good
        return take_lock(
            rollback_id=uuid.uuid4().hex[:12],
            now=now,
            alarm=alarm.alarm_name,
            state_change=alarm.state_change,
            from_arn=from_arn,
            to_arn=decision.target,
            lease=timedelta(seconds=self._settings.lock_lease_seconds),
            replacing=abandoned,
            holder="tick" if alarm.delivery == "tick" else "delivery",
            attempt=attempt,
            via=decision.via,
        )

    # ---- acting --------------------------------------------------------------------------------------
    def _carry_out(
        self, decision: Decision, lock: RollbackRecord, current: str, plan: TargetPlan | None
    ) -> tuple[Decision, Step]:
        deployment_id: str | None = None
        try:
            if decision.via == "stop_deployment":
                ongoing = self._rt.ecs.ongoing_service_deployment(self._guarded)
                if ongoing is None:
                    raise EcsError(f"no ongoing service deployment of {self._guarded.key} to stop (it just ended?)")
                self._rt.ecs.stop_service_deployment(ongoing)
                decision = replace(decision, reason=f"{decision.reason} ({ongoing})")
            else:
                if plan is not None and plan.register and lock.copied_from is None:
                    lock = self._register_copy(plan, lock)
                if current != lock.to_arn:  # a resumed attempt may find its UpdateService already went through
                    deployment_id = self._rt.ecs.update_service(self._guarded, lock.to_arn)
        except EcsError:
            self._release(lock)
            raise
        # ECS accepted: from here on nothing may fail the invocation (docs/design.md); marking the lock done is
        # the first step of the reporting. The lock's target is the copy once one is registered: the reason names it.
        accepted = lock
        mark_done: Step = ("mark the rollback done", lambda: self._mark_done(accepted, plan, deployment_id))
        return replace(_explained(decision, plan, lock.to_arn), target=lock.to_arn), mark_done

    def _register_copy(self, plan: TargetPlan, lock: RollbackRecord) -> RollbackRecord:
        """Register the copy and record it in the lock before UpdateService, so a resumed attempt reuses it."""
        assert plan.request is not None  # a plan that registers carries its request
        copy_arn = self._rt.ecs.register_task_definition(plan.request, plan.tags)
        logger.info("registered a copy of the known-good", extra={"copy": copy_arn, "plan": plan.reason(copy_arn)})
        copied = lock.copied(copy_arn)
        if not self._update_lock(lock, lambda held: held.copied(copy_arn)):
            raise StateConflict(
                f"rollback {lock.rollback_id} lost its lock before UpdateService (taken over); not deploying {copy_arn}"
            )
        return copied

    def _mark_done(self, lock: RollbackRecord, plan: TargetPlan | None, deployment_id: str | None) -> None:
        def finish(state: ServiceState) -> tuple[ServiceState, None]:
            held = state.last_rollback
            if held is None or held.rollback_id != lock.rollback_id:
                return state, None  # superseded; keep what is there
            done = held.accepted(lock.to_arn, deployment_id)
            known_good = state.known_good
            if lock.copied_from is not None and known_good is not None and known_good.arn == lock.copied_from:
                known_good = self._copy_as_known_good(lock.to_arn, known_good, plan)
            return replace(state, last_rollback=done, known_good=known_good), None

        update_with_retry(self._store, self._guarded, finish, "rollback")

    def _copy_as_known_good(self, copy_arn: str, known_good: KnownGood, plan: TargetPlan | None) -> KnownGood:
        """The copy becomes the known-good with its own snapshot (its images are digests now), whichever attempt
        finished the rollback: the plan is a pure function of the known-good's snapshot, so it is rebuilt."""
        if plan is None or not plan.register:
            if known_good.snapshot is None:  # recorded before snapshots existed: the copy has none either
                return KnownGood(copy_arn, known_good.since, known_good.reason, copied_from=known_good.arn)
            plan = plan_rollback_target(known_good, False, self._rt.settings.pin_image_digests)
        return plan.copied_known_good(copy_arn, known_good)

    def _release(self, lock: RollbackRecord) -> None:
        """RegisterTaskDefinition or UpdateService failed: the attempt is over; it holds no cooldown."""
        try:
            self._update_lock(lock, lambda held: held.refused())
        except CanaryRollbackError:
            # The lock stays pending: this state change's retry resumes it, another takes it over after the lease.
            logger.exception("could not mark the rollback attempt failed", extra={"rollback_id": lock.rollback_id})

    def _update_lock(self, lock: RollbackRecord, change: Callable[[RollbackRecord], RollbackRecord]) -> bool:
        """Change our own lock; False when it is no longer ours (taken over after its lease)."""

        def apply(state: ServiceState) -> tuple[ServiceState, bool]:
            held = state.last_rollback
            if held is None or held.rollback_id != lock.rollback_id:
                return state, False
            return replace(state, last_rollback=change(held)), True

        _, applied = update_with_retry(self._store, self._guarded, apply, "rollback")
        return bool(applied)

    # ---- reporting -----------------------------------------------------------------------------------
    def card_facts(self, decision: Decision, state: ServiceState, now: datetime) -> CardFacts:
        """The evidence card's facts (docs/operate.md): the probes' failures on record, what the target deploys
        down to the digest, when a cooldown ends, and how a person names this stack on the command line."""
        lock = state.last_rollback
        cooldown_ends = (
            lock.at + self._settings.cooldown if lock is not None and decision.action == "cooldown" else None
        )
        images = target_images(state.known_good, decision.target, lock, self._rt.settings.pin_image_digests)
        return CardFacts(
            evidence=state.probe_failures,
            images=images,
            command=command_target(self._rt.settings),
            cooldown_ends_at=cooldown_ends,
            decided_at=now,
            dry_run=self._settings.dry_run,
        )

    def _report(
        self,
        outcome: RollbackOutcome,
        now: datetime,
        mark_done: Step | None,
        report_by: float | None,
        *,
        state: ServiceState | None = None,
        facts: CardFacts | None = None,
    ) -> None:
        """Audit, metric, notification, waited for no later than `report_by`. Before any action they must succeed
        (a retry decides again; unfinished by then raises, before the timeout would); after ECS accepted the
        rollback (`mark_done` given) they are best effort, so a broken or hanging topic or table can neither undo
        nor delay a rollback's answer. The decision event is always best effort (docs/operate.md).
        Tell once: the same non-acting answer for the same alarm state change as the last one notified is
        audited, not notified (nor put on the bus) again; every answer that is notified is remembered (`told`)."""
        facts = facts or CardFacts(dry_run=self._settings.dry_run, command=command_target(self._rt.settings))
        decision, alarm = outcome.decision, outcome.alarm
        told = state.told_for(alarm.alarm_name) if state is not None and alarm is not None else None
        repeated = (
            decision.notify
            and alarm is not None
            and decision.action in NON_ACTING
            and told is not None
            and told.repeats(alarm.state_change, decision.action, decision.current, decision.target)
        )
        notify = decision.notify and not repeated
        record = DecisionRecord(
            at=now,
            operator=outcome.operator,
            action=decision.action,
            reason=decision.reason,
            alarm=alarm.alarm_name if alarm else None,
            cluster=self._guarded.cluster,
            service=self._guarded.service,
            current=decision.current,
            target=decision.target,
            alarm_state=alarm.state if alarm else None,
            delivery=alarm.delivery if alarm else None,
            dry_run=facts.dry_run,  # a person's rollback acts whatever DRY_RUN says
            notified=notify,
            alarm_changed_at=alarm.changed_at if alarm else None,
            told_at=told.at if repeated and told is not None else None,
        )
        logger.info("rollback decision", extra={"decision": record_fields(record)})
        steps: list[Step] = [mark_done] if mark_done is not None else []
        steps.append(("write the audit record", lambda: self._store.audit(self._guarded, record)))
        if decision.action in ("rolled_back", "no_known_good") and decision.claim != "replay":
            value = 1 if decision.action == "rolled_back" else 0
            metric = service_metric("Rollbacks", "Count", value, self._rt.settings.powertools_service, now)
            sink = self._rt.metrics_sink  # clients are built here, never in the reporting thread
            steps.append(("publish the Rollbacks metric", lambda: sink.publish([metric])))
        if notify:
            message, notifier = decision_notification(self._guarded, alarm, decision, facts), self._rt.notifier
            steps.append(("send the notification", lambda: notifier.publish(message)))
            if alarm is not None and alarm.state == "ALARM":
                answer = ToldAnswer(
                    alarm.alarm_name, alarm.state_change, decision.action, decision.current, decision.target, now
                )
                steps.append(("remember what was told", lambda: self._remember(answer)))
        acted = mark_done is not None
        prefix = "rollback reached ECS but " if acted else ""
        report_within(report_by, steps, best_effort=acted, prefix=prefix, service=self._guarded.key)
        if decision.claim != "replay" and not repeated:
            # Best effort whether or not ECS acted: a failing or hanging event bus never makes a retry.
            structured, events = decision_record(self._guarded, alarm, decision, facts), self._rt.decision_events
            resources = (structured.current or "", structured.target or "")
            event: Step = ("put the decision event", lambda: events.put(structured, resources))
            report_within(report_by, [event], best_effort=True, service=self._guarded.key)

    def _remember(self, answer: ToldAnswer) -> None:
        """Record the answer notified for its alarm (one entry per alarm), after the notification went out: a
        failure here means at worst one notification more, never one less."""

        def remember(state: ServiceState) -> tuple[ServiceState, None]:
            others = tuple(told for told in state.told if told.alarm != answer.alarm)
            return replace(state, told=(*others, answer)), None

        update_with_retry(self._store, self._guarded, remember, "rollback")

    def _audit_takeover(self, abandoned: RollbackRecord | None, lock: RollbackRecord, now: datetime) -> None:
        record = TakeoverRecord(
            at=now,
            rollback_id=lock.rollback_id,
            abandoned=abandoned.rollback_id if abandoned else None,
            abandoned_alarm=abandoned.alarm if abandoned else None,
            abandoned_at=abandoned.at if abandoned else None,
            lease_ended=abandoned.lease_end if abandoned else None,
            cluster=self._guarded.cluster,
            service=self._guarded.service,
        )
        logger.warning("took over an abandoned rollback lock", extra={"takeover": record_fields(record)})
        self._store.audit(self._guarded, record)

    def _audit_abandoned(self, abandoned: RollbackRecord, current: str, now: datetime) -> None:
        record = AbandonedRecord(
            at=now,
            rollback_id=abandoned.rollback_id,
            alarm=abandoned.alarm,
            locked_at=abandoned.at,
            lease_ended=abandoned.lease_end,
            to=abandoned.to_arn,
            current=current,
            reason="the service runs the lock's target, but its deployment did not start within the lock's lease: "
            "someone else deployed it; the lock is marked failed and not claimed",
            cluster=self._guarded.cluster,
            service=self._guarded.service,
        )
        logger.warning("abandoned rollback lock marked failed", extra={"abandoned": record_fields(record)})
        self._store.audit(self._guarded, record)

    def _record_error(self, alarm: AlarmSignal | None, exc: Exception, now: datetime, report_by: float | None) -> None:
        record = ErrorRecord(
            at=now,
            alarm=alarm.alarm_name if alarm else None,
            error=type(exc).__name__,
            message=str(exc),
            cluster=self._guarded.cluster,
            service=self._guarded.service,
        )
        logger.error("rollback failed", extra={"error_record": record_fields(record)})
        # The error is raised after this whatever happens: the audit record is best effort, and bounded.
        audit: Step = ("write the error to the audit trail", lambda: self._store.audit(self._guarded, record))
        report_within(report_by, [audit], best_effort=True, service=self._guarded.key)


def _with_readiness(decision: Decision, state: ServiceState, restoring: str | None) -> Decision:
    """What the last readiness check of the known-good being restored found (docs/readiness.md): said, never a
    reason not to act. `restoring`: the known-good's ARN (None: the decision restores nothing)."""
    note = state.readiness.rollback_note(restoring) if restoring is not None and state.readiness else None
    return decision if note is None else replace(decision, reason=f"{decision.reason}; {note}")


def _explained(decision: Decision, plan: TargetPlan | None, deployed: str | None = None) -> Decision:
    """The decision with what is restored and why (restore.py), and the copy's ARN once it is registered."""
    if plan is None:
        return decision
    reason = f"{decision.reason}; {plan.reason(deployed if plan.register else None)}"
    return replace(decision, reason=reason, needs_copy=plan.register)
