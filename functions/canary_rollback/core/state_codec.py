"""The state item's DynamoDB encoding, apart from the store: ServiceState <-> attribute values, and the update
a writer makes. Pure: no AWS here; `aws/state_store.py` only sends what this module builds.

Writers never erase what they do not own (docs/design.md, "State items"). A write is an `UpdateItem` that sets or
removes only the attributes its writer changed, conditional on `version`, so an attribute this version does not
know (written by a newer version, or by another component) survives every write. Inside a map whose identity is
unchanged (the same known-good ARN, the same rollback id) only the changed members are written, so an unknown
member survives too; a map whose identity changes (a new known-good) is replaced whole: what an older entity
carried does not belong to the new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from canary_rollback.core.errors import StateStoreError
from canary_rollback.core.evidence import ProbeEvidence
from canary_rollback.core.models import (
    Candidate,
    FailureSeen,
    KnownGood,
    PauseFlag,
    ServiceState,
    TaskDefinitionSnapshot,
    ToldAnswer,
    WatchLease,
)
from canary_rollback.core.observability import logger
from canary_rollback.core.readiness import ReadinessFinding, ReadinessRecord
from canary_rollback.core.rollback_record import RollbackRecord

TTL_ATTRIBUTE = "ttl"
VERSION = "version"

# Who writes the state item, and what each writer may change. A writer that changes anything else is a bug
# (ValueError), so the table in docs/design.md and the code cannot drift apart.
Writer = Literal["probe_run", "watch_round", "follow", "rollback", "pause", "mark_known_good", "readiness"]
# What following a rollback's deployment records on its lock: the recovery verdict, or ECS reverting it.
_FOLLOWS = frozenset(
    {
        "last_rollback.outcome",
        "last_rollback.recovered_at",
        "last_rollback.status",
        "last_rollback.reverted_at",
        "last_rollback.reverted_how",
    }
)
OWNED: dict[Writer, frozenset[str]] = {
    # the streak, a promotion (with its snapshot), the run's bookkeeping, failure evidence, and following the
    # last rollback's deployment (recovered, not recovered, reverted by ECS)
    "probe_run": frozenset(
        {
            "candidate",
            "known_good",
            "last_run_at",
            "last_run_ok",
            "last_run_id",
            "last_failure",
            "probe_failures",  # the failing probes' evidence (core/evidence.py), the rollback's to read
            *_FOLLOWS,
        }
    ),
    # a failed round resets the streak and is failure evidence; a round follows the rollback's deployment too
    "watch_round": frozenset({"candidate", "last_failure", "probe_failures", *_FOLLOWS}),
    # an ECS deployment event of a gated service (no watch): ECS reverting the rollback's deployment
    "follow": _FOLLOWS,
    # the lock, the pinned copy that becomes the known-good when the rollback is done, the answers told
    "rollback": frozenset({"last_rollback", "known_good", "told"}),
    "pause": frozenset({"paused"}),  # `canary-rollback pause` and `resume`
    "mark_known_good": frozenset({"known_good"}),
    # the scheduled run's rollback readiness check (docs/readiness.md): its last answer, and nothing else
    "readiness": frozenset({"readiness"}),
}
# The members that say which entity a map is: while they are equal, a write touches only changed members.
_IDENTITY: dict[str, tuple[str, ...]] = {
    "known_good": ("arn",),
    "candidate": ("arn",),
    "last_rollback": ("id",),
    "paused": ("at",),
    "last_failure": ("arn",),
    "readiness": ("known_good",),
    "told": (),  # one member per alarm: each alarm's entry is replaced whole, the others are left as they are
    "probe_failures": (),  # one member per failing probe, likewise
}

Path = tuple[str, ...]


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


# ---- ServiceState -> attributes ----------------------------------------------------------------------------


def item_from_state(state: ServiceState) -> dict[str, Any]:
    """Every attribute this version knows, as DynamoDB attribute values (absent ones left out)."""
    return {name: value for name, value in _attributes(state).items() if value is not None}


def _attributes(state: ServiceState) -> dict[str, dict[str, Any] | None]:
    """Each known top-level attribute: its value, or None when the state has none (to be removed)."""
    return {
        VERSION: {"N": str(state.version)},
        "known_good": _known_good_item(state.known_good) if state.known_good is not None else None,
        "candidate": _candidate_item(state.candidate) if state.candidate is not None else None,
        "last_rollback": {"M": _rollback_item(state.last_rollback)} if state.last_rollback is not None else None,
        "last_run_at": {"S": iso(state.last_run_at)} if state.last_run_at is not None else None,
        "last_run_ok": {"BOOL": state.last_run_ok} if state.last_run_ok is not None else None,
        "last_run_id": {"S": state.last_run_id} if state.last_run_id is not None else None,
        "paused": _pause_item(state.paused) if state.paused is not None else None,
        "last_failure": _failure_item(state.last_failure) if state.last_failure is not None else None,
        "told": {"M": {answer.alarm: {"M": _told_item(answer)} for answer in state.told}} if state.told else None,
        PROBE_FAILURES: probe_failures_item(state.probe_failures) if state.probe_failures else None,
        "readiness": {"M": _readiness_item(state.readiness)} if state.readiness is not None else None,
    }


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
                    "at": {"S": iso(f.at)},
                    "first_failed_at": {"S": iso(f.first_failed_at)},
                    "count": {"N": str(f.count)},
                }
            }
            for f in failures
        }
    }


def _known_good_item(kg: KnownGood) -> dict[str, Any]:
    m = {"arn": {"S": kg.arn}, "since": {"S": iso(kg.since)}, "reason": {"S": kg.reason}}
    if kg.copied_from:
        m["copied_from"] = {"S": kg.copied_from}
    if kg.snapshot is not None:
        m["snapshot"] = {"S": snapshot_to_json(kg.snapshot)}
    return {"M": m}


def _candidate_item(c: Candidate) -> dict[str, Any]:
    return {"M": {"arn": {"S": c.arn}, "streak": {"N": str(c.streak)}, "since": {"S": iso(c.since)}}}


def _pause_item(p: PauseFlag) -> dict[str, Any]:
    return {"M": {"by": {"S": p.by}, "at": {"S": iso(p.at)}, "reason": {"S": p.reason}}}


def _failure_item(f: FailureSeen) -> dict[str, Any]:
    return {"M": {"arn": {"S": f.arn}, "at": {"S": iso(f.at)}}}


def _told_item(answer: ToldAnswer) -> dict[str, Any]:
    m: dict[str, Any] = {
        "state_change": {"S": answer.state_change},
        "action": {"S": answer.action},
        "at": {"S": iso(answer.at)},
    }
    m.update({name: {"S": value} for name, value in (("current", answer.current), ("target", answer.target)) if value})
    return m


def _readiness_item(record: ReadinessRecord) -> dict[str, Any]:
    findings = [{"subject": f.subject, "name": f.name, "status": f.status, "detail": f.detail} for f in record.findings]
    return {
        "known_good": {"S": record.known_good},
        "checked_at": {"S": iso(record.checked_at)},
        "verdict": {"S": record.verdict},
        # One JSON string: only ever read back whole; a list of maps costs per-attribute overhead for nothing.
        "findings": {"S": json.dumps(findings, sort_keys=True, separators=(",", ":"))},
    }


def _rollback_item(r: RollbackRecord) -> dict[str, Any]:
    m: dict[str, Any] = {
        "id": {"S": r.rollback_id},
        "at": {"S": iso(r.at)},
        "alarm": {"S": r.alarm},
        "from": {"S": r.from_arn},
        "to": {"S": r.to_arn},
        "status": {"S": r.status},
    }
    optional = {
        "outcome": r.outcome,
        "recovered_at": iso(r.recovered_at) if r.recovered_at else None,
        "state_change": r.state_change,
        "lease_until": iso(r.lease_until) if r.lease_until else None,
        "takeover_of": r.takeover_of,
        "copied_from": r.copied_from,
        "deployment_id": r.deployment_id,
        "reverted_at": iso(r.reverted_at) if r.reverted_at else None,
        "reverted_how": r.reverted_how,
        # Written only when not the default, so an item stays readable by the version before it existed.
        "holder": r.holder if r.holder != "delivery" else None,
        "via": r.via if r.via != "update_service" else None,
    }
    m.update({name: {"S": value} for name, value in optional.items() if value is not None})
    if r.attempt != 1:
        m["attempt"] = {"N": str(r.attempt)}
    return m


# ---- the update a writer makes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StateUpdate:
    """What one writer changes in the state item: paths to set (with their values) and paths to remove."""

    writer: Writer
    expected_version: int  # 0: the item has no version yet (absent, or written before versions existed)
    sets: tuple[tuple[Path, dict[str, Any]], ...]
    removes: tuple[Path, ...]

    @property
    def empty(self) -> bool:
        return not self.sets and not self.removes

    def request(self) -> dict[str, Any]:
        """UpdateItem's expression arguments: SET the changes and the next version, REMOVE the rest, only if
        nobody wrote since `expected_version` was read."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":next": {"N": str(self.expected_version + 1)}}

        placeholders: dict[str, str] = {}

        def placeholder(name: str) -> str:
            # Every name through a placeholder: `from`, `to`, `status` are DynamoDB reserved words, and a `told`
            # member is an alarm's name (hyphens). A placeholder is `#name`, or `#_N` for a name that is not one.
            if name not in placeholders:
                plain = name.isascii() and name.isidentifier() and not name.startswith("_")
                placeholders[name] = f"#{name}" if plain else f"#_{len(placeholders)}"
                names[placeholders[name]] = name
            return placeholders[name]

        def path(parts: Path) -> str:
            return ".".join(placeholder(part) for part in parts)

        assignments = [f"{path((VERSION,))} = :next"]
        for index, (parts, value) in enumerate(self.sets):
            values[f":v{index}"] = value
            assignments.append(f"{path(parts)} = :v{index}")
        expression = "SET " + ", ".join(assignments)
        if self.removes:
            expression += " REMOVE " + ", ".join(path(parts) for parts in self.removes)
        if self.expected_version == 0:
            condition = f"attribute_not_exists({path((VERSION,))})"
        else:
            condition = f"{path((VERSION,))} = :expected"
            values[":expected"] = {"N": str(self.expected_version)}
        return {
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }


