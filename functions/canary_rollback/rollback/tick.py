"""The reconcile tick: no alarm left unanswered (docs/design.md, "The reconcile tick").

A CloudWatch alarm sends its event only when its state changes, so an ALARM answered without acting (paused,
in progress, cooldown, superseded), or a rollback ECS reverted, would never be presented again. Once a minute
a scheduled event reads the stack's rollback alarms in ONE DescribeAlarms call and, for each one in ALARM now,
decides again exactly as for its state change: the same table, lock and cooldown, never replayed from
Idempotency. None in ALARM: `quiet`, and no other AWS call at all (the tick's cost is that one call).
"""

from __future__ import annotations

from typing import Any

from canary_rollback.core.models import AlarmNow, GuardedService
from canary_rollback.core.observability import logger
from canary_rollback.rollback.responder import RollbackResponder
from canary_rollback.runtime import Runtime

FIRING = AlarmNow(known=True, state="ALARM")


def is_tick(event: Any) -> bool:
    """An EventBridge Scheduled Event (the template's schedule on RollbackFunction)."""
    return (
        isinstance(event, dict)
        and event.get("detail-type") == "Scheduled Event"
        and event.get("source") == "aws.events"
    )


def reconcile(
    runtime: Runtime,
    responder: RollbackResponder,
    guarded: GuardedService,
    alarm_names: tuple[str, ...],
    report_by: float | None = None,
) -> dict[str, Any]:
    """Decide again for every rollback alarm in ALARM now. The answer is the first acting decision's (else the
    first one's), with every decision under `decisions`. `report_by`: each decision's reporting is not waited for
    past it (docs/design.md, "Answers on time")."""
    firing = runtime.alarms.in_alarm(alarm_names)
    if not firing:
        logger.info("tick: quiet", extra={"alarms": list(alarm_names)})
        return {
            "action": "quiet",
            "reason": f"no rollback alarm is in ALARM ({', '.join(alarm_names)})",
            "alarm": None,
            "cluster": guarded.cluster,
            "service": guarded.service,
            "current": None,
            "target": None,
        }
    answers = [responder.respond(alarm, alarm_now=FIRING, report_by=report_by).as_response() for alarm in firing]
    main = next((answer for answer in answers if answer["action"] == "rolled_back"), answers[0])
    return {**main, "tick": True, "decisions": answers}
