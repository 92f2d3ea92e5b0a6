"""The StateTable's I/O: one item per guarded service (optimistically versioned) plus its audit trail. What is
written is built by `core/state_codec.py`; this module only sends it.

Layout (pk, sk), described in docs/design.md ("State items"):
  service#CLUSTER/SERVICE, state           -> known-good, candidate + streak, rollback lock, pause, version
  service#CLUSTER/SERVICE, audit#ISO#ID    -> one decision, expires through the table's `ttl` attribute
  service#CLUSTER/SERVICE, watch           -> the deployment watch lease (its own item: the `state` item's
                                              optimistic versions are never disturbed by a heartbeat)
The idempotency records of the rollback function share the table (powertools writes them under its own pk).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import error_code
from canary_rollback.core.audit import AuditRecord, audit_item
from canary_rollback.core.errors import StateConflict, StateStoreError
from canary_rollback.core.models import GuardedService, ServiceState, WatchLease
from canary_rollback.core.state_codec import (
    TTL_ATTRIBUTE,
    Writer,
    iso,
    item_from_watch,
    state_from_item,
    state_update,
    watch_from_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

AUDIT_RETENTION = timedelta(days=90)
MAX_SCANNED = 2000  # audit records a filtered history reads at most (hook answers come every 10 s of a deployment)
WATCH_SK = "watch"
WATCH_RETENTION = timedelta(days=1)  # an old lease is only clutter; DynamoDB's TTL removes it
T = TypeVar("T")


class StateStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def load(self, guarded: GuardedService) -> ServiceState:
        response = self._call(
            "GetItem",
            lambda: self._client.get_item(TableName=self._table, Key=_key(guarded, "state"), ConsistentRead=True),
        )
        item = response.get("Item")
        return state_from_item(item) if item else ServiceState()

    def save(self, guarded: GuardedService, before: ServiceState, after: ServiceState, writer: Writer) -> ServiceState:
        """Write what `writer` changed from `before` (as read) to `after`, only if nobody wrote since `before` was
        read (StateConflict otherwise). One UpdateItem of those attributes alone: whatever else the item holds,
        this version's or a newer one's, is left as it is (docs/design.md, "State items"). Returns `after` with
        its new version; a write that changes nothing is not sent."""
        update = state_update(before, after, writer)
        if update.empty:
            return replace(after, version=before.version)
        self._call(
            "UpdateItem",
            lambda: self._client.update_item(TableName=self._table, Key=_key(guarded, "state"), **update.request()),
        )
        return replace(after, version=before.version + 1)

    def audit(self, guarded: GuardedService, record: AuditRecord) -> str:
        # Decision time first; the wall clock's nanoseconds keep records of the same instant in write order.
        audit_id = f"audit#{iso(record.at)}#{time.time_ns():020d}#{uuid.uuid4().hex[:6]}"
        item = {
            **_key(guarded, audit_id),
            **audit_item(record),
            TTL_ATTRIBUTE: {"N": str(int((record.at + AUDIT_RETENTION).timestamp()))},
        }
        self._call("PutItem", lambda: self._client.put_item(TableName=self._table, Item=item))
        return audit_id

    def history(
        self, guarded: GuardedService, limit: int = 20, kinds: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        """The newest audit records, newest first; `kinds`: only those kinds (`decision`, `takeover`...), so the
        last decisions are never crowded out by a deployment's hook answers. Reads at most MAX_SCANNED records."""
        records: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        scanned = 0
        while len(records) < limit and scanned < MAX_SCANNED:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :audit)",
                "ExpressionAttributeValues": {":pk": {"S": _pk(guarded)}, ":audit": {"S": "audit#"}},
                "ScanIndexForward": False,
                "Limit": limit if kinds is None else min(MAX_SCANNED - scanned, max(limit * 4, 50)),
            }
            if kinds:
                names = {f":kind{i}": {"S": kind} for i, kind in enumerate(sorted(kinds))}
                kwargs["FilterExpression"] = f"#kind IN ({', '.join(names)})"
                kwargs["ExpressionAttributeNames"] = {"#kind": "kind"}
                kwargs["ExpressionAttributeValues"].update(names)
            if start is not None:
                kwargs["ExclusiveStartKey"] = start
            response = self._call("Query", lambda kwargs=kwargs: self._client.query(**kwargs))
            scanned += int(response.get("ScannedCount", 0))
            records += [json.loads(item["record"]["S"]) for item in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if kinds is None or start is None:
                break
        return records[:limit]

    # ---- the deployment watch lease (docs/watch.md) ----------------------------------------

    def load_watch(self, guarded: GuardedService) -> WatchLease | None:
        response = self._call(
            "GetItem",
            lambda: self._client.get_item(TableName=self._table, Key=_key(guarded, WATCH_SK), ConsistentRead=True),
        )
        item = response.get("Item")
        return watch_from_item(item) if item else None

    def put_watch(self, guarded: GuardedService, lease: WatchLease) -> WatchLease:
        """Write `lease` only if the item is still at `lease.version` (absent for 0); raises StateConflict. The lease
        item is the watch's alone (every attribute of it is the lease's), so it is written whole."""
        saved = replace(lease, version=lease.version + 1)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                **_key(guarded, WATCH_SK),
                **item_from_watch(saved, expires_at=saved.watch_until + WATCH_RETENTION),
            },
        }
        if lease.version == 0:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            kwargs["ConditionExpression"] = "version = :expected"
            kwargs["ExpressionAttributeValues"] = {":expected": {"N": str(lease.version)}}
        self._call("PutItem", lambda: self._client.put_item(**kwargs))
        return saved

    def heartbeat_watch(self, guarded: GuardedService, holder: str, now: datetime) -> WatchLease | None:
        """Mark the holder alive and read the lease back in one call; None once another invocation holds it."""
        item = self._update_own_watch(guarded, holder, "heartbeat_at", now, condition="", values={})
        return watch_from_item(item) if item is not None else None

    def release_watch(self, guarded: GuardedService, holder: str, watch_until: datetime, now: datetime) -> bool:
        """The holder's loop is over: end its lease now, unless an event extended it since the holder last read it
        (then False: the holder reads the lease again and goes on). A released lease is not alive, so the next
        deployment event starts a watch instead of extending one that nobody runs."""
        seen = {":seen": {"S": iso(watch_until)}}
        return (
            self._update_own_watch(guarded, holder, "holder_until", now, " AND watch_until = :seen", seen) is not None
        )

    def _update_own_watch(
        self,
        guarded: GuardedService,
        holder: str,
        attribute: str,
        now: datetime,
        condition: str,
        values: dict[str, Any],
    ) -> dict[str, Any] | None:
        """Set one time attribute of the lease, only while `holder` holds it (and `condition`): the item as
        written, or None when the condition failed (another holder, or a lease that moved on)."""
        try:
            response = self._call(
                "UpdateItem",
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=_key(guarded, WATCH_SK),
                    UpdateExpression=f"SET {attribute} = :now, version = version + :one",
                    ConditionExpression="holder = :me" + condition,
                    ExpressionAttributeValues={
                        ":now": {"S": iso(now)},
                        ":one": {"N": "1"},
                        ":me": {"S": holder},
                        **values,
                    },
                    ReturnValues="ALL_NEW",
                ),
            )
        except StateConflict:
            return None
        attributes: dict[str, Any] = response["Attributes"]
        return attributes

    def _call(self, operation: str, call: Any) -> Any:
        try:
            return call()
        except ClientError as exc:
            code = error_code(exc)
            if code == "ConditionalCheckFailedException":
                raise StateConflict(f"{operation} on {self._table}: state changed concurrently") from exc
            if code == "ResourceNotFoundException":
                raise StateStoreError(f"state table {self._table!r} does not exist ({operation})") from exc
            raise StateStoreError(f"{operation} on state table {self._table!r} failed: {code}: {exc}") from exc
        except BotoCoreError as exc:
            raise StateStoreError(f"{operation} on state table {self._table!r} failed: {exc}") from exc


def _pk(guarded: GuardedService) -> str:
    return f"service#{guarded.key}"


def _key(guarded: GuardedService, sk: str) -> dict[str, Any]:
    return {"pk": {"S": _pk(guarded)}, "sk": {"S": sk}}


def update_with_retry(
    store: StateStore,
    guarded: GuardedService,
    mutate: Callable[[ServiceState], tuple[ServiceState, T]],
    writer: Writer,
    attempts: int = 5,
    loaded: ServiceState | None = None,
) -> tuple[ServiceState, T]:
    """Load, apply `mutate(state) -> (new_state, extra)`, save what `writer` changed; on a lost race start over.

    `mutate` must be a pure function of the state it is given, so re-running it after a conflict is safe.
    `loaded`: a state the caller has just read, used for the first attempt instead of reading it again (the
    write is conditional on its version either way).
    """
    for attempt in range(attempts):
        current = loaded if attempt == 0 and loaded is not None else store.load(guarded)
        new_state, extra = mutate(current)
        try:
            return store.save(guarded, current, new_state, writer), extra
        except StateConflict:
            continue
    raise StateConflict(f"state of {guarded.key} kept changing; gave up after {attempts} attempts")
