"""Duplicate deliveries of one alarm state change (SNS and EventBridge are at-least-once) act once.

powertools Idempotency keyed on (alarm, state, state timestamp), stored in the StateTable. A duplicate that
arrives after the first finished gets the first one's answer. One that arrives while the first may still run
fails with powertools' in-progress error, so Lambda retries it later; the in-progress marker expires at the
first attempt's deadline (`register_lambda_context`), after which a retry resumes that attempt's lock
(docs/design.md, "The rollback lock"). Distinct alarms racing each other are the lock's job (rollback.py).
A scheduled event is the reconcile tick (tick.py): it re-decides, so it goes around Idempotency on purpose.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_rollback.aws.clients import error_code
from canary_rollback.core.config import require_rollback_settings, require_tick_settings
from canary_rollback.core.errors import StateStoreError
from canary_rollback.core.models import AlarmSignal
from canary_rollback.core.observability import logger
from canary_rollback.core.reporting import invocation_deadline
from canary_rollback.core.state_codec import TTL_ATTRIBUTE
from canary_rollback.rollback.alarm_events import parse_alarm_event
from canary_rollback.rollback.responder import RollbackResponder
from canary_rollback.rollback.tick import is_tick, reconcile
from canary_rollback.runtime import Runtime

DUPLICATE_WINDOW_SECONDS = 3600
# Left of the invocation after the reporting: powertools writes the idempotency record of the answer (one
# DynamoDB call: with the state table client's timeouts and retries, at most about 30 s when DynamoDB hangs).
# Reporting still unfinished then is not waited for (docs/design.md, "Answers on time").
REPORT_MARGIN_SECONDS = 30.0


class RollbackApplication:
    """What RollbackFunction's handler owns: the runtime, the responder and the deduplicating wrapper."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        guarded, table = require_rollback_settings(runtime.settings)
        self._guarded = guarded
        self._table = table
        self.responder = RollbackResponder(runtime, guarded)
        # This invocation's answer once the responder has given it (one invocation per container at a time).
        self._answered: dict[str, Any] | None = None
        self._report_by: float | None = None  # this invocation's reporting deadline (monotonic)
        self._config = IdempotencyConfig(
            event_key_jmespath="[alarm_name, state, changed_at]",
            expires_after_seconds=DUPLICATE_WINDOW_SECONDS,
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=table,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value=f"idempotency#{guarded.key}",
            expiry_attr=TTL_ATTRIBUTE,
            boto3_client=runtime.clients.dynamodb,
        )
        self._once = idempotent_function(
            data_keyword_argument="alarm",
            persistence_store=persistence,
            config=self._config,
        )(self._respond_once)

    def handle(self, event: Any, context: LambdaContext | None) -> dict[str, Any]:
        if is_tick(event):
            alarms = require_tick_settings(self.runtime.settings)
            report_by = invocation_deadline(context, REPORT_MARGIN_SECONDS)
            return reconcile(self.runtime, self.responder, self._guarded, alarms, report_by)
        alarm = parse_alarm_event(event)
        if alarm is None:
            shape = sorted(event) if isinstance(event, dict) else type(event).__name__
            logger.warning("unrecognised event ignored", extra={"event_shape": shape})
        return self.respond(alarm, context)

    def respond(self, alarm: AlarmSignal | None, context: LambdaContext | None) -> dict[str, Any]:
        self._report_by = invocation_deadline(context, REPORT_MARGIN_SECONDS)
        if alarm is None or alarm.state != "ALARM":
            # nothing to act on: nothing to deduplicate
            return self.responder.respond(alarm, report_by=self._report_by).as_response()
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self._config.register_lambda_context(context)
        self._answered = None
        try:
            response: dict[str, Any] = self._once(alarm=asdict(alarm))
        except IdempotencyAlreadyInProgressError:
            # Never a success: the first attempt may still die, and this delivery is what brings it back.
            logger.warning(
                "the same alarm state change is being handled by another invocation; failing so Lambda retries",
                extra={"alarm": alarm.alarm_name, "changed_at": alarm.changed_at},
            )
            raise
        except IdempotencyPersistenceLayerError as exc:
            code = error_code(exc.__cause__) if exc.__cause__ else type(exc).__name__
            finished = self._finished_answer()
            if finished is not None:
                # The responder finished (ECS may have acted) and only saving its answer failed: nothing may fail
                # the invocation now. A redelivery is answered by the rollback lock's replay instead.
                logger.error("could not save the idempotency record of a finished answer", extra={"code": code})
                return finished
            if code == "ResourceNotFoundException":
                raise StateStoreError(f"state table {self._table!r} does not exist (idempotency record)") from exc
            raise StateStoreError(f"state table {self._table!r}: idempotency record failed: {code}") from exc
        return response

    def _finished_answer(self) -> dict[str, Any] | None:
        return self._answered

    def _respond_once(self, alarm: dict[str, Any]) -> dict[str, Any]:
        self._answered = self.responder.respond(AlarmSignal(**alarm), report_by=self._report_by).as_response()
        return self._answered
