"""The audit trail's record kinds (docs/design.md, "State items"): one frozen value per kind, one function that
turns a record into the stored item, and one renderer that `status` and `history` print.

A record's fields are the keys of its stored JSON, so items keep the attribute names earlier versions wrote:
the rollback's kinds (`decision`, `takeover`, `error`) store `cluster` and `service` (the service's name), the
others store `service` as `CLUSTER/SERVICE`. The renderer reads the stored form, so an item any version wrote,
of any kind (one this version does not know included), renders as a line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, ClassVar

from canary_rollback.core.arns import revision_label


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the audit trail: what happened, when. Subclasses are the kinds."""

    kind: ClassVar[str]
    at: datetime


@dataclass(frozen=True)
class DecisionRecord(AuditRecord):
    """The rollback's answer to one alarm signal (rollback/responder.py)."""

    kind: ClassVar[str] = "decision"
    action: str
    reason: str
    alarm: str | None
    cluster: str
    service: str
    current: str | None
    target: str | None
    alarm_state: str | None
    delivery: str | None
    dry_run: bool
    # Tell once (docs/design.md, "The reconcile tick"): False for the same non-acting answer to the same alarm state
    # change as the last one notified; `told_at` is when that one was. Absent in items of earlier versions.
    notified: bool = True
    alarm_changed_at: str | None = None
    told_at: datetime | None = None
    operator: str | None = None  # a person's rollback (`canary-rollback rollback`): their AWS identity and user


@dataclass(frozen=True)
class TakeoverRecord(AuditRecord):
    """A rollback took over the lock of another state change whose lease was over (its holder died)."""

    kind: ClassVar[str] = "takeover"
    rollback_id: str
    abandoned: str | None
    abandoned_alarm: str | None
    abandoned_at: datetime | None
    lease_ended: datetime | None
    cluster: str
    service: str


@dataclass(frozen=True)
class AbandonedRecord(AuditRecord):
    """A pending lock whose target the service runs because someone else deployed it (its deployment started
    outside the lock's lease): marked failed, never claimed as this stack's rollback."""

    kind: ClassVar[str] = "abandoned"
    rollback_id: str
    alarm: str
    locked_at: datetime
    lease_ended: datetime
    to: str
    current: str
    reason: str
    cluster: str
    service: str


@dataclass(frozen=True)
class RevertedRecord(AuditRecord):
    """ECS undid a rollback (its deployment FAILED, or the service is back on `from`), seen by a probe run, a watch
    round or a deployment event (the rollback function's own decisions record it as a `decision`)."""

    kind: ClassVar[str] = "reverted"
    rollback_id: str
    alarm: str
    from_arn: str
    to: str
    attempt: int
    how: str | None
    current: str | None
    service: str


@dataclass(frozen=True)
class ErrorRecord(AuditRecord):
    """The rollback failed before acting (or ECS refused): raised, and Lambda retries."""

    kind: ClassVar[str] = "error"
    alarm: str | None
    error: str
    message: str
    cluster: str
    service: str


@dataclass(frozen=True)
class HookRecord(AuditRecord):
    """The gate's answer to one ECS lifecycle hook invocation (gate/run.py)."""

    kind: ClassVar[str] = "hook"
    status: str
    details: Mapping[str, Any]
    stage: str | None
    execution_id: str | None
    deployment: str | None
    service_arn: str | None
    target_revision: str | None
    probes: tuple[Mapping[str, Any], ...]
    service: str
    # While paused the answer is SUCCEEDED; what the gate would have answered (docs/design.md, "Pause").
    would_have_answered: str | None = None
    would_have_details: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PromotionRecord(AuditRecord):
    """A probe run made a revision the known-good (probe/run.py)."""

    kind: ClassVar[str] = "promotion"
    arn: str
    reason: str
    service: str


@dataclass(frozen=True)
class RecoveryRecord(AuditRecord):
    """Whether a rollback brought the service back: the first all-pass run on its target, or failing probes there."""

    kind: ClassVar[str] = "recovery"
    outcome: str
    rollback_id: str
    to: str
    seconds: float | None
    service: str


@dataclass(frozen=True)
class ManualKnownGoodRecord(AuditRecord):
    """An operator recorded a known-good (`canary-rollback mark-known-good`)."""

    kind: ClassVar[str] = "manual-known-good"
    arn: str
    reason: str
    service: str
    by: str | None = None  # the operator's AWS identity and local user (absent in items of earlier versions)


@dataclass(frozen=True)
class PauseRecord(AuditRecord):
    """An operator stopped automatic rollback (`canary-rollback pause`)."""

    kind: ClassVar[str] = "pause"
    by: str
    reason: str
    service: str


