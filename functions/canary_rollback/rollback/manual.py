"""A person's rollback (`canary-rollback rollback`, docs/operate.md): what it may do, decided as data.

It goes through the rollback's own lock, restore plan and audit trail, so a person and RollbackFunction can never
both move the service. Unlike an alarm, a person acts while automatic rollback is paused and in dry run, and
within the cooldown (they chose to); like an alarm, never past another rollback's live lock and never without a
known-good (no revision is guessed).
"""

from __future__ import annotations

from datetime import datetime

from canary_rollback.core.models import Decision, ServiceObservation, ServiceState

OPERATOR_ALARM = "operator"


def operator_state_change(operator: str, now: datetime) -> str:
    """The lock's owner for a person's rollback: never equal to an alarm's, so it never resumes one."""
    return f"{OPERATOR_ALARM}|{operator}|{now.isoformat()}"


def decide_operator_rollback(
    service: ServiceObservation, state: ServiceState, now: datetime, operator: str, reason: str
) -> Decision:
    current = service.task_definition_arn
    known_good = state.known_good
    if known_good is None:
        return Decision(
            "no_known_good",
            "no task definition has been seen healthy or marked known-good; a rollback target is never guessed",
            current,
            None,
            row="no known-good",
        )
    lock = state.last_rollback
    claim = lock.claim(operator_state_change(operator, now), now) if lock is not None else "free"
    if lock is not None and claim == "held":
        return Decision(
            "in_progress",
            f"rollback {lock.rollback_id} (alarm {lock.alarm}) holds the lock until {lock.lease_end.isoformat()}; "
            "it is moving the service now",
            current,
            lock.to_arn,
            row="lock held",
        )
    runs_known_good = current == known_good.arn or (
        lock is not None and lock.copied_from == known_good.arn and current == lock.to_arn
    )
    if runs_known_good and service.steady:
        why = "the service already runs its known-good and is steady: nothing to roll back"
        return Decision("already_known_good", why, current, current, row="already known-good")
    if runs_known_good:
        why = "the service is already deploying its known-good"
        return Decision("in_progress", why, current, current, row="deploying known-good")
    took_over = f"; took over abandoned rollback {lock.rollback_id}" if lock is not None and claim == "takeover" else ""
    return Decision(
        "rolled_back",
        f"rolled back by hand by {operator}: {reason}{took_over}",
        current,
        known_good.arn,
        notify=True,
        claim="takeover" if claim == "takeover" else "free",
        row="operator",
    )
