"""RollbackFunction: alarm-triggered; rolls the guarded service back to its last known-good revision."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_rollback.core.observability import logger, traced
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import Lazy, build_runtime

application: Lazy[RollbackApplication] = Lazy(lambda: RollbackApplication(build_runtime(need_probes=False)))


@traced
# The correlation id: EventBridge event id, else the SNS message id, else the alarm's state timestamp.
@logger.inject_lambda_context(
    correlation_id_path="id || Records[0].Sns.MessageId || alarmData.state.timestamp", clear_state=True
)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return application.get().handle(event, context)
