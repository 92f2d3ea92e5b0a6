"""RollbackFunction: alarm-triggered; rolls the guarded service back to its last known-good revision."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_rollback.alarm_events import parse_alarm_event
from canary_rollback.idempotency import AlarmDeduplicator
from canary_rollback.observability import logger, traced
from canary_rollback.runtime import RuntimeHolder

runtime = RuntimeHolder(need_probes=False)
_deduplicator: AlarmDeduplicator | None = None


@traced
# The correlation id: EventBridge event id, else the SNS message id, else the alarm's state timestamp.
@logger.inject_lambda_context(
    correlation_id_path="id || Records[0].Sns.MessageId || alarmData.state.timestamp", clear_state=True
)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    global _deduplicator
    rt = runtime.get()
    if _deduplicator is None or _deduplicator.runtime is not rt:
        _deduplicator = AlarmDeduplicator(rt)
    alarm = parse_alarm_event(event)
    if alarm is None:
        shape = sorted(event) if isinstance(event, dict) else type(event).__name__
        logger.warning("unrecognised event ignored", extra={"event_shape": shape})
    return _deduplicator.respond(alarm, context)
