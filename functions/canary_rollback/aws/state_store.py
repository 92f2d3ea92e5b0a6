"""The StateTable: one item per guarded service (optimistically versioned) plus its audit trail.

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
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import error_code
from canary_rollback.core.audit import AuditRecord, audit_item
from canary_rollback.core.errors import StateConflict, StateStoreError
from canary_rollback.core.evidence import ProbeEvidence
from canary_rollback.core.models import (
    Candidate,
    FailureSeen,
    GuardedService,
    KnownGood,
    PauseFlag,
    ServiceState,
    TaskDefinitionSnapshot,
    ToldAnswer,
    WatchLease,
)
from canary_rollback.core.rollback_record import RollbackRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

AUDIT_RETENTION = timedelta(days=90)
WATCH_SK = "watch"
WATCH_RETENTION = timedelta(days=1)  # an old lease is only clutter; DynamoDB's TTL removes it
TTL_ATTRIBUTE = "ttl"
MAX_SCANNED = 2000  # audit records a filtered history reads at most (hook answers come every 10 s of a deployment)


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

    def save(self, guarded: GuardedService, state: ServiceState, expected_version: int) -> ServiceState:
        """Write `state` only if nobody wrote since `expected_version` was read. Returns it with its new version."""
        saved = replace(state, version=expected_version + 1)
        if expected_version == 0:
            condition, values = "attribute_not_exists(pk)", None
        else:
            condition, values = "version = :expected", {":expected": {"N": str(expected_version)}}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Item": {**_key(guarded, "state"), **item_from_state(saved)},
            "ConditionExpression": condition,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        self._call("PutItem", lambda: self._client.put_item(**kwargs))
        return saved

    def audit(self, guarded: GuardedService, record: AuditRecord) -> str:
        # Decision time first; the wall clock's nanoseconds keep records of the same instant in write order.
        audit_id = f"audit#{_iso(record.at)}#{time.time_ns():020d}#{uuid.uuid4().hex[:6]}"
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

    # ---- the deployment watch lease (README, "Deployment watch") ----------------------------------------

    def load_watch(self, guarded: GuardedService) -> WatchLease | None:
        response = self._call(
            "GetItem",
            lambda: self._client.get_item(TableName=self._table, Key=_key(guarded, WATCH_SK), ConsistentRead=True),
        )
        item = response.get("Item")
        return watch_from_item(item) if item else None

    def put_watch(self, guarded: GuardedService, lease: WatchLease) -> WatchLease:
        """Write `lease` only if the item is still at `lease.version` (absent for 0); raises StateConflict."""
        saved = replace(lease, version=lease.version + 1)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Item": {**_key(guarded, WATCH_SK), **item_from_watch(saved)},
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
        seen = {":seen": {"S": _iso(watch_until)}}
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
                        ":now": {"S": _iso(now)},
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


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def item_from_state(state: ServiceState) -> dict[str, Any]:
    item: dict[str, Any] = {"version": {"N": str(state.version)}}
    if state.known_good is not None:
        kg = state.known_good
        m = {"arn": {"S": kg.arn}, "since": {"S": _iso(kg.since)}, "reason": {"S": kg.reason}}
        if kg.copied_from:
            m["copied_from"] = {"S": kg.copied_from}
        if kg.snapshot is not None:
            m["snapshot"] = {"S": snapshot_to_json(kg.snapshot)}
        item["known_good"] = {"M": m}
    if state.candidate is not None:
        c = state.candidate
        item["candidate"] = {"M": {"arn": {"S": c.arn}, "streak": {"N": str(c.streak)}, "since": {"S": _iso(c.since)}}}
    if state.last_rollback is not None:
        item["last_rollback"] = {"M": _rollback_item(state.last_rollback)}
    if state.last_run_at is not None:
        item["last_run_at"] = {"S": _iso(state.last_run_at)}
    if state.last_run_ok is not None:
        item["last_run_ok"] = {"BOOL": state.last_run_ok}
    if state.last_run_id is not None:
        item["last_run_id"] = {"S": state.last_run_id}
    if state.paused is not None:
        p = state.paused
        item["paused"] = {"M": {"by": {"S": p.by}, "at": {"S": _iso(p.at)}, "reason": {"S": p.reason}}}
    if state.last_failure is not None:
        f = state.last_failure
        item["last_failure"] = {"M": {"arn": {"S": f.arn}, "at": {"S": _iso(f.at)}}}
    if state.told:
        item["told"] = {"M": {answer.alarm: {"M": _told_item(answer)} for answer in state.told}}
    if state.probe_failures:
        item[PROBE_FAILURES] = probe_failures_item(state.probe_failures)
    return item


def _told_item(answer: ToldAnswer) -> dict[str, Any]:
    m: dict[str, Any] = {
        "state_change": {"S": answer.state_change},
        "action": {"S": answer.action},
        "at": {"S": _iso(answer.at)},
    }
    m.update({name: {"S": value} for name, value in (("current", answer.current), ("target", answer.target)) if value})
    return m


PROBE_FAILURES = "probe_failures"


def probe_failures_item(failures: tuple[ProbeEvidence, ...]) -> dict[str, Any]:
    """`probe_failures`: one map per failing probe, keyed by its name (the probe pipeline's own attribute)."""
    return {
        "M": {
            f.probe: {
                "M": {
                    "url": {"S": f.url},
                    "expected": {"S": f.expected},
                    "got": {"S": f.got},
                    "reason": {"S": f.reason},
                    "at": {"S": _iso(f.at)},
                    "first_failed_at": {"S": _iso(f.first_failed_at)},
                    "count": {"N": str(f.count)},
                }
            }
            for f in failures
        }
    }


def _probe_failures(top: _Attributes) -> tuple[ProbeEvidence, ...]:
    failures = top.child(PROBE_FAILURES)
    if failures is None:
        return ()
    read = []
    for name in failures.names():
        f = failures.child(name)
        if f is None:
            continue
        read.append(
            ProbeEvidence(
                probe=name,
                url=f.optional_text("url") or "",
                expected=f.optional_text("expected") or "",
                got=f.optional_text("got") or "",
                reason=f.optional_text("reason") or "error",
                at=f.time("at"),
                first_failed_at=f.optional_time("first_failed_at") or f.time("at"),
                count=f.number("count", 1),
            )
        )
    return tuple(sorted(read, key=lambda e: e.probe))


def _rollback_item(r: RollbackRecord) -> dict[str, Any]:
    m: dict[str, Any] = {
        "id": {"S": r.rollback_id},
        "at": {"S": _iso(r.at)},
        "alarm": {"S": r.alarm},
        "from": {"S": r.from_arn},
        "to": {"S": r.to_arn},
        "status": {"S": r.status},
    }
    optional = {
        "outcome": r.outcome,
        "recovered_at": _iso(r.recovered_at) if r.recovered_at else None,
        "state_change": r.state_change,
        "lease_until": _iso(r.lease_until) if r.lease_until else None,
        "takeover_of": r.takeover_of,
        "copied_from": r.copied_from,
        "deployment_id": r.deployment_id,
        "reverted_at": _iso(r.reverted_at) if r.reverted_at else None,
        "reverted_how": r.reverted_how,
        # Written only when not the default, so an item stays readable by the version before it existed.
        "holder": r.holder if r.holder != "delivery" else None,
        "via": r.via if r.via != "update_service" else None,
    }
    m.update({name: {"S": value} for name, value in optional.items() if value is not None})
    if r.attempt != 1:
        m["attempt"] = {"N": str(r.attempt)}
    return m


class _Attributes:
    """Reads one map of a stored item. Older versions wrote fewer attributes: a missing optional one is
    None, a missing required one is a StateStoreError naming it, never a bare KeyError."""

    def __init__(self, m: dict[str, Any], where: str) -> None:
        self._m = m
        self._where = where

    def text(self, name: str) -> str:
        value = self.optional_text(name)
        if value is None:
            raise StateStoreError(f"state item is malformed: {self._where}.{name} is missing")
        return value

    def optional_text(self, name: str) -> str | None:
        value = self._m.get(name)
        if not isinstance(value, dict) or not isinstance(value.get("S"), str):
            return None
        return str(value["S"])

    def time(self, name: str) -> datetime:
        return self._parse_time(name, self.text(name))

    def optional_time(self, name: str) -> datetime | None:
        raw = self.optional_text(name)
        return None if raw is None else self._parse_time(name, raw)

    def number(self, name: str, default: int) -> int:
        value = self._m.get(name)
        if not isinstance(value, dict) or "N" not in value:
            return default
        return int(value["N"])

    def boolean(self, name: str) -> bool | None:
        value = self._m.get(name)
        return bool(value["BOOL"]) if isinstance(value, dict) and "BOOL" in value else None

    def names(self) -> list[str]:
        return sorted(self._m)

    def child(self, name: str) -> _Attributes | None:
        value = self._m.get(name)
        if not isinstance(value, dict) or not isinstance(value.get("M"), dict):
            return None
        return _Attributes(value["M"], f"{self._where}.{name}")

    def _parse_time(self, name: str, raw: str) -> datetime:
        try:
            return _dt(raw)
        except ValueError:
            raise StateStoreError(f"state item is malformed: {self._where}.{name} is not a time: {raw!r}") from None


def state_from_item(item: dict[str, Any]) -> ServiceState:
    top = _Attributes(item, "state")
    known_good = None
    if (kg := top.child("known_good")) is not None:
        known_good = KnownGood(
            arn=kg.text("arn"),
            since=kg.time("since"),
            reason=kg.optional_text("reason") or "",
            copied_from=kg.optional_text("copied_from"),
            snapshot=_snapshot(kg.optional_text("snapshot")),  # absent: recorded before snapshots existed
        )
    candidate = None
    if (c := top.child("candidate")) is not None:
        candidate = Candidate(arn=c.text("arn"), streak=c.number("streak", 0), since=c.time("since"))
    last_rollback = None
    if (r := top.child("last_rollback")) is not None:
        status = r.text("status")
        outcome = r.optional_text("outcome")
        holder = r.optional_text("holder") or "delivery"
        via = r.optional_text("via") or "update_service"
        if (
            status not in ("pending", "done", "failed", "reverted")
            or outcome not in (None, "recovered", "not_recovered")
            or holder not in ("delivery", "tick")
            or via not in ("update_service", "stop_deployment")
        ):
            raise StateStoreError(
                f"state item is malformed: last_rollback status {status!r}, outcome {outcome!r}, holder {holder!r}, "
                f"via {via!r}"
            )
        last_rollback = RollbackRecord(
            rollback_id=r.text("id"),
            at=r.time("at"),
            alarm=r.optional_text("alarm") or "",
            from_arn=r.text("from"),
            to_arn=r.text("to"),
            status=status,  # type: ignore[arg-type]  # checked above
            outcome=outcome,  # type: ignore[arg-type]
            recovered_at=r.optional_time("recovered_at"),
            state_change=r.optional_text("state_change"),
            lease_until=r.optional_time("lease_until"),
            takeover_of=r.optional_text("takeover_of"),
            copied_from=r.optional_text("copied_from"),
            holder=holder,  # type: ignore[arg-type]  # checked above
            via=via,  # type: ignore[arg-type]  # checked above
            attempt=r.number("attempt", 1),
            deployment_id=r.optional_text("deployment_id"),
            reverted_at=r.optional_time("reverted_at"),
            reverted_how=r.optional_text("reverted_how"),
        )
    paused = None
    if (p := top.child("paused")) is not None:
        paused = PauseFlag(
            by=p.optional_text("by") or "unknown", at=p.time("at"), reason=p.optional_text("reason") or ""
        )
    last_failure = None
    if (f := top.child("last_failure")) is not None:
        last_failure = FailureSeen(arn=f.text("arn"), at=f.time("at"))
    told: list[ToldAnswer] = []
    if (t := top.child("told")) is not None:
        for alarm in t.names():
            a = t.child(alarm)
            if a is None:
                continue
            told.append(
                ToldAnswer(
                    alarm=alarm,
                    state_change=a.text("state_change"),
                    action=a.text("action"),
                    current=a.optional_text("current"),
                    target=a.optional_text("target"),
                    at=a.time("at"),
                )
            )
    return ServiceState(
        known_good=known_good,
        candidate=candidate,
        last_rollback=last_rollback,
        last_run_at=top.optional_time("last_run_at"),
        last_run_ok=top.boolean("last_run_ok"),
        last_run_id=top.optional_text("last_run_id"),
        paused=paused,
        version=top.number("version", 0),
        last_failure=last_failure,
        told=tuple(told),
        probe_failures=_probe_failures(top),
    )


def snapshot_to_json(snapshot: TaskDefinitionSnapshot) -> str:
    """One JSON string attribute, not a nested map: a task definition nests deeper than DynamoDB's 32 levels
    allow in the worst case, a string costs no per-attribute overhead toward the 400 KB item limit, and the
    definition is only ever read back whole to register it again."""
    body = {"definition": snapshot.definition, "tags": [list(t) for t in snapshot.tags], "digests": snapshot.digests}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def snapshot_from_json(text: str) -> TaskDefinitionSnapshot:
    body = json.loads(text)
    return TaskDefinitionSnapshot(
        definition=dict(body["definition"]),
        tags=tuple((str(k), str(v)) for k, v in body.get("tags", [])),
        digests={str(k): str(v) for k, v in body.get("digests", {}).items()},
    )


def _snapshot(text: str | None) -> TaskDefinitionSnapshot | None:
    if text is None:
        return None
    try:
        return snapshot_from_json(text)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateStoreError(f"state item is malformed: known_good.snapshot is unreadable ({exc})") from None


def item_from_watch(lease: WatchLease) -> dict[str, Any]:
    return {
        "holder": {"S": lease.holder},
        "holder_until": {"S": _iso(lease.holder_until)},
        "watch_until": {"S": _iso(lease.watch_until)},
        "heartbeat_at": {"S": _iso(lease.heartbeat_at)},
        "last_event": {"S": lease.last_event},
        "version": {"N": str(lease.version)},
        TTL_ATTRIBUTE: {"N": str(int((lease.watch_until + WATCH_RETENTION).timestamp()))},
    }


def watch_from_item(item: dict[str, Any]) -> WatchLease:
    return WatchLease(
        holder=item["holder"]["S"],
        holder_until=_dt(item["holder_until"]["S"]),
        watch_until=_dt(item["watch_until"]["S"]),
        heartbeat_at=_dt(item["heartbeat_at"]["S"]),
        last_event=item["last_event"]["S"],
        version=int(item["version"]["N"]),
    )


def update_with_retry(
    store: StateStore,
    guarded: GuardedService,
    mutate: Any,
    attempts: int = 5,
    loaded: ServiceState | None = None,
) -> tuple[ServiceState, Any]:
    """Load, apply `mutate(state) -> (new_state, extra)`, save conditionally; on a lost race start over.

    `mutate` must be a pure function of the state it is given, so re-running it after a conflict is safe.
    `loaded`: a state the caller has just read, used for the first attempt instead of reading it again (the
    write is conditional on its version either way).
    """
    for attempt in range(attempts):
        current = loaded if attempt == 0 and loaded is not None else store.load(guarded)
        new_state, extra = mutate(current)
        try:
            return store.save(guarded, new_state, current.version), extra
        except StateConflict:
            continue
    raise StateConflict(f"state of {guarded.key} kept changing; gave up after {attempts} attempts")
