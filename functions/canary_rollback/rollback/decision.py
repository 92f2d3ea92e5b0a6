"""The rollback decision: data in, a Decision out. No AWS here, so every row of the table is a unit test.

The rows are evaluated in order; the order is the safety argument (docs/design.md, "Decision table"):
  1. only an ALARM acts;
  2-4. bookkeeping first, calling nothing in ECS, whatever follows: a rollback ECS reverted is recorded as such,
     a redelivery is answered the same, a rollback that reached ECS is finished (only when the service's
     deployment is that rollback's own; an abandoned lock is marked failed otherwise and the decision goes on);
  5. an alarm that fired too long ago, or that CloudWatch says is no longer in ALARM, is stale (never a tick's);
  6. an operator's pause stops every action;
  7-8. no service, no known-good -> never guess a revision;
  9-12. the rollback lock and ECS's own deployments: resume our own dead attempt, leave a gated deployment to ECS
     (or stop it when ECS would not roll it back), leave a live lock alone, wait for our rollback's verdict (or,
     once it recovered, for the alarm to clear);
  13. an alarm that changed state before the current deployment started is not evidence against it;
  14-15. the service already runs the known-good: the fault is not a deployment's, or it is deploying it;
  16. a rollback reached ECS recently -> cooldown, a person should look;
  17. ECS reverted the last try at this known-good too -> not restorable, a person must choose;
  18. DRY_RUN -> say what would be done;
  19. otherwise roll back to the known-good (restore.py says whether as it is or as a pinned copy).
The reconcile tick decides through the same rows: a tick's alarm is firing now, so its age never makes it stale.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from canary_rollback.core.ecs_outcome import reverted_by_ecs
from canary_rollback.core.models import AlarmNow, AlarmSignal, Decision, ServiceObservation, ServiceState
from canary_rollback.core.rollback_record import MAX_TRIES, Claim, RollbackRecord

NO_LONGER_FIRING = frozenset({"OK", "INSUFFICIENT_DATA"})


@dataclass(frozen=True)
class RollbackSettings:
    cooldown_seconds: int
    dry_run: bool
    max_alarm_age_seconds: int = 600
    lock_lease_seconds: int = 150

    @property
    def cooldown(self) -> timedelta:
        return timedelta(seconds=self.cooldown_seconds)


def alarm_age(alarm: AlarmSignal, now: datetime) -> timedelta | None:
    """How long ago the alarm changed state, from its own timestamp; None when the stamp is unreadable."""
    changed = parse_alarm_time(alarm.changed_at)
    return None if changed is None else now - changed


def parse_alarm_time(stamp: str) -> datetime | None:
    """CloudWatch writes `2026-11-26T19:11:00.000+0000`; SNS and EventBridge may add `Z` or `+00:00`."""
    text = stamp.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def decide_rollback(
    alarm: AlarmSignal | None,
    service: ServiceObservation | None,
    state: ServiceState,
    now: datetime,
    settings: RollbackSettings,
    alarm_now: AlarmNow | None = None,
) -> Decision:
    """What to do about one alarm state change. What a rollback restores (the known-good as it is, or a
    digest-pinned copy) is the restore plan's business (restore.py), not the decision's."""
    # row 1: not an alarm
    if alarm is None:
        return Decision(
            "ignored", "not a CloudWatch alarm state change this function recognises", None, None, row="not an alarm"
        )
    current = service.task_definition_arn if service is not None else None
    if alarm.state != "ALARM":
        return Decision(
            "ignored", f"alarm {alarm.alarm_name} is {alarm.state}, not ALARM", current, None, row="not an alarm"
        )

    lock = state.last_rollback
    tick = alarm.delivery == "tick"
    claim: Claim = lock.claim(alarm.state_change, now, tick=tick) if lock is not None else "free"
    # Bookkeeping comes before stale and paused: it calls nothing in ECS, and skipping it would leave a rollback
    # unreported, a revert unnoticed, or a person's deployment claimed as ours.
    # row 2: reverted
    how = reverted_by_ecs(lock, service) if service is not None else None
    if lock is not None and how is not None:
        return _reverted(lock, how, current, now)
    # row 3: replay
    if lock is not None and claim == "replay":
        return Decision(
            "rolled_back",
            f"rollback {lock.rollback_id} for this alarm state change already reached ECS (a redelivery)",
            current,
            lock.to_arn,
            claim="replay",
            row="replay",
        )
    settles: RollbackRecord | None = None
    if lock is not None and claim in ("resume", "takeover") and current == lock.to_arn:
        assert service is not None  # current is known
        # row 4: finish
        if lock.started(service.deployment_started_at):
            whose = (
                "its first attempt"
                if claim == "resume"
                else f"abandoned rollback {lock.rollback_id} (alarm {lock.alarm})"
            )
            return Decision(
                "rolled_back",
                f"{whose} had reached ECS before its invocation ended; finishing rollback {lock.rollback_id}",
                current,
                lock.to_arn,
                notify=True,
                claim=claim,
                row="finish",
            )
        # Not its own: the service's deployment started outside the lock's lease (a person deployed it). The
        # abandoned lock is marked failed (audited as abandoned) and the decision goes on without it.
        settles = lock.refused()
        lock, claim = settles, "free"

    decision = _decide_on(alarm, service, state, now, settings, alarm_now, lock, claim, tick)
    return replace(decision, settles=settles) if settles is not None else decision


def _decide_on(
    alarm: AlarmSignal,
    service: ServiceObservation | None,
    state: ServiceState,
    now: datetime,
    settings: RollbackSettings,
    alarm_now: AlarmNow | None,
    lock: RollbackRecord | None,
    claim: Claim,
    tick: bool,
) -> Decision:
    current = service.task_definition_arn if service is not None else None
    # row 5: stale
    stale = _staleness(alarm, alarm_now, now, settings, tick=tick)
    if stale is not None:
        return Decision("stale", stale, current, None, notify=True, row="stale")
    # row 6: paused
    if state.paused is not None:
        pause = state.paused
        return Decision(
            "paused",
            f"automatic rollback paused by {pause.by} at {pause.at.isoformat()}: {pause.reason}",
            current,
            state.known_good.arn if state.known_good else None,
            notify=True,
            row="paused",
        )
    # row 7: no service (the responder describes the service for every fresh ALARM; keep the function total)
    if service is None:
        return Decision("ignored", "the guarded service could not be described", None, None, row="no service")

    # row 8: no known-good
    known_good = state.known_good
    if known_good is None:
        return Decision(
            "no_known_good",
            "no task definition has been seen healthy yet; refusing to guess a revision",
            current,
            None,
            notify=True,
            row="no known-good",
        )
    target = known_good.arn

    # row 9: resume
    if lock is not None and claim == "resume":
        return Decision(
            "rolled_back",
            f"resuming rollback {lock.rollback_id} of alarm {alarm.alarm_name}: its first attempt ended before "
            "it finished",
            current,
            lock.to_arn,
            notify=True,
            claim="resume",
            row="resume",
        )
    # row 10: gated deployment
    if service.gated and service.deploying:
        return _gated(alarm, service, state, now, settings, claim, lock)
    # row 11: lock held
    if lock is not None and claim == "held":
        return Decision(
            "in_progress",
            f"rollback {lock.rollback_id} to the known-good (alarm {lock.alarm}) is under way; its lease runs "
            f"until {lock.lease_end.isoformat()}",
            current,
            lock.to_arn,
            row="lock held",
        )
    takeover = lock is not None and claim == "takeover"

    # row 12: rolled here (waiting for the verdict; or recovered, and the alarm has not cleared yet)
    if current == target and lock is not None and lock.rolled_here(current, now, settings.cooldown):
        return Decision(
            "in_progress",
            f"the service runs the known-good because of rollback {lock.rollback_id} "
            f"({int((now - lock.at).total_seconds())} s ago); waiting for the probes' verdict",
            current,
            target,
            row="rolled here",
        )
    if current == target and lock is not None and _clearing(alarm, lock, current, now, settings, state):
        return Decision(
            "in_progress",
            f"rollback {lock.rollback_id} recovered the service on the known-good; the alarm has not cleared yet",
            current,
            target,
            row="rolled here",
        )
    # row 13: superseded
    superseded = _superseded(alarm, service, state)
    if superseded is not None:
        return Decision("superseded", superseded, current, target, notify=True, row="superseded")
    if current == target:
        # row 14: already known-good
        if not service.deploying:
            return Decision(
                "already_known_good",
                "the service already runs its known-good task definition: the fault is not a deployment's",
                current,
                target,
                notify=True,
                row="already known-good",
            )
        # row 15: deploying known-good
        return Decision(
            "in_progress",
            "the service is already deploying its known-good",
            current,
            target,
            row="deploying known-good",
        )

    # row 16: cooldown
    if lock is not None and lock.cooling_down(now, settings.cooldown):
        return Decision(
            "cooldown",
            f"a rollback of this service happened {int((now - lock.at).total_seconds())} s ago "
            f"(cooldown {settings.cooldown_seconds} s); a person should look",
            current,
            target,
            notify=True,
            row="cooldown",
        )
    # row 17: not restorable
    if lock is not None and state.not_restorable:
        return Decision(
            "not_restorable",
            f"ECS reverted {lock.attempt} rollbacks to the known-good {_label(target)} "
            f"(the last: {lock.reverted_how}); not trying again until an operator marks another known-good or "
            "rolls back by hand",
            current,
            target,
            notify=True,
            row="not restorable",
        )

    takeover_note = f"; took over abandoned rollback {lock.rollback_id}" if takeover and lock is not None else ""
    # row 18: dry run
    if settings.dry_run:
        return Decision(
            "dry_run",
            "DRY_RUN: would roll back to the known-good",
            current,
            target,
            notify=True,
            row="dry run",
        )
    # row 19: roll back
    retry = (
        f"; try {lock.attempt + 1} of {MAX_TRIES}: ECS reverted rollback {lock.rollback_id} ({lock.reverted_how})"
        if lock is not None and lock.status == "reverted" and lock.restores(known_good.arn, known_good.copied_from)
        else ""
    )
    return Decision(
        "rolled_back",
        f"alarm {alarm.alarm_name} fired; rolling back to the last task definition seen healthy{takeover_note}{retry}",
        current,
        target,
        notify=True,
        claim="takeover" if takeover else "free",
        row="roll back",
    )


def _reverted(lock: RollbackRecord, how: str, current: str | None, now: datetime) -> Decision:
    reverted = lock.reverted(now, how)
    if reverted.gave_up:
        following = (
            f"not tried again: that was try {lock.attempt} of {MAX_TRIES}; the next decision answers not_restorable "
            "until an operator marks another known-good or rolls back by hand"
        )
    else:
        following = (
            f"try {lock.attempt} of {MAX_TRIES}: the next tick decides again while the alarm stays in ALARM, and "
            "tries once more"
        )
    return Decision(
        "reverted",
        f"ECS reverted rollback {lock.rollback_id} to {_label(lock.to_arn)}: {how}; {following}",
        current,
        lock.to_arn,
        notify=True,
        settles=reverted,
        row="reverted",
    )


def _gated(
    alarm: AlarmSignal,
    service: ServiceObservation,
    state: ServiceState,
    now: datetime,
    settings: RollbackSettings,
    claim: Claim,
    lock: RollbackRecord | None,
) -> Decision:
    """A BLUE_GREEN, LINEAR or CANARY deployment is under way: ECS's lifecycle hooks judge it. If ECS would not
    roll it back on this alarm by itself (the alarm is not one of the service's deployment alarms), and the alarm
    is evidence against this very deployment, stop it: StopServiceDeployment (ROLLBACK) shifts traffic back to the
    previous revision, which ECS keeps running until the deployment ends."""
    current = service.task_definition_arn
    strategy = service.deployment_strategy
    previous = next(
        (
            d.task_definition_arn
            for d in service.deployments
            if d.status != "PRIMARY" and d.task_definition_arn != current
        ),
        None,
    )
    against_it = _superseded(alarm, service, state) is None
    if (
        previous is not None
        and against_it
        and not service.ecs_rolls_back_on(alarm.alarm_name)
        and strategy in ("BLUE_GREEN", "LINEAR", "CANARY")
        and claim in ("free", "takeover")
        # A stop (or rollback) within the cooldown is under way: ECS is rolling back; never stop it twice.
        and not (lock is not None and lock.cooling_down(now, settings.cooldown))
    ):
        stop = (
            f"ECS is running a {strategy} deployment of {_label(current)} and does not roll it back on "
            f"{alarm.alarm_name} by itself (not one of the service's deployment alarms with rollback on)"
        )
        if settings.dry_run:
            return Decision(
                "dry_run",
                f"DRY_RUN: {stop}; would stop it (StopServiceDeployment ROLLBACK) back to {_label(previous)}",
                current,
                previous,
                notify=True,
                via="stop_deployment",
                row="gated deployment",
            )
        takeover_note = f"; took over abandoned rollback {lock.rollback_id}" if claim == "takeover" and lock else ""
        return Decision(
            "rolled_back",
            f"{stop}; stopping it (StopServiceDeployment ROLLBACK): ECS shifts traffic back to {_label(previous)}"
            f"{takeover_note}",
            current,
            previous,
            notify=True,
            claim=claim,
            via="stop_deployment",
            row="gated deployment",
        )
    return Decision(
        "in_progress",
        f"ECS is running a {strategy} deployment; decided again when it ends (its lifecycle hooks judge it and ECS "
        "rolls it back by itself; rolling back on top of that would race it)",
        current,
        state.known_good.arn if state.known_good else None,
        notify=True,
        row="gated deployment",
    )


def _clearing(
    alarm: AlarmSignal,
    lock: RollbackRecord,
    current: str,
    now: datetime,
    settings: RollbackSettings,
    state: ServiceState,
) -> bool:
    """Our recent rollback recovered the service and this alarm's state change is from before that: the alarm is
    catching up (M of N periods), not a new fault; unless a probe failed on the known-good since it recovered."""
    changed = parse_alarm_time(alarm.changed_at)
    return (
        lock.recovered_here(current, now, settings.cooldown)
        and lock.recovered_at is not None
        and changed is not None
        and changed < lock.recovered_at
        and not state.failed_since(current, lock.recovered_at)
    )


def _superseded(alarm: AlarmSignal, service: ServiceObservation, state: ServiceState) -> str | None:
    """Why this ALARM is not evidence against the service's current deployment, or None. It is not when its state
    changed before that deployment started, unless a probe run or watch round of the current revision, made after
    the deployment started, failed."""
    changed = parse_alarm_time(alarm.changed_at)
    started = service.deployment_started_at
    if changed is None or started is None or changed >= started:
        return None
    if state.failed_since(service.task_definition_arn, started):
        return None
    return (
        f"alarm {alarm.alarm_name} changed state at {changed.isoformat()}, before the current deployment of "
        f"{_label(service.task_definition_arn)} started at {started.isoformat()}: not evidence against it; "
        "decided again while the alarm stays in ALARM (a failed probe run of this revision rolls it back)"
    )


def _label(arn: str | None) -> str:
    return arn.rsplit("/", 1)[-1] if arn else "none"


def _staleness(
    alarm: AlarmSignal, alarm_now: AlarmNow | None, now: datetime, settings: RollbackSettings, *, tick: bool
) -> str | None:
    """Why this ALARM must not be acted on any more, or None. Lambda may deliver an event hours late; a tick's
    alarm is firing now (it read the alarm in ALARM), so its age never makes it stale."""
    age = alarm_age(alarm, now)
    if tick:
        return None
    if age is not None and age > timedelta(seconds=settings.max_alarm_age_seconds):
        return (
            f"alarm {alarm.alarm_name} changed state {int(age.total_seconds())} s ago "
            f"(MAX_ALARM_AGE_SECONDS {settings.max_alarm_age_seconds}); not acting on an old event"
        )
    if alarm_now is not None and alarm_now.known and alarm_now.state in NO_LONGER_FIRING:
        return f"CloudWatch says alarm {alarm.alarm_name} is {alarm_now.state} now, no longer in ALARM"
    if age is None and (alarm_now is None or not alarm_now.known):
        return (
            f"alarm {alarm.alarm_name}'s state timestamp {alarm.changed_at!r} is unreadable and CloudWatch does "
            "not know the alarm: cannot tell whether it is still firing"
        )
    return None