def state_update(before: ServiceState, after: ServiceState, writer: Writer) -> StateUpdate:
    """The attributes `writer` changed from `before` (as it was read) to `after`; ValueError if it changed an
    attribute it does not own."""
    old, new = _attributes(before), _attributes(after)
    sets: list[tuple[Path, dict[str, Any]]] = []
    removes: list[Path] = []
    for name in old:
        if name == VERSION or old[name] == new[name]:
            continue
        was, now = old[name], new[name]
        if now is None:
            removes.append((name,))
        elif was is None or not _same_entity(name, was, now):
            sets.append(((name,), now))
        else:  # the same entity: only its changed members, so members this version does not know survive
            for member in sorted(set(was["M"]) | set(now["M"])):
                if member not in now["M"]:
                    removes.append((name, member))
                elif was["M"].get(member) != now["M"][member]:
                    sets.append(((name, member), now["M"][member]))
    update = StateUpdate(writer, before.version, tuple(sets), tuple(removes))
    _check_ownership(update)
    return update


def _same_entity(name: str, was: dict[str, Any], now: dict[str, Any]) -> bool:
    identity = _IDENTITY.get(name)
    if identity is None or "M" not in was or "M" not in now:
        return False
    return all(was["M"].get(member) == now["M"].get(member) for member in identity)


