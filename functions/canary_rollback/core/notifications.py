"""What a person (and a machine) reads in the SNS message: an evidence card (core/evidence.py), enough to act on
without opening a console, and the structured decision for subscribers that parse it (docs/operate.md,
"Evidence cards")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from canary_rollback.core.arns import revision_label
from canary_rollback.core.evidence import (
    SCHEMA,
    AlarmRef,
    CommandTarget,
    ProbeEvidence,
    StructuredDecision,
    TargetImage,
    labelled,
    subject_line,
)
from canary_rollback.core.models import AlarmSignal, Decision, GuardedService, RecoveryEvent
from canary_rollback.core.readiness import ReadinessRecord
from canary_rollback.core.rollback_record import MAX_TRIES, RollbackRecord

__all__ = [
    "CardFacts",
    "Notification",
    "decision_notification",
    "decision_record",
    "hook_failure_notification",
    "hook_paused_notification",
    "readiness_notification",
    "recovery_notification",
    "reverted_notification",
    "revision_label",
]


@dataclass(frozen=True)
class Notification:
    subject: str
    body: str
    decision: StructuredDecision | None = None  # the structured decision (docs/schemas/decision-1.schema.json)

    def messages(self) -> dict[str, str]:
        """One message per SNS protocol (`MessageStructure: json`): text for people (`default`, `email`), the
        structured decision for programs (`sqs`, `lambda`), AWS Chatbot's custom format for `https` (the
        decision under `metadata.additionalContext`; docs/operate.md says why)."""
        if self.decision is None:
            return {"default": self.body}
        structured = json.dumps(self.decision.as_json(), sort_keys=True)
        return {
            "default": self.body,
            "email": self.body,
            "sqs": structured,
            "lambda": structured,
            "https": json.dumps(chatbot_message(self.decision, self.subject, structured), sort_keys=True),
        }


def chatbot_message(record: StructuredDecision, title: str, structured: str) -> dict[str, Any]:
    """AWS Chatbot (Amazon Q Developer in chat applications) custom notification: `additionalContext` values are
    strings in its schema, so the decision travels there as its JSON text."""
    evidence = [f"• `{item.probe}` {item.url}: expected {item.expected}, got *{item.got}*" for item in record.evidence]
    images = [f"• {image.line()}" for image in record.images or ()]
    description = "\n".join(
        [
            record.reason,
            *(["*Evidence*", *evidence] if evidence else []),
            *(["*Target images*", *images] if images else []),
        ]
    )
    related = [arn for arn in (record.current, record.target) if arn]
    return {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description,
            "nextSteps": list(record.next_steps),
            "keywords": [record.action, record.service],
        },
        "metadata": {
            "threadId": f"canary-rollback/{record.cluster}/{record.service}",
            "summary": title,
            "eventType": "RollbackDecision",
            "relatedResources": related,
            "additionalContext": {"schema": SCHEMA, "decision": structured},
        },
    }


@dataclass(frozen=True)
class CardFacts:
    """What the notifier knows beyond the decision itself."""

    evidence: tuple[ProbeEvidence, ...] = ()
    images: tuple[TargetImage, ...] | None = None  # what the target deploys; None: unknown
    command: CommandTarget | None = None  # how a person names this stack (`--stack NAME`, or the three options)
    cooldown_ends_at: datetime | None = None
    decided_at: datetime | None = None
    dry_run: bool = False
    origin: str = "rollback"
    facts: tuple[tuple[str, str], ...] = ()
    extra_lines: tuple[str, ...] = field(default=())


def decision_record(
    guarded: GuardedService, alarm: AlarmSignal | None, decision: Decision, facts: CardFacts | None = None
) -> StructuredDecision:
    facts = facts or CardFacts()
    command = facts.command or CommandTarget(guarded.cluster, guarded.service)
    if decision.action == "reverted" and decision.settles is not None:
        return reverted_record(guarded, decision.settles, decision.current, alarm, facts)
    headline = None
    if decision.action == "rolled_back" and decision.via == "stop_deployment":
        headline = f"stopped the deployment: back to {revision_label(decision.target)}"
        facts = replace(
            facts,
            facts=(*facts.facts, ("Via", "StopServiceDeployment (ROLLBACK): ECS shifts traffic back to the revision "
                                  "it kept running while the deployment baked")),
        )  # fmt: skip
    return StructuredDecision(
        headline=headline,
        action=decision.action,
        cluster=guarded.cluster,
        service=guarded.service,
        reason=decision.reason,
        decided_at=facts.decided_at or datetime.now(UTC),
        alarm=AlarmRef(alarm.alarm_name, alarm.changed_at) if alarm is not None else None,
        current=decision.current,
        target=decision.target,
        images=facts.images if decision.target is not None else None,
        evidence=facts.evidence,
        next_steps=next_steps(decision.action, decision.target, command, facts),
        row=decision.row,
        origin=facts.origin,
        facts=facts.facts,
        dry_run=facts.dry_run,
        extra_lines=facts.extra_lines,
    )


def decision_notification(
    guarded: GuardedService, alarm: AlarmSignal | None, decision: Decision, facts: CardFacts | None = None
) -> Notification:
    record = decision_record(guarded, alarm, decision, facts)
    return Notification(record.subject(), record.card_text(), record)


def next_steps(action: str, target: str | None, command: CommandTarget, facts: CardFacts) -> tuple[str, ...]:
    """What happens next and the exact command a person would run. A manual rollback is always
    `canary-rollback rollback` (the restore plan, the lock, digest-pinned images), never `aws ecs update-service`
    to a revision whose image tags ECS would resolve again."""
    status = f"See the state: {command.command('status')}"
    rollback = f"Roll back by hand (shows the plan, asks to confirm): {command.command('rollback')}"
    label = revision_label(target)
    if action == "rolled_back":
        return (
            f"ECS deploys {label}; the next probe runs judge it, and a 'recovered' or 'did NOT recover' notification "
            "follows.",
            "To hold further automatic rollbacks while you investigate: "
            + command.command("pause", "--reason", "TEXT"),
            status,
        )
    if action == "dry_run":
        return ("Nothing was changed: DRY_RUN is on.", rollback, status)
    if action == "paused":
        resume = f"Let alarms roll back again: {command.command('resume')}"
        return ("Nothing was changed while paused.", rollback, resume)
    if action == "cooldown":
        ends = facts.cooldown_ends_at
        until = f" at {ends.astimezone(UTC).isoformat(timespec='seconds')}" if ends is not None else ""
        return (f"The cooldown ends{until}; until then alarms are reported, not acted on.", rollback, status)
    if action == "no_known_good":
        return (
            "Pick a revision you trust and record it (with its image digests): "
            + command.command("mark-known-good", "FAMILY:REVISION"),
            f"Then roll back to it: {command.command('rollback')}",
        )
    if action in ("already_known_good", "not_recovered"):
        return ("Look outside the deployment: the load balancer's rules, a dependency, configuration.", status)
    if action in ("reverted", "not_restorable"):
        return (
            "Find out why the known-good's tasks do not start (service events, stopped tasks).",
            "Record another known-good: " + command.command("mark-known-good", "FAMILY:REVISION"),
            rollback,
        )
    if action == "recovered":
        return ("Nothing to do now; find the cause of the failed deployment before deploying again.", status)
    if action == "gate_failed":
        return ("ECS rolls the deployment back by itself; production traffic stays on the previous revision.", status)
    if action in ("ignored", "quiet"):
        return ()
    return (status,)


def reverted_record(
    guarded: GuardedService,
    rollback: RollbackRecord,
    current: str | None,
    alarm: AlarmSignal | None = None,
    facts: CardFacts | None = None,
) -> StructuredDecision:
    """ECS undid our rollback: what was tried, what ECS did, what runs now, and what happens next."""
    facts = facts or CardFacts()
    command = facts.command or CommandTarget(guarded.cluster, guarded.service)
    target = revision_label(rollback.to_arn)
    if rollback.gave_up:
        steps: tuple[str, ...] = (
            f"Nothing automatic: that was try {rollback.attempt} of {MAX_TRIES} at {target}; alarms are answered "
            "not_restorable until a person marks another known-good or rolls back by hand.",
            "Find out why the known-good's tasks do not start: the service's events, the stopped tasks' "
            "stoppedReason (an image digest expired from the registry, a deleted secret or role).",
            "Record another known-good: " + command.command("mark-known-good", "FAMILY:REVISION"),
            f"Roll back by hand (shows the plan, asks to confirm): {command.command('rollback')}",
        )
    else:
        steps = (
            f"While the alarm stays in ALARM, the next tick (within a minute) tries once more (try "
            f"{rollback.attempt + 1} of {MAX_TRIES}); if ECS reverts that too, a person must choose.",
            f"See the state: {command.command('status')}",
        )
    return StructuredDecision(
        action="reverted",
        cluster=guarded.cluster,
        service=guarded.service,
        reason=f"ECS did not keep rollback {rollback.rollback_id}: {rollback.reverted_how or 'it reverted it'}",
        decided_at=facts.decided_at or datetime.now(UTC),
        alarm=AlarmRef(alarm.alarm_name, alarm.changed_at) if alarm is not None else AlarmRef(rollback.alarm, None),
        current=current,
        target=rollback.to_arn,
        images=facts.images,
        evidence=facts.evidence,
        next_steps=steps,
        row="reverted",
        origin=facts.origin,
        facts=labelled(
            [
                (
                    "Tried",
                    f"rollback {rollback.rollback_id} at {rollback.at.isoformat()}: "
                    f"{revision_label(rollback.from_arn)} -> {target} (ECS accepted it)",
                ),
                ("ECS did", rollback.reverted_how or "reverted it"),
            ]
        ),
    )


def reverted_notification(
    guarded: GuardedService,
    rollback: RollbackRecord,
    current: str | None,
    alarm: AlarmSignal | None = None,
    facts: CardFacts | None = None,
) -> Notification:
    record = reverted_record(guarded, rollback, current, alarm, facts)
    return Notification(record.subject(), record.card_text(), record)


def recovery_notification(
    guarded: GuardedService, event: RecoveryEvent, facts: CardFacts | None = None
) -> Notification:
    if event.outcome == "reverted":
        return reverted_notification(guarded, event.rollback, event.current, None, facts)
    facts = facts or CardFacts()
    rollback = event.rollback
    target = revision_label(rollback.to_arn)
    if event.outcome == "recovered":
        reason = f"All probes pass on {target}, {event.seconds} s after the rollback decision."
    else:
        reason = f"The service is steady on {target} but probes still fail: the fault is not the deployment's."
    command = facts.command or CommandTarget(guarded.cluster, guarded.service)
    record = StructuredDecision(
        action=event.outcome,
        cluster=guarded.cluster,
        service=guarded.service,
        reason=reason,
        decided_at=facts.decided_at or datetime.now(UTC),
        alarm=AlarmRef(rollback.alarm, None) if rollback.alarm else None,
        current=rollback.to_arn,
        target=rollback.to_arn,
        images=facts.images,
        evidence=facts.evidence,
        next_steps=next_steps(event.outcome, rollback.to_arn, command, facts),
        origin=facts.origin,
        facts=labelled(
            [
                ("Rollback", f"{rollback.rollback_id} (alarm {rollback.alarm})"),
                ("From", revision_label(rollback.from_arn)),
                ("Recovered in", f"{event.seconds} s" if event.seconds is not None else None),
            ]
        ),
    )
    return Notification(record.subject(), record.card_text(), record)


def hook_failure_notification(
    guarded: GuardedService,
    stage: str,
    target_revision_arn: str,
    deployment_arn: str,
    details: dict[str, object],
    facts: CardFacts | None = None,
) -> Notification:
    """The gate failed a blue/green deployment: ECS rolls it back by itself; say which probe saw what."""
    facts = facts or CardFacts()
    probe = details.get("probe")
    if probe is not None:
        headline = f"deployment gate FAILED at {stage}: {probe} {details.get('status') or details.get('reason')}"
        reason = f"probe {probe} failed at {stage}: {details.get('reason')} (status {details.get('status')})"
    else:
        headline = f"deployment gate FAILED at {stage}"
        reason = f"the gate failed at {stage}: {details.get('note') or details.get('reason') or 'see the details'}"
    command = facts.command or CommandTarget(guarded.cluster, guarded.service)
    record = StructuredDecision(
        action="gate_failed",
        cluster=guarded.cluster,
        service=guarded.service,
        reason=reason,
        decided_at=facts.decided_at or datetime.now(UTC),
        current=target_revision_arn,
        evidence=facts.evidence,
        next_steps=next_steps("gate_failed", None, command, facts),
        origin="gate",
        facts=labelled([("Stage", stage), ("Deployment", deployment_arn or None)]),
    )
    return Notification(subject_line(f"[canary-rollback] {guarded.service}: {headline}"), record.card_text(), record)


def hook_paused_notification(
    guarded: GuardedService,
    stage: str,
    target_revision_arn: str,
    would_have: str,
    details: dict[str, object],
    paused: str,
    facts: CardFacts | None = None,
) -> Notification:
    """While paused the gate lets every deployment through: say what it would have answered instead."""
    facts = facts or CardFacts()
    command = facts.command or CommandTarget(guarded.cluster, guarded.service)
    probe = details.get("probe")
    found = f" ({probe} {details.get('status') or details.get('reason')})" if probe is not None else ""
    record = StructuredDecision(
        action="gate_paused",
        cluster=guarded.cluster,
        service=guarded.service,
        reason=f"automatic rollback is paused ({paused}): answered SUCCEEDED; would have answered {would_have}{found}",
        decided_at=facts.decided_at or datetime.now(UTC),
        current=target_revision_arn,
        evidence=facts.evidence,
        next_steps=(
            "ECS goes on with the deployment.",
            f"Let the gate and alarms act again: {command.command('resume')}",
        ),
        origin="gate",
        facts=labelled([("Stage", stage), ("Would have", would_have)]),
    )
    headline = f"gate PAUSED at {stage}: would have answered {would_have}"
    return Notification(subject_line(f"[canary-rollback] {guarded.service}: {headline}"), record.card_text(), record)


def readiness_notification(
    guarded: GuardedService, record: ReadinessRecord, previous: ReadinessRecord | None, facts: CardFacts | None = None
) -> Notification:
    """The known-good can no longer be restored (or can again): exactly what is missing, while a person can
    still fix it calmly (docs/readiness.md)."""
    facts = facts or CardFacts()
    command = facts.command or CommandTarget(guarded.cluster, guarded.service)
    label = revision_label(record.known_good)
    if record.verdict == "not_ready":
        first = record.missing[0]
        headline = f"rollback NOT READY: {first.subject} {first.name}"
        steps: tuple[str, ...] = (
            "A rollback now would still be attempted, but ECS could not start its tasks (the deployment circuit "
            "breaker would put the broken revision back). Before it is needed:",
            "an image: push the same image again (the same manifest gives the same digest), and keep pinned digests "
            "out of the repository's lifecycle rule (docs/readiness.md);",
            "a role: recreate it with the same name;",
            "or vouch for another revision: " + command.command("mark-known-good", "FAMILY:REVISION"),
        )
    else:
        headline = f"rollback ready again ({label})"
        steps = (f"Nothing to do. See the state: {command.command('status')}",)
    structured = StructuredDecision(
        action="not_ready" if record.verdict == "not_ready" else "ready",
        cluster=guarded.cluster,
        service=guarded.service,
        reason=record.headline(),
        decided_at=facts.decided_at or record.checked_at,
        target=record.known_good,
        next_steps=steps,
        origin="probe",
        facts=labelled(
            [
                ("Checked at", record.checked_at.isoformat()),
                ("Before", previous.headline() if previous else "not checked yet"),
            ]
        ),
        extra_lines=("", "Readiness check:", *(f"  {line}" for line in record.lines())),
        headline=headline,
    )
    return Notification(structured.subject(), structured.card_text(), structured)
