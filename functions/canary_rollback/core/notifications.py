"""What a person reads in the SNS message: enough to act on without opening a console."""

from __future__ import annotations

from dataclasses import dataclass

from canary_rollback.core.arns import revision_label
from canary_rollback.core.models import AlarmSignal, Decision, GuardedService, RecoveryEvent
from canary_rollback.core.readiness import ReadinessRecord
from canary_rollback.core.rollback_record import MAX_TRIES, RollbackRecord

_SUBJECT_LIMIT = 100  # SNS rejects longer subjects


@dataclass(frozen=True)
class Notification:
    subject: str
    body: str


def update_service_command(guarded: GuardedService, target_arn: str) -> str:
    return (
        f"aws ecs update-service --cluster {guarded.cluster} --service {guarded.service} "
        f"--task-definition {revision_label(target_arn)}"
    )


def decision_notification(guarded: GuardedService, alarm: AlarmSignal | None, decision: Decision) -> Notification:
    if decision.action == "reverted" and decision.settles is not None:
        return reverted_notification(guarded, decision.settles, decision.current, alarm)
    headline = {
        "rolled_back": (
            f"stopped the deployment: back to {revision_label(decision.target)}"
            if decision.via == "stop_deployment"
            else f"rolled back to {revision_label(decision.target)}"
        ),
        "dry_run": f"would roll back to {revision_label(decision.target)} (dry run)",
        "no_known_good": "ALARM but no known-good revision: not rolled back",
        "already_known_good": "ALARM on the known-good itself: not a deployment fault",
        "cooldown": "ALARM during rollback cooldown: not rolled back",
        # The one in_progress answer that is notified: a gated deployment ECS judges (told once).
        "in_progress": "ALARM during an ECS deployment: decided again when it ends",
        "ignored": "alarm event ignored",
        "stale": "ALARM event is stale: not acted on",
        "paused": "ALARM while automatic rollback is paused: not rolled back",
        "superseded": "ALARM older than the current deployment: not acted on yet",
        "not_restorable": f"ALARM but {revision_label(decision.target)} cannot be restored",
        "reverted": f"rollback to {revision_label(decision.target)} was REVERTED by ECS",
        "quiet": "no rollback alarm in ALARM",
    }[decision.action]
    subject = _subject(f"[canary-rollback] {guarded.service}: {headline}")
    lines = [
        f"Service:  {guarded.cluster}/{guarded.service}",
        f"Alarm:    {alarm.alarm_name if alarm else 'n/a'} ({alarm.state if alarm else 'n/a'})",
        f"Action:   {decision.action}",
        f"From:     {revision_label(decision.current)}  ({decision.current or 'n/a'})",
        f"To:       {revision_label(decision.target)}  ({decision.target or 'n/a'})",
        f"Reason:   {decision.reason}",
    ]
    if alarm is not None and alarm.reason:
        lines.append(f"Alarm reason: {alarm.reason}")
    if decision.action == "rolled_back" and decision.via == "stop_deployment":
        lines += ["", "ECS shifts traffic back to the revision it kept running while the deployment baked."]
    elif decision.action == "rolled_back" and decision.target:
        lines += [
            "",
            "Equivalent command (already executed):",
            "  " + update_service_command(guarded, decision.target),
        ]
    elif decision.action in ("dry_run", "cooldown", "paused") and decision.target:
        lines += ["", "To roll back by hand:", "  " + update_service_command(guarded, decision.target)]
    elif decision.action == "not_restorable":
        lines += [
            "",
            "Next: find out why ECS cannot keep the known-good running (the service's events, the stopped tasks'",
            "stoppedReason: an image digest gone from the registry, a deleted secret or role), then either",
            "  canary-rollback mark-known-good FAMILY:REVISION   (a revision you trust; rollbacks resume)",
            "or roll back by hand to a revision that starts.",
        ]
    elif decision.action == "no_known_good":
        lines += [
            "",
            "No revision has passed the probes on a steady service yet. Pick a revision you trust and run:",
            f"  aws ecs update-service --cluster {guarded.cluster} --service {guarded.service} "
            "--task-definition FAMILY:REVISION",
            "or record one with: canary-rollback mark-known-good ARN",
        ]
    return Notification(subject, "\n".join(lines))


def reverted_notification(
    guarded: GuardedService, rollback: RollbackRecord, current: str | None, alarm: AlarmSignal | None = None
) -> Notification:
    """ECS undid our rollback: say plainly what was tried, what ECS did, what runs now, and what happens next."""
    target = revision_label(rollback.to_arn)
    subject = _subject(f"[canary-rollback] {guarded.service}: rollback to {target} REVERTED by ECS")
    if rollback.gave_up:
        following = [
            f"Next:     nothing automatic. That was try {rollback.attempt} of {MAX_TRIES} at {target}; alarms are",
            "          answered not_restorable until an operator marks another known-good",
            "          (canary-rollback mark-known-good FAMILY:REVISION) or rolls back by hand.",
            "          Check why the known-good's tasks do not start: the service's events, the stopped tasks'",
            "          stoppedReason (an image digest expired from ECR, a deleted secret or role).",
        ]
    else:
        following = [
            "Next:     while the alarm stays in ALARM, the next tick (within a minute) tries once more",
            f"          (try {rollback.attempt + 1} of {MAX_TRIES}); if ECS reverts that too, a person must choose.",
        ]
    lines = [
        f"Service:  {guarded.cluster}/{guarded.service}",
        f"Alarm:    {alarm.alarm_name if alarm else rollback.alarm}",
        f"Tried:    rollback {rollback.rollback_id} at {rollback.at.isoformat()}: "
        f"{revision_label(rollback.from_arn)} -> {target} (ECS accepted it)",
        f"ECS did:  {rollback.reverted_how or 'reverted it'}",
        f"Runs now: {revision_label(current)}  ({current or 'n/a'})",
        *following,
    ]
    return Notification(subject, "\n".join(lines))


