"""Known-good tracking and recovery detection after a rollback. Pure functions (docs/design.md).

"Known-good" means *seen healthy*: N consecutive all-pass probe runs on a steady service. A revision that
never rolled out (the incident's :32 and :33) is never steady, so it can never become known-good. A run
counts only if the service was steady on the same revision when it started and when it ended: a rollout
that completes mid-run would otherwise be credited with a pass the old tasks answered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from canary_rollback.core.ecs_outcome import reverted_by_ecs
from canary_rollback.core.models import (
    Candidate,
    FailureSeen,
    KnownGood,
    RecoveryEvent,
    ServiceObservation,
    ServiceState,
    TaskDefinitionSnapshot,
)
from canary_rollback.core.rollback_record import RollbackRecord


@dataclass(frozen=True)
class SnapshotCapture:
    arn: str
    snapshot: TaskDefinitionSnapshot | None  # None when it cannot be promoted (see `refusal`)
    refusal: str | None = None

    def attach(
        self, previous: KnownGood | None, promoted: KnownGood, note: str
    ) -> tuple[KnownGood | None, KnownGood | None, str]:
        """Promote with the snapshot, or keep the previous known-good and say why not."""
        if self.arn != promoted.arn or self.snapshot is None:
            why = self.refusal or "no snapshot of this revision was captured in this run"
            return previous, None, f"not promoted: {why}"
        if self.snapshot.digests:
            digests = ", ".join(f"{name} {digest}" for name, digest in sorted(self.snapshot.digests.items()))
            detail = f"; images ran as {digests}"
        else:
            detail = "; no running task reported an image digest: its images cannot be pinned"
        with_snapshot = replace(promoted, reason=promoted.reason + detail, snapshot=self.snapshot)
        return with_snapshot, with_snapshot, note


@dataclass(frozen=True)
class TrackingOutcome:
    state: ServiceState
    promoted: KnownGood | None
    recovery: RecoveryEvent | None
    note: str


def track_run(
    state: ServiceState,
    service: ServiceObservation,
    run_ok: bool,
    now: datetime,
    known_good_after: int,
    *,
    before: ServiceObservation | None = None,
    run_id: str | None = None,
    snapshot: SnapshotCapture | None = None,
    target_failed: bool = False,
) -> TrackingOutcome:
    """Advance the streak with one run. `service` is the service as the run ended, `before` as it began
    (None: the caller observed it once); `run_id` is the scheduled event's id, so an async retry of a run
    that was already counted changes nothing. `snapshot`: what the run captured (probe/run.py); a promotion
    takes it or does not happen (None: promote without one, as versions before snapshots did). `target_failed`:
    a probe failed for a target reason, recorded as evidence against the revision the service runs."""
    if run_id is not None and state.last_run_id == run_id:
        return TrackingOutcome(state, None, None, f"run {run_id} was already counted (a retried delivery)")
    steady_throughout = service.steady and (
        before is None or (before.steady and before.task_definition_arn == service.task_definition_arn)
    )
    candidate, known_good, promoted, note = _advance_streak(
        state, service.task_definition_arn, steady_throughout, run_ok, now, known_good_after
    )
    if promoted is not None and snapshot is not None:
        known_good, promoted, note = snapshot.attach(state.known_good, promoted, note)
    last_rollback, recovery = _check_recovery(state.last_rollback, service, steady_throughout, run_ok, now)
    new_state = replace(
        state,
        candidate=candidate,
        known_good=known_good,
        last_rollback=last_rollback,
        last_run_at=now,
        last_run_ok=run_ok,
        last_run_id=run_id if run_id is not None else state.last_run_id,
        last_failure=FailureSeen(service.task_definition_arn, now) if target_failed else state.last_failure,
    )
    return TrackingOutcome(new_state, promoted, recovery, note)


def track_watch_round(
    state: ServiceState,
    service: ServiceObservation,
    run_ok: bool,
    now: datetime,
    *,
    before: ServiceObservation | None = None,
    target_failed: bool = False,
) -> TrackingOutcome:
    """A deployment-watch round: judges a rollback's recovery, never extends the known-good streak, and resets it
    when the round failed on the candidate revision.

    The streak means "consecutive scheduled runs on a steady service, with no failure seen in between"; thirty
    watch rounds in five minutes must not promote a revision that the scheduled runs have seen only a few times,
    and one failed round between lucky scheduled runs must not let a flaky revision through. Like a scheduled
    run, a round is credited with a recovery only if the service was steady on the same revision before and
    after it: rounds run exactly while the rollback's own deployment rolls out.
    """
    steady = service.steady and (
        before is None or (before.steady and before.task_definition_arn == service.task_definition_arn)
    )
    last_rollback, recovery = _check_recovery(state.last_rollback, service, steady, run_ok, now)
    last_failure = FailureSeen(service.task_definition_arn, now) if target_failed else state.last_failure
    candidate, note = state.candidate, "watch round: streak untouched"
    if candidate is not None and candidate.streak > 0 and failed_on(candidate.arn, run_ok, service, before):
        candidate, note = Candidate(candidate.arn, 0, now), "watch round failed on the candidate: streak reset"
    new_state = replace(state, last_rollback=last_rollback, last_failure=last_failure, candidate=candidate)
    return TrackingOutcome(new_state, None, recovery, note)


def failed_on(arn: str, run_ok: bool, *observations: ServiceObservation | None) -> bool:
    """A failed run while `arn` may have answered: the service's revision, or one of its deployments', when the
    run began or ended. During a rollout either revision may have served the failing request."""
    if run_ok:
        return False
    served = {
        served_arn
        for seen in observations
        if seen is not None
        for served_arn in (seen.task_definition_arn, *(d.task_definition_arn for d in seen.deployments))
    }
    return arn in served


def streak_to_reset(state: ServiceState, run_ok: bool) -> bool:
    """A failed round with a streak it may reset: one of the two things a round writes the state for (the other
    is failure evidence, or a rollback to follow)."""
    return not run_ok and state.candidate is not None and state.candidate.streak > 0


def recovery_pending(rollback: RollbackRecord | None) -> bool:
    """A finished rollback whose recovery has not been seen yet: the only thing a watch round records."""
    return rollback is not None and rollback.status == "done" and rollback.outcome != "recovered"


def _advance_streak(
    state: ServiceState, arn: str, steady: bool, run_ok: bool, now: datetime, needed: int
) -> tuple[Candidate | None, KnownGood | None, KnownGood | None, str]:
    if not steady:
        # Never promote during a rollout: the streak must be consecutive runs on a steady service.
        return Candidate(arn, 0, now), state.known_good, None, "service not steady throughout the run: streak reset"
    if not run_ok:
        return Candidate(arn, 0, now), state.known_good, None, "probe run failed: streak reset"

    previous = state.candidate
    if previous is not None and previous.arn == arn and previous.streak > 0:
        candidate = Candidate(arn, previous.streak + 1, previous.since)
    else:
        candidate = Candidate(arn, 1, now)

    if candidate.streak >= needed and (state.known_good is None or state.known_good.arn != arn):
        promoted = KnownGood(
            arn=arn,
            since=now,
            reason=f"{candidate.streak} consecutive all-pass probe runs on a steady service",
        )
        return candidate, promoted, promoted, "promoted to known-good"
    return candidate, state.known_good, None, f"pass streak {candidate.streak}/{needed}"


def _check_recovery(
    rollback: RollbackRecord | None, service: ServiceObservation, steady: bool, run_ok: bool, now: datetime
) -> tuple[RollbackRecord | None, RecoveryEvent | None]:
    """Judge a finished rollback once its target is steady: recovered, or (once) not recovered. Before that,
    follow its deployment: ECS may revert it (docs/design.md, "The rollback lock")."""
    if rollback is None or rollback.status != "done" or rollback.outcome == "recovered":
        return rollback, None
    how = reverted_by_ecs(rollback, service)
    if how is not None:
        reverted = rollback.reverted(now, how)
        return reverted, RecoveryEvent("reverted", reverted, None, current=service.task_definition_arn)
    if not (steady and service.task_definition_arn == rollback.to_arn):
        return rollback, None
    if run_ok:
        seconds = round((now - rollback.at).total_seconds(), 3)
        updated = rollback.judged("recovered", now)
        return updated, RecoveryEvent("recovered", updated, seconds)
    if rollback.outcome == "not_recovered":
        return rollback, None  # said once already
    updated = rollback.judged("not_recovered", now)
    return updated, RecoveryEvent("not_recovered", updated, None)
