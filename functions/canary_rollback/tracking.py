"""Known-good tracking (SPEC section 4) and recovery detection after a rollback. Pure functions.

"Known-good" means *seen healthy*: N consecutive all-pass probe runs on a steady service. A revision that
never rolled out (the incident's :32 and :33) is never steady, so it can never become known-good.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from canary_rollback.models import Candidate, KnownGood, RollbackRecord, ServiceObservation, ServiceState


@dataclass(frozen=True)
class RecoveryEvent:
    outcome: str  # "recovered" | "not_recovered"
    rollback: RollbackRecord
    seconds: float | None  # decision -> first all-pass run on the steady target


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
) -> TrackingOutcome:
    candidate, known_good, promoted, note = _advance_streak(state, service, run_ok, now, known_good_after)
    last_rollback, recovery = _check_recovery(state.last_rollback, service, run_ok, now)
    new_state = replace(
        state,
        candidate=candidate,
        known_good=known_good,
        last_rollback=last_rollback,
        last_run_at=now,
        last_run_ok=run_ok,
    )
    return TrackingOutcome(new_state, promoted, recovery, note)


def track_watch_round(state: ServiceState, service: ServiceObservation, run_ok: bool, now: datetime) -> TrackingOutcome:
    """A deployment-watch round: judges a rollback's recovery, never touches the known-good streak.

    The streak means "consecutive scheduled runs on a steady service"; thirty watch rounds in five minutes
    must not promote a revision that the scheduled runs have seen only a few times.
    """
    last_rollback, recovery = _check_recovery(state.last_rollback, service, run_ok, now)
    return TrackingOutcome(replace(state, last_rollback=last_rollback), None, recovery, "watch round: streak untouched")


def recovery_pending(rollback: RollbackRecord | None) -> bool:
    """A finished rollback whose recovery has not been seen yet: the only thing a watch round records."""
    return rollback is not None and rollback.status == "done" and rollback.outcome != "recovered"


def _advance_streak(
    state: ServiceState, service: ServiceObservation, run_ok: bool, now: datetime, needed: int
) -> tuple[Candidate | None, KnownGood | None, KnownGood | None, str]:
    arn = service.task_definition_arn
    if not service.steady:
        # Never promote during a rollout: the streak must be consecutive runs on a steady service.
        return Candidate(arn, 0, now), state.known_good, None, "service not steady: streak reset"
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
    rollback: RollbackRecord | None, service: ServiceObservation, run_ok: bool, now: datetime
) -> tuple[RollbackRecord | None, RecoveryEvent | None]:
    """Judge a finished rollback once its target is steady: recovered, or (once) not recovered."""
    if rollback is None or rollback.status != "done" or rollback.outcome == "recovered":
        return rollback, None
    if not (service.steady and service.task_definition_arn == rollback.to_arn):
        return rollback, None
    if run_ok:
        seconds = round((now - rollback.at).total_seconds(), 3)
        updated = replace(rollback, outcome="recovered", recovered_at=now)
        return updated, RecoveryEvent("recovered", updated, seconds)
    if rollback.outcome == "not_recovered":
        return rollback, None  # said once already
    updated = replace(rollback, outcome="not_recovered")
    return updated, RecoveryEvent("not_recovered", updated, None)