def recovery_notification(guarded: GuardedService, event: RecoveryEvent) -> Notification:
    if event.outcome == "reverted":
        return reverted_notification(guarded, event.rollback, event.current)
    target = revision_label(event.rollback.to_arn)
    if event.outcome == "recovered":
        subject = _subject(f"[canary-rollback] {guarded.service}: recovered on {target}")
        summary = f"All probes pass on {target}, {event.seconds} s after the rollback decision."
    else:
        subject = _subject(f"[canary-rollback] {guarded.service}: rollback to {target} did NOT recover")
        summary = f"The service is steady on {target} but probes still fail: the fault is not the deployment's."
    body = "\n".join(
        [
            f"Service:  {guarded.cluster}/{guarded.service}",
            f"Rollback: {event.rollback.rollback_id} (alarm {event.rollback.alarm})",
            f"From:     {revision_label(event.rollback.from_arn)}",
            f"To:       {target}",
            summary,
        ]
    )
    return Notification(subject, body)


def _subject(text: str) -> str:
    return text if len(text) <= _SUBJECT_LIMIT else text[: _SUBJECT_LIMIT - 3] + "..."


def hook_failure_notification(
    guarded: GuardedService,
    stage: str,
    target_revision_arn: str,
    deployment_arn: str,
    details: dict[str, object],
) -> Notification:
    """The gate failed a blue/green deployment: ECS rolls it back by itself; say which probe saw what."""
    revision = revision_label(target_revision_arn)
    probe = details.get("probe")
    if probe is not None:
        headline = f"deployment gate FAILED at {stage}: {probe} {details.get('status') or details.get('reason')}"
    else:
        headline = f"deployment gate FAILED at {stage}"
    lines = [
        f"Service:    {guarded.cluster}/{guarded.service}",
        f"Stage:      {stage}",
        f"Revision:   {revision}  ({target_revision_arn})",
        f"Deployment: {deployment_arn or 'n/a'}",
    ]
    if probe is not None:
        lines += [
            f"Probe:      {probe}",
            f"URL:        {details.get('url')}",
            f"Status:     {details.get('status')}",
            f"Reason:     {details.get('reason')}",
        ]
    elif details.get("note"):
        lines.append(f"Reason:     {details['note']}")
    lines += ["", "ECS rolls the deployment back to the previous service revision; production traffic stays there."]
    return Notification(_subject(f"[canary-rollback] {guarded.service}: {headline}"), "\n".join(lines))


def hook_paused_notification(
    guarded: GuardedService,
    stage: str,
    target_revision_arn: str,
    would_have: str,
    details: dict[str, object],
    paused: str,
) -> Notification:
    """While paused the gate lets every deployment through: say what it would have answered instead."""
    revision = target_revision_arn.rsplit("/", 1)[-1]
    probe = details.get("probe")
    found = f"{probe} {details.get('status') or details.get('reason')}" if probe is not None else ""
    headline = f"gate PAUSED at {stage}: would have answered {would_have}"
    lines = [
        f"Service:    {guarded.cluster}/{guarded.service}",
        f"Stage:      {stage}",
        f"Revision:   {revision}  ({target_revision_arn})",
        f"Answered:   SUCCEEDED ({paused})",
        f"Would have: {would_have}" + (f" ({found})" if found else ""),
    ]
    if probe is not None:
        lines += [f"URL:        {details.get('url')}", f"Reason:     {details.get('reason')}"]
    lines += ["", "ECS goes on with the deployment. Resume with: canary-rollback resume"]
    return Notification(_subject(f"[canary-rollback] {guarded.service}: {headline}"), "\n".join(lines))


def readiness_notification(
    guarded: GuardedService, record: ReadinessRecord, previous: ReadinessRecord | None
) -> Notification:
    """The known-good can no longer be restored (or can again): exactly what is missing, while a person can
    still fix it calmly (docs/readiness.md)."""
    label = revision_label(record.known_good)
    if record.verdict == "not_ready":
        first = record.missing[0]
        subject = f"[canary-rollback] {guarded.service}: rollback NOT READY: {first.subject} {first.name}"
    else:
        subject = f"[canary-rollback] {guarded.service}: rollback ready again ({label})"
    lines = [
        f"Service:     {guarded.cluster}/{guarded.service}",
        f"Known-good:  {label}  ({record.known_good})",
        f"Checked at:  {record.checked_at.isoformat()}",
        f"Readiness:   {record.headline()}",
        f"Before:      {previous.headline() if previous else 'not checked yet'}",
        "",
        *record.lines(),
    ]
    if record.verdict == "not_ready":
        lines += [
            "",
            "A rollback now would still be attempted, but ECS could not start its tasks (the deployment circuit",
            "breaker would put the broken revision back). Before it is needed:",
            "  - an image: push the same image again (the same manifest gives the same digest), and keep pinned",
            "    digests out of the repository's lifecycle rule (docs/readiness.md);",
            "  - a role: recreate it with the same name;",
            "  - or vouch for another revision:",
            f"    canary-rollback mark-known-good FAMILY:REVISION --cluster {guarded.cluster} "
            f"--service {guarded.service} --table STATE_TABLE",
        ]
    return Notification(_subject(subject), "\n".join(lines))