@dataclass(frozen=True)
class ResumeRecord(AuditRecord):
    """An operator let alarms roll back again (`canary-rollback resume`)."""

    kind: ClassVar[str] = "resume"
    by: str
    paused_by: str | None
    service: str


@dataclass(frozen=True)
class ReadinessChangeRecord(AuditRecord):
    """The known-good's rollback readiness changed (probe/readiness_check.py, docs/readiness.md): another verdict,
    other things missing, or the first check of a new known-good."""

    kind: ClassVar[str] = "readiness"
    known_good: str
    verdict: str
    previous: str | None  # the previous check's verdict (None: never checked)
    headline: str  # the verdict and exactly what is missing
    missing: tuple[str, ...]
    unchecked: tuple[str, ...]
    service: str


KINDS: tuple[type[AuditRecord], ...] = (
    DecisionRecord,
    TakeoverRecord,
    AbandonedRecord,
    RevertedRecord,
    ErrorRecord,
    HookRecord,
    PromotionRecord,
    RecoveryRecord,
    ManualKnownGoodRecord,
    PauseRecord,
    ResumeRecord,
    ReadinessChangeRecord,
)


def record_fields(record: AuditRecord) -> dict[str, Any]:
    """The record as its stored JSON holds it (and as logs and `--json` show it): `kind`, then its fields."""
    body: dict[str, Any] = {"kind": record.kind}
    for field in fields(record):
        body[field.name] = _plain(getattr(record, field.name))
    return body


def audit_item(record: AuditRecord) -> dict[str, Any]:
    """The stored item's attributes apart from its key and `ttl`, which the store owns: `at` (UTC, milliseconds:
    the sort key starts with it), `kind`, and `record`, the JSON that `history` reads back."""
    return {
        "at": {"S": record.at.astimezone(UTC).isoformat(timespec="milliseconds")},
        "kind": {"S": record.kind},
        "record": {"S": json.dumps(record_fields(record), sort_keys=True, default=str)},
    }


def render(record: AuditRecord | Mapping[str, Any]) -> str:
    """One readable line per record, for `status` and `history`. Takes a typed record or its stored JSON."""
    stored = record_fields(record) if isinstance(record, AuditRecord) else record
    kind = stored.get("kind", "?")
    at = stored.get("at", "?")
    if kind == "decision":
        target = revision_label(stored.get("target"))
        by = f"  by {stored['operator']}" if stored.get("operator") else ""
        return f"{at}  {stored.get('action')}  -> {target}{by}  {stored.get('reason', '')}"
    if kind in ("promotion", "manual-known-good"):
        return f"{at}  {kind}  {revision_label(stored.get('arn'))}  {stored.get('reason', '')}"
    if kind in ("pause", "resume"):
        return f"{at}  {kind}  by {stored.get('by')}  {stored.get('reason', '')}"
    if kind == "takeover":
        return f"{at}  takeover  of rollback {stored.get('abandoned')}, lease ended {stored.get('lease_ended')}"
    if kind == "reverted":
        return (
            f"{at}  REVERTED by ECS  rollback {stored.get('rollback_id')} -> {revision_label(stored.get('to'))}: "
            + (f"{stored.get('how')}")
        )
    if kind == "abandoned":
        return f"{at}  abandoned lock  {stored.get('rollback_id')} marked failed: {stored.get('reason', '')}"
    if kind == "recovery":
        return f"{at}  recovery  {stored.get('outcome')}  {revision_label(stored.get('to'))}  {stored.get('seconds')} s"
    if kind == "readiness":
        return f"{at}  readiness  {revision_label(stored.get('known_good'))}  {stored.get('headline', '')}"
    if kind == "hook":
        stage = stored.get("stage")
        where = f" at {stage}" if stage else ""
        return f"{at}  hook  {stored.get('status')}{where}  {_hook_summary(stored.get('details'))}"
    if "message" in stored:  # `error`, and any kind that says what happened in a message
        return f"{at}  {kind}  {stored.get('message')}"
    rest = {key: value for key, value in stored.items() if key not in ("kind", "at", "cluster", "service")}
    return f"{at}  {kind}  " + " ".join(f"{key}={value}" for key, value in sorted(rest.items()))


def _hook_summary(details: Any) -> str:
    """What the gate saw: the first failing probe, the passes counted so far, or its note."""
    if not isinstance(details, Mapping):
        return ""
    if details.get("probe") is not None:
        return f"{details['probe']} {details.get('status') or details.get('reason')}"
    if isinstance(details.get("passes"), int):
        return f"passes {details['passes']}"
    reason, note = details.get("reason"), details.get("note")
    return ": ".join(str(part) for part in (reason, note) if part)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return value
