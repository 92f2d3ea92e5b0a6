"""The rollback decision: data in, a Decision out. No AWS here, so every row of the table is a unit test.

The rows are evaluated in order; the order is the safety argument (docs/design.md, "Decision table"):
  1. only an ALARM acts;
  1b. a rollback that already reached ECS is finished (bookkeeping only: no ECS call), whatever follows;
  2. an alarm that fired too long ago, or that CloudWatch says is no longer in ALARM, is stale;
  3. an operator's pause stops every action;
  4. no known-good -> never guess a revision;
  5. the rollback lock: resume our own dead attempt, leave a live one alone, take over an abandoned one;
     and a gated (BLUE_GREEN, LINEAR, CANARY) deployment under way is ECS's to roll back, not ours;
  6. the service already runs the known-good: because we just rolled it there (same incident), because it
     is deploying it, or because the fault is not a deployment's;
  7. a rollback reached ECS recently -> cooldown, a person should look;
  8. DRY_RUN -> say what would be done;
  9. otherwise roll back to the known-good (restore.py says whether as it is or as a pinned copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from canary_rollback.core.models import AlarmNow, AlarmSignal, Decision, ServiceObservation, ServiceState
from canary_rollback.core.rollback_record import Claim

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
    claim: Claim = lock.claim(alarm.state_change, now) if lock is not None else "free"
    # Bookkeeping of a rollback whose UpdateService already reached ECS comes before stale and paused: it calls
    # nothing in ECS, and skipping it would leave a rollback unreported, without cooldown or recovery verdict.
    if lock is not None and claim == "replay":
        return Decision(
            "rolled_back",
            f"rollback {lock.rollback_id} for this alarm state change already reached ECS (a redelivery)",
            current,
            lock.to_arn,
            claim="replay",
            row="replay",
        )
    if lock is not None and claim in ("resume", "takeover") and current == lock.to_arn:
        whose = (
            "its first attempt" if claim == "resume" else f"abandoned rollback {lock.rollback_id} (alarm {lock.alarm})"
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

    stale = _staleness(alarm, alarm_now, now, settings)
    if stale is not None:
        return Decision("stale", stale, current, None, notify=True, row="stale")
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
    if service is None:  # the responder describes the service for every fresh ALARM; keep the function total
        return Decision("ignored", "the guarded service could not be described", None, None, row="no service")

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
    if service.gated and not service.steady:
        return Decision(
            "in_progress",
            f"ECS is running a {service.deployment_strategy} deployment of this service: its lifecycle hooks judge it "
            "and ECS rolls it back by itself; rolling back on top of that would race it",
            current,
            target,
            row="gated deployment",
        )
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

    if current == target:
        if lock is not None and lock.rolled_here(current, now, settings.cooldown):
            return Decision(
                "in_progress",
                f"the service runs the known-good because of rollback {lock.rollback_id} "
                f"({int((now - lock.at).total_seconds())} s ago); waiting for the probes' verdict",
                current,
                target,
                row="rolled here",
            )
        if service.steady:
            return Decision(
                "already_known_good",
                "the service already runs its known-good task definition: the fault is not a deployment's",
                current,
                target,
                notify=True,
                row="already known-good",
            )
        return Decision(
            "in_progress",
            "the service is already deploying its known-good",
            current,
            target,
            row="deploying known-good",
        )

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

    takeover_note = f"; took over abandoned rollback {lock.rollback_id}" if takeover and lock is not None else ""
    if settings.dry_run:
        return Decision(
            "dry_run",
            "DRY_RUN: would roll back to the known-good",
            current,
            target,
            notify=True,
            row="dry run",
        )
    return Decision(
        "rolled_back",
        f"alarm {alarm.alarm_name} fired; rolling back to the last task definition seen healthy{takeover_note}",
        current,
        target,
        notify=True,
        claim="takeover" if takeover else "free",
        row="roll back",
    )


def _staleness(alarm: AlarmSignal, alarm_now: AlarmNow | None, now: datetime, settings: RollbackSettings) -> str | None:
    """Why this ALARM must not be acted on any more, or None. Lambda may deliver an event hours late."""
    age = alarm_age(alarm, now)
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
