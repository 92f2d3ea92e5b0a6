"""The rollback record: the per-service lock that makes one alarm burst cause one UpdateService.

Lifecycle (docs/design.md, "The rollback lock"):

    pending ──UpdateService accepted──▶ done ──probe verdict──▶ recovered | not_recovered
       │                                  │  (the target steady and all probes pass, or still failing)
       │                                  └──ECS undid it──▶ reverted (its deployment FAILED, or the service is
       │                                        back on `from`): no cooldown; one more try, then not restorable
       ├──UpdateService refused──▶ failed      (holds no cooldown: the next alarm, or the retry, may act)
       ├──abandoned, and the service moved by someone else──▶ failed (audited as abandoned)
       ├──its own retry (holder died)──▶ pending again, lease renewed (a conditional write, like a takeover)
       └──lease over (holder died)──▶ expired  (derived from `lease_until`, never written)
                                           └─▶ taken over: a new pending record naming the old one

One record per service lives in the state item (`last_rollback`) and is only ever replaced by a
conditional write, so two responders can never both hold it. The responder asks this module questions
(`claim`, `rolled_here`, `cooling_down`) instead of comparing fields itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

RollbackStatus = Literal["pending", "done", "failed", "reverted"]
RecoveryOutcome = Literal["recovered", "not_recovered"]
Phase = Literal["pending", "expired", "done", "failed", "reverted", "recovered", "not_recovered"]
# Who took the lock: an alarm delivery (deduplicated by powertools Idempotency, so its own retry may resume it) or
# the reconcile tick (not deduplicated: nobody may assume its attempt is over before the lease says so).
Holder = Literal["delivery", "tick"]
# How the rollback acts: UpdateService to the target, or StopServiceDeployment (ROLLBACK) of a gated deployment,
# after which the service stays on `from` until ECS has shifted back.
Via = Literal["update_service", "stop_deployment"]

# What a responder holding alarm state change X may do, given the record it found:
#   free     - no pending record: decide normally and take the lock;
#   resume   - X's own attempt died after taking it (Lambda retried X after that attempt's deadline);
#   held     - another state change holds a live lease: its attempt (or its retries) carries it out;
#   takeover - another state change's lease ran out: its holder died; take the lock over, audited;
#   replay   - X already finished its rollback (a redelivery whose idempotency record was lost): answer the same.
Claim = Literal["free", "resume", "held", "takeover", "replay"]

# Records written before leases existed: a lease as long as the default one.
LEGACY_LEASE = timedelta(seconds=150)
# A deployment is the lock's own when ECS started it after the lock was taken (less this much clock skew between
# Lambda and ECS) and no later than the lease's end plus FINISH_MARGIN (UpdateService is sent within the lease).
CLOCK_SKEW = timedelta(seconds=5)
FINISH_MARGIN = timedelta(seconds=60)
# Tries at restoring the same known-good that ECS may revert before the answer is `not_restorable`.
MAX_TRIES = 2


@dataclass(frozen=True)
class RollbackRecord:
    rollback_id: str
    at: datetime  # when the lock was taken (the decision time)
    alarm: str
    from_arn: str
    to_arn: str
    status: RollbackStatus
    outcome: RecoveryOutcome | None = None
    recovered_at: datetime | None = None
    state_change: str | None = None  # the alarm state change that owns the lock (AlarmSignal.state_change)
    lease_until: datetime | None = None  # a pending lock older than this was abandoned by a dead invocation
    takeover_of: str | None = None  # the rollback_id of the abandoned lock this one replaced
    # The deregistered known-good that `to_arn` is a fresh copy of; recorded before UpdateService so a resumed
    # attempt deploys the same copy instead of registering another.
    copied_from: str | None = None
    holder: Holder = "delivery"
    # Which try at restoring this known-good: a rollback after ECS reverted the previous one counts up.
    attempt: int = 1
    # The ECS deployment UpdateService started: followed until ECS finishes it (docs/design.md, "The rollback lock").
    deployment_id: str | None = None
    reverted_at: datetime | None = None
    reverted_how: str | None = None  # what ECS did, in words: "deployment ... FAILED", "back on :34"
    via: Via = "update_service"

    @property
    def lease_end(self) -> datetime:
        return self.lease_until if self.lease_until is not None else self.at + LEGACY_LEASE

    def phase(self, now: datetime) -> Phase:
        """The state a reader should act on; `expired` is computed from the lease, never stored."""
        if self.status == "pending":
            return "expired" if now >= self.lease_end else "pending"
        if self.status == "done" and self.outcome is not None:
            return self.outcome
        return self.status

    def claim(self, state_change: str, now: datetime, *, tick: bool = False) -> Claim:
        """`tick`: the caller is the reconcile tick, which re-decides and is never deduplicated, so it never
        resumes or replays; and a lock a tick took is nobody's to resume (its attempt may still run)."""
        mine = (
            not tick
            and self.holder == "delivery"
            and self.state_change is not None
            and self.state_change == state_change
        )
        if self.status == "done" and mine:
            return "replay"
        if self.status != "pending":
            return "free"
        if mine:
            return "resume"
        return "takeover" if self.phase(now) == "expired" else "held"

    def rolled_here(self, current_arn: str, now: datetime, cooldown: timedelta) -> bool:
        """The service runs `current_arn` because this stack rolled it there, recently, and no verdict yet.

        A later alarm then belongs to the same incident (the slow alarm after the fast one, say); answering
        `already_known_good` would tell people the fault is not a deployment's.
        """
        if self.to_arn != current_arn or self.status in ("failed", "reverted") or self.outcome is not None:
            return False
        return now - self.at < cooldown

    def recovered_here(self, current_arn: str, now: datetime, cooldown: timedelta) -> bool:
        """This stack's recent rollback to `current_arn` recovered the service: an alarm still in ALARM is catching
        up (M of N periods), not a new fault, unless a probe failed since (the caller checks)."""
        return (
            self.to_arn == current_arn
            and self.status == "done"
            and self.outcome == "recovered"
            and now - self.at < cooldown
        )

    def started(self, deployment_started_at: datetime | None) -> bool:
        """Whether a deployment that started then can be this lock's own UpdateService: after the lock was taken
        and within its lease plus a margin. A person's deployment long after an abandoned lock is not."""
        if deployment_started_at is None:
            return False
        return self.at - CLOCK_SKEW <= deployment_started_at <= self.lease_end + FINISH_MARGIN

    def restores(self, *known_good: str | None) -> bool:
        """This rollback restores that known-good: deploys it, or a copy of it."""
        names = {arn for arn in known_good if arn}
        return self.to_arn in names or (self.copied_from is not None and self.copied_from in names)

    @property
    def gave_up(self) -> bool:
        """ECS reverted this rollback, and it was the last try at its target."""
        return self.status == "reverted" and self.attempt >= MAX_TRIES

    def cooling_down(self, now: datetime, cooldown: timedelta) -> bool:
        """A rollback that reached ECS less than `cooldown` ago: a second one in a row needs a person."""
        return self.status == "done" and now - self.at < cooldown

    # ---- transitions (each returns a new record; the caller writes it conditionally) ----------------
    def accepted(self, target_arn: str, deployment_id: str | None = None) -> RollbackRecord:
        return replace(self, status="done", to_arn=target_arn, deployment_id=deployment_id or self.deployment_id)

    def reverted(self, at: datetime, how: str) -> RollbackRecord:
        """ECS undid the rollback: it holds no cooldown, and says what ECS did."""
        return replace(self, status="reverted", reverted_at=at, reverted_how=how)

    def renewed(self, now: datetime, lease: timedelta) -> RollbackRecord:
        """The same attempt holding its lock again (a resumed retry): a fresh lease from `now`."""
        return replace(self, lease_until=now + lease)

    def copied(self, copy_arn: str) -> RollbackRecord:
        return replace(self, to_arn=copy_arn, copied_from=self.to_arn)

    def refused(self) -> RollbackRecord:
        return replace(self, status="failed")

    def judged(self, outcome: RecoveryOutcome, at: datetime) -> RollbackRecord:
        return replace(self, outcome=outcome, recovered_at=at if outcome == "recovered" else self.recovered_at)


def take_lock(
    *,
    rollback_id: str,
    now: datetime,
    alarm: str,
    state_change: str,
    from_arn: str,
    to_arn: str,
    lease: timedelta,
    replacing: RollbackRecord | None,
    holder: Holder = "delivery",
    attempt: int = 1,
    via: Via = "update_service",
) -> RollbackRecord:
    """A new pending record. `replacing` is the abandoned lock it takes over, if any (audited by the caller)."""
    takeover_of = replacing.rollback_id if replacing is not None and replacing.status == "pending" else None
    return RollbackRecord(
        rollback_id=rollback_id,
        at=now,
        alarm=alarm,
        from_arn=from_arn,
        to_arn=to_arn,
        status="pending",
        state_change=state_change,
        lease_until=now + lease,
        takeover_of=takeover_of,
        holder=holder,
        attempt=attempt,
        via=via,
    )
