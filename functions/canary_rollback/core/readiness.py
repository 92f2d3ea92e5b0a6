"""Rollback readiness as recorded: can the known-good still start? (docs/readiness.md)

A value shared by the probe run (which checks and records it), the rollback (whose notification says what the
last check found) and `canary-rollback status`. The rules that produce it live in the probe pipeline
(probe/readiness.py); this module only holds the record and says it in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# ready: everything the restore needs was found (images in other registries are listed as unchecked);
# not_ready: something it needs is missing; unchecked: the check itself could not finish (its own errors).
Verdict = Literal["ready", "not_ready", "unchecked"]
# ok: found; missing: gone (not ready); unchecked: out of reach by design (another registry, no digest);
# error: the check could not say (ECR/IAM/ECS unreachable, throttled, access denied, out of time).
FindingStatus = Literal["ok", "missing", "unchecked", "error"]
Subject = Literal["task definition", "image", "role", "check"]


@dataclass(frozen=True)
class ReadinessFinding:
    subject: Subject
    name: str  # the revision label, `repository@digest` (or `:tag`), or the role ARN
    status: FindingStatus
    detail: str  # one sentence a person can act on: "image hokusai/api@sha256:... no longer in ECR repository ..."


@dataclass(frozen=True)
class ReadinessRecord:
    """The last readiness check of one known-good, stored in the state item's `readiness` attribute."""

    known_good: str  # the ARN that was checked
    checked_at: datetime
    verdict: Verdict
    findings: tuple[ReadinessFinding, ...]

    @property
    def missing(self) -> tuple[ReadinessFinding, ...]:
        return tuple(f for f in self.findings if f.status == "missing")

    @property
    def unchecked(self) -> tuple[ReadinessFinding, ...]:
        return tuple(f for f in self.findings if f.status in ("unchecked", "error"))

    @property
    def metric_value(self) -> int | None:
        """RollbackReady: 1 ready, 0 not ready; nothing when the check could not finish (the alarm keeps its
        state: an unreachable ECR is neither an all-clear nor an alarm)."""
        return {"ready": 1, "not_ready": 0, "unchecked": None}[self.verdict]

    def same_answer(self, other: ReadinessRecord | None) -> bool:
        """The same known-good, verdict and missing things: nothing new to tell anyone."""
        return (
            other is not None
            and other.known_good == self.known_good
            and other.verdict == self.verdict
            and {f.detail for f in other.missing} == {f.detail for f in self.missing}
        )

    def headline(self) -> str:
        """One line: the verdict and exactly what is missing (or why the check could not say)."""
        if self.verdict == "not_ready":
            return "NOT READY: " + "; ".join(f.detail for f in self.missing)
        if self.verdict == "unchecked":
            errors = [f.detail for f in self.findings if f.status == "error"]
            return "UNCHECKED: " + ("; ".join(errors) or "the check did not finish")
        skipped = [f for f in self.findings if f.status == "unchecked"]
        return "ready" + (f" ({len(skipped)} not checkable, see below)" if skipped else "")

    def rollback_note(self, target_arn: str) -> str | None:
        """What a rollback to `target_arn` should say about the last check; None when it found nothing wrong.
        The rollback goes ahead either way: the check may be stale, and a person may have fixed it since."""
        if self.known_good != target_arn or self.verdict == "ready":
            return None
        at = self.checked_at.isoformat()
        if self.verdict == "not_ready":
            found = f"the readiness check at {at} found it NOT ready: {'; '.join(f.detail for f in self.missing)}"
        else:
            found = f"the readiness check at {at} could not finish: {self.headline().removeprefix('UNCHECKED: ')}"
        return f"{found} (rolling back anyway: the check may be stale)"

    def lines(self) -> list[str]:
        """Every finding, for `status` and the notification."""
        marks = {"ok": "ok", "missing": "MISSING", "unchecked": "unchecked", "error": "unchecked (error)"}
        return [f"{marks[f.status]:<17} {f.detail}" for f in self.findings]