def _check_ownership(update: StateUpdate) -> None:
    owned = OWNED[update.writer]
    for parts in (*(p for p, _ in update.sets), *update.removes):
        prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
        if not prefixes & owned:
            raise ValueError(f"the {update.writer} writer does not own {'.'.join(parts)} of the state item")


# ---- attributes -> ServiceState ----------------------------------------------------------------------------


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
            return datetime.fromisoformat(raw)
        except ValueError:
            raise StateStoreError(f"state item is malformed: {self._where}.{name} is not a time: {raw!r}") from None


def state_from_item(item: dict[str, Any]) -> ServiceState:
    """The state as this version knows it; attributes it does not know are left in the item, never read."""
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
        version=top.number(VERSION, 0),
        last_failure=last_failure,
        told=tuple(told),
        probe_failures=_probe_failures(top),
        readiness=_readiness(ready) if (ready := top.child("readiness")) is not None else None,
    )


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


def _readiness(r: _Attributes) -> ReadinessRecord | None:
    """A readiness record that cannot be read is dropped (the next check writes a new one), never an error: the
    rollback and every other reader of the state item must not fail on what is only a report."""
    try:
        verdict = r.text("verdict")
        if verdict not in ("ready", "not_ready", "unchecked"):
            raise ValueError(f"verdict {verdict!r}")
        findings = tuple(
            ReadinessFinding(str(f["subject"]), str(f["name"]), str(f["status"]), str(f["detail"]))  # type: ignore[arg-type]
            for f in json.loads(r.optional_text("findings") or "[]")
        )
        return ReadinessRecord(r.text("known_good"), r.time("checked_at"), verdict, findings)  # type: ignore[arg-type]
    except (StateStoreError, ValueError, KeyError, TypeError) as exc:
        logger.warning("unreadable readiness record ignored", extra={"error": str(exc)})
        return None


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


# ---- the deployment watch's lease (its own item, sk `watch`) -----------------------------------------------


def item_from_watch(lease: WatchLease, expires_at: datetime) -> dict[str, Any]:
    return {
        "holder": {"S": lease.holder},
        "holder_until": {"S": iso(lease.holder_until)},
        "watch_until": {"S": iso(lease.watch_until)},
        "heartbeat_at": {"S": iso(lease.heartbeat_at)},
        "last_event": {"S": lease.last_event},
        VERSION: {"N": str(lease.version)},
        TTL_ATTRIBUTE: {"N": str(int(expires_at.timestamp()))},
    }


def watch_from_item(item: dict[str, Any]) -> WatchLease:
    lease = _Attributes(item, "watch")
    return WatchLease(
        holder=lease.text("holder"),
        holder_until=lease.time("holder_until"),
        watch_until=lease.time("watch_until"),
        heartbeat_at=lease.time("heartbeat_at"),
        last_event=lease.text("last_event"),
        version=lease.number(VERSION, 0),
    )
