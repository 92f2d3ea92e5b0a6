"""The rollback decision (SPEC section 5): data in, a Decision out. No AWS here, so every row of the
decision table is a unit test.

The order of the rules is the safety argument:
  1. only an ALARM acts;
  2. no known-good -> never guess a revision;
  3. the service already is (or is becoming) the known-good -> the fault is not a deployment's;
  4. a rollback to the known-good is under way -> do not start another;
  5. a recent rollback -> cooldown, a person should look;
  6. DRY_RUN -> say what would be done;
  7. otherwise roll back to the known-good (a copy of it if it was deregistered).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from canary_rollback.models import AlarmSignal, Decision, ServiceObservation, ServiceState


@dataclass(frozen=True)
class RollbackSettings:
    cooldown_seconds: int
    dry_run: bool


def decide_rollback(
    alarm: AlarmSignal | None,
    service: ServiceObservation | None,
    state: ServiceState,
    now: datetime,
    settings: RollbackSettings,
    known_good_active: bool = True,
) -> Decision:
    if alarm is None:
        return Decision("ignored", "not a CloudWatch alarm state change this function recognises", None, None)
    current = service.task_definition_arn if service is not None else None
    if alarm.state != "ALARM":
        return Decision("ignored", f"alarm {alarm.alarm_name} is {alarm.state}, not ALARM", current, None)
    if service is None:  # the handler gathers the service for every ALARM; keep the function total
        return Decision("ignored", "the guarded service could not be described", None, None)

    known_good = state.known_good
    if known_good is None:
        return Decision(
            "no_known_good",
            "no task definition has been seen healthy yet; refusing to guess a revision",
            current,
            None,
            notify=True,
        )
    target = known_good.arn

    if current == target:
        if service.steady:
            return Decision(
                "already_known_good",
                "the service already runs its known-good task definition: the fault is not a deployment's",
                current,
                target,
                notify=True,
            )
        return Decision("in_progress", "the service is already deploying its known-good", current, target)

    last = state.last_rollback
    if last is not None and last.status in ("pending", "done"):
        age = now - last.at
        if age < timedelta(seconds=settings.cooldown_seconds):
            # A pending lock whose UpdateService may not be visible yet. Once `done`, ECS already shows the
            # target (state is read before the service), so `current == from` then means a redeploy.
            if last.status == "pending" and last.to_arn == target and last.from_arn == current:
                return Decision(
                    "in_progress",
                    f"rollback {last.rollback_id} to the known-good (alarm {last.alarm}) is under way",
                    current,
                    target,
                )
            return Decision(
                "cooldown",
                f"a rollback of this service happened {int(age.total_seconds())} s ago "
                f"(cooldown {settings.cooldown_seconds} s); a person should look",
                current,
                target,
                notify=True,
            )

    copy_note = "" if known_good_active else " (deregistered: a copy of it will be registered)"
    if settings.dry_run:
        return Decision(
            "dry_run",
            f"DRY_RUN: would roll back to the known-good{copy_note}",
            current,
            target,
            needs_copy=not known_good_active,
            notify=True,
        )
    return Decision(
        "rolled_back",
        f"alarm {alarm.alarm_name} fired; rolling back to the last task definition seen healthy{copy_note}",
        current,
        target,
        needs_copy=not known_good_active,
        notify=True,
    )
