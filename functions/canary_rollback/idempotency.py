"""Duplicate deliveries of one alarm state change (SNS and EventBridge are at-least-once) act once.

powertools Idempotency keyed on (alarm, state, state timestamp), stored in the StateTable. A duplicate that
arrives after the first finished gets the first one's answer; one that arrives while it runs gets
`in_progress`. Distinct alarms racing each other are the per-service lock's job (rollback.py).
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
from canary_rollback.aws.state_store import TTL_ATTRIBUTE
from canary_rollback.config import require_rollback_settings
from canary_rollback.errors import StateStoreError
from canary_rollback.models import AlarmSignal
from canary_rollback.rollback import RollbackResponder
from canary_rollback.runtime import Runtime

DUPLICATE_WINDOW_SECONDS = 3600


class AlarmDeduplicator:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        guarded, table = require_rollback_settings(runtime.settings)
        self._table = table
        self._responder = RollbackResponder(runtime, guarded)
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

    def respond(self, alarm: AlarmSignal | None, context: LambdaContext | None) -> dict[str, Any]:
        if alarm is None or alarm.state != "ALARM":
            return self._responder.respond(alarm).as_response()  # nothing to act on: nothing to deduplicate
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self._config.register_lambda_context(context)
        try:
            response: dict[str, Any] = self._once(alarm=asdict(alarm))
        except IdempotencyAlreadyInProgressError:
            return self._responder.duplicate_in_progress(alarm).as_response()
        except IdempotencyPersistenceLayerError as exc:
            code = error_code(exc.__cause__) if exc.__cause__ else type(exc).__name__
            if code == "ResourceNotFoundException":
                raise StateStoreError(f"state table {self._table!r} does not exist (idempotency record)") from exc
            raise StateStoreError(f"state table {self._table!r}: idempotency record failed: {code}") from exc
        return response

    def _respond_once(self, alarm: dict[str, Any]) -> dict[str, Any]:
        return self._responder.respond(AlarmSignal(**alarm)).as_response()
