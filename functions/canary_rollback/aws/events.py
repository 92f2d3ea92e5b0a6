"""Decision events: every decision as a `Rollback Decision` event on the account's default event bus, so other
automation (a pipeline's deploy freeze, a ticket) can subscribe with an EventBridge rule (docs/operate.md,
"Decision events"). Best effort, like all reporting: a failure is logged, never raised."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import error_code
from canary_rollback.core.evidence import EVENT_DETAIL_TYPE, EVENT_SOURCE, StructuredDecision
from canary_rollback.core.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

# Answers that are not news: a tick that found nothing firing must make no write (docs/design.md).
NOT_PUBLISHED = frozenset({"quiet"})


class DecisionEvents:
    def __init__(self, client: EventBridgeClient | None, bus: str | None) -> None:
        self._client = client
        self._bus = bus

    def put(self, record: StructuredDecision, resources: tuple[str, ...] = ()) -> bool:
        """Put one decision on the bus; True when EventBridge took it. `resources`: ARNs rules may match on."""
        if self._client is None or self._bus is None or record.action in NOT_PUBLISHED:
            return False
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": EVENT_DETAIL_TYPE,
            "Detail": json.dumps(record.as_json(), sort_keys=True),
            "EventBusName": self._bus,
            "Resources": [arn for arn in resources if arn],
            "Time": record.decided_at,
        }
        try:
            response = self._client.put_events(Entries=[entry])  # type: ignore[list-item]
        except (ClientError, BotoCoreError) as exc:
            logger.warning("decision event not put", extra={"bus": self._bus, "error": f"{error_code(exc)}: {exc}"})
            return False
        if response.get("FailedEntryCount", 0):
            failed = response.get("Entries", [{}])[0]
            logger.warning("decision event refused", extra={"bus": self._bus, "error": failed.get("ErrorCode")})
            return False
        return True
