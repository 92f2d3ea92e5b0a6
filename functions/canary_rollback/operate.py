"""What an operator does to a guarded service (docs/operate.md): read its status and audit trail, pause and
resume automatic rollback, record a known-good, preview what the alarm would decide, run probes.

Plain functions over the runtime, values out; `cli.py` parses arguments and prints what they return. Every
change of state goes through `_change`: one conditional state write, then one audit record that names the
operator (the AWS identity CloudTrail shows, and the local user).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from canary_rollback.aws.clients import AwsClients
from canary_rollback.aws.identity import caller_arn
from canary_rollback.aws.stacks import StackSettings, read_stack
from canary_rollback.aws.state_store import StateStore, update_with_retry
from canary_rollback.core.arns import revision_family, revision_label
from canary_rollback.core.audit import AuditRecord, ManualKnownGoodRecord, PauseRecord, ResumeRecord
from canary_rollback.core.errors import ConfigError
from canary_rollback.core.models import (
    AlarmSignal,
    Decision,
    GuardedService,
    KnownGood,
    PauseFlag,
    ProbeResult,
    ServiceObservation,
    ServiceState,
    WatchLease,
)
from canary_rollback.core.probe_spec import parse_probes_json
from canary_rollback.core.readiness import ReadinessRecord
from canary_rollback.core.state_codec import Writer
from canary_rollback.http.prober import build_session, run_probes
from canary_rollback.probe.snapshots import SnapshotRefused, operator_snapshot
from canary_rollback.rollback.responder import OperatorPlan as OperatorPlan  # what plan_rollback returns
from canary_rollback.rollback.responder import RollbackOutcome, RollbackResponder
from canary_rollback.runtime import Runtime, build_runtime

R = TypeVar("R", bound=AuditRecord)
T = TypeVar("T")


@dataclass(frozen=True)
class RestoredImage:
    """One container of the known-good: the image it names and the digest its tasks ran (None: not recorded)."""

    container: str
    image: str
    digest: str | None


@dataclass(frozen=True)
class Status:
    guarded: GuardedService
    service: ServiceObservation
    state: ServiceState
    recent: tuple[dict[str, Any], ...]  # the newest audit records, as stored
    # The last rollback decisions, read past any number of hook answers and watch records.
    decisions: tuple[dict[str, Any], ...] = ()
    watch: WatchLease | None = None
    now: datetime | None = None

    @property
    def phase(self) -> str:
        """steady, deploying (a deployment under way), or scaling (running < desired on one rolled-out
        deployment: not a deployment, docs/design.md)."""
        if self.service.steady:
            return "steady"
        return "deploying" if self.service.deploying else "scaling"

    @property
    def last_rollback(self) -> str:
        """The last rollback in one line: what moved, when, and what became of it (ECS reverted it, and whether
        the known-good is not restorable until a person marks one)."""
        last = self.state.last_rollback
        if last is None:
            return "never"
        moved = f"{revision_label(last.from_arn)} -> {revision_label(last.to_arn)} at {last.at.isoformat()}"
        if last.status == "reverted":
            line = f"{moved} (REVERTED by ECS, try {last.attempt}: {last.reverted_how}"
            if self.state.not_restorable:
                line += "; NOT RESTORABLE: mark another known-good or roll back by hand"
            return line + ")"
        by = f" by {last.alarm}" if last.alarm else ""
        phase = last.phase(self.now) if self.now is not None else last.status
        if phase == "expired":
            ended = last.lease_end.isoformat()
            return f"{moved}{by} (pending, lease EXPIRED at {ended}: abandoned, the next alarm takes it over)"
        if phase == "pending":
            return f"{moved}{by} (pending, lease until {last.lease_end.isoformat()})"
        outcome = f", {last.outcome}" if last.outcome else ""
        return f"{moved}{by} ({last.status}{outcome})"


# What `status` lists as the last rollback decisions, however many hook answers came after them.
DECISION_KINDS = frozenset({"decision", "takeover", "error", "reverted", "abandoned"})


@dataclass(frozen=True)
class MarkedKnownGood:
    record: ManualKnownGoodRecord
    known_good: KnownGood
    active: bool  # False: INACTIVE, a rollback registers a copy of it
    family: str
    service_family: str  # the family the service runs now

    @property
    def other_family(self) -> bool:
        return self.family != self.service_family


@dataclass(frozen=True)
class NotMarked:
    """The revision's images could not be restored as they were seen; nothing was written."""

    reason: str


def operator_runtime(
    guarded: GuardedService,
    table: str,
    *,
    cooldown_seconds: int | None = None,
    stack: StackSettings | None = None,
    topic: str | None = None,
) -> Runtime:
    """The runtime of one CLI command: the guarded service and its table, and DRY_RUN so that an alarm's decision
    previewed from here never acts (a person's own rollback acts whatever DRY_RUN says: `rollback`). With the
    stack (`--stack`), its topic, its PinImageDigests and the default event bus, as the stack's functions have."""
    env = {"CLUSTER_NAME": guarded.cluster, "SERVICE_NAME": guarded.service, "STATE_TABLE": table, "DRY_RUN": "true"}
    if cooldown_seconds is not None:
        env["ROLLBACK_COOLDOWN_SECONDS"] = str(cooldown_seconds)
    if stack is not None:
        env |= {"STACK_NAME": stack.stack, "DECISION_EVENT_BUS": "default"}
        if stack.pin_image_digests is not None:
            env["PIN_IMAGE_DIGESTS"] = stack.pin_image_digests
    chosen_topic = topic or (stack.topic if stack is not None else None)
    if chosen_topic:
        env["NOTIFY_TOPIC_ARN"] = chosen_topic
    return build_runtime(env, need_probes=False)


def read_stack_settings(name: str) -> StackSettings:
    """`--stack NAME`: the guarded service, table and topic from the stack's outputs and parameters."""
    return read_stack(AwsClients().cloudformation, name)


def plan_rollback(runtime: Runtime, guarded: GuardedService, reason: str) -> OperatorPlan:
    """What `canary-rollback rollback` would do now (from, to, each image's pinned digest); acts on nothing."""
    return RollbackResponder(runtime, guarded).plan_operator_rollback(operator_identity(runtime), reason)


def rollback(runtime: Runtime, guarded: GuardedService, reason: str, shown: OperatorPlan) -> RollbackOutcome:
    """A person's rollback, carried out under the rollback lock with the restore plan `shown` to them, audited with
    their identity (rollback/manual.py). StateConflict when the plan changed since it was shown."""
    return RollbackResponder(runtime, guarded).operator_rollback(operator_identity(runtime), reason, shown)


def status(runtime: Runtime, guarded: GuardedService, recent: int = 5) -> Status:
    store = _store(runtime)
    state = store.load(guarded)
    service = runtime.ecs.describe(guarded)
    decisions = tuple(store.history(guarded, recent, kinds=DECISION_KINDS))
    return Status(
        guarded,
        service,
        state,
        tuple(store.history(guarded, recent)),
        decisions,
        store.load_watch(guarded),
        runtime.clock(),
    )


@dataclass(frozen=True)
class Readiness:
    """The last rollback readiness check (docs/readiness.md), and whether it checked the known-good now."""

    record: ReadinessRecord
    current: bool  # False: it checked an earlier known-good; the next scheduled run checks this one


def readiness(state: ServiceState) -> Readiness | None:
    if state.readiness is None:
        return None
    current = state.known_good is not None and state.known_good.arn == state.readiness.known_good
    return Readiness(state.readiness, current)


def history(runtime: Runtime, guarded: GuardedService, limit: int) -> tuple[dict[str, Any], ...]:
    """The audit trail, newest first, as stored (`core.audit.render` makes each a line)."""
    return tuple(_store(runtime).history(guarded, limit))


def restored_images(known_good: KnownGood) -> tuple[RestoredImage, ...] | None:
    """What a rollback restores: each container's image and the digest its tasks ran (None: recorded before
    snapshots existed, images as the revision names them)."""
    if known_good.snapshot is None:
        return None
    return tuple(
        RestoredImage(
            container=str(c.get("name")),
            image=str(c.get("image")),
            digest=known_good.snapshot.digests.get(str(c.get("name"))),
        )
        for c in known_good.snapshot.definition.get("containerDefinitions", [])
    )


def operator_identity(runtime: Runtime) -> str:
    """Who acts: the AWS identity (what CloudTrail will show) and the local user name."""
    return f"{caller_arn(runtime.clients)} ({_local_user()})"


def pause(runtime: Runtime, guarded: GuardedService, reason: str) -> PauseRecord:
    operator = operator_identity(runtime)
    flag = PauseFlag(by=operator, at=runtime.clock(), reason=reason)

    def paused(state: ServiceState) -> tuple[ServiceState, None]:
        return replace(state, paused=flag), None

    return _change(
        runtime,
        guarded,
        paused,
        lambda _: PauseRecord(at=flag.at, by=operator, reason=reason, service=guarded.key),
        "pause",
    )


def resume(runtime: Runtime, guarded: GuardedService) -> ResumeRecord:
    """`paused_by` of the record is None when the service was not paused."""
    operator = operator_identity(runtime)
    now = runtime.clock()

    def resumed(state: ServiceState) -> tuple[ServiceState, PauseFlag | None]:
        return replace(state, paused=None), state.paused

    def record(was: PauseFlag | None) -> ResumeRecord:
        return ResumeRecord(at=now, by=operator, paused_by=was.by if was else None, service=guarded.key)

    return _change(runtime, guarded, resumed, record, "pause")


def mark_known_good(
    runtime: Runtime, guarded: GuardedService, task_definition: str, reason: str, *, allow_unpinned: bool
) -> MarkedKnownGood | NotMarked:
    """Record `task_definition` (an ARN or `family:revision`; EcsError if ECS does not know it) as the known-good,
    with its snapshot: the revision as registered, and its tasks' digests when the service runs it now."""
    ecs = runtime.ecs
    service = ecs.describe(guarded)
    arn, active = ecs.resolve_task_definition(task_definition)
    try:
        snapshot = operator_snapshot(
            ecs.registrable_snapshot(arn), arn, ecs.running_digests(guarded, arn), allow_unpinned
        )
    except SnapshotRefused as exc:
        return NotMarked(str(exc))
    operator = operator_identity(runtime)
    now = runtime.clock()
    known_good = KnownGood(arn, now, f"{reason} ({_local_user()} via CLI)", snapshot=snapshot)

    def marked(state: ServiceState) -> tuple[ServiceState, None]:
        return replace(state, known_good=known_good), None

    record = _change(
        runtime,
        guarded,
        marked,
        lambda _: ManualKnownGoodRecord(at=now, arn=arn, reason=known_good.reason, service=guarded.key, by=operator),
        "mark_known_good",
    )
    return MarkedKnownGood(
        record, known_good, active, revision_family(arn), revision_family(service.task_definition_arn)
    )


def preview_rollback(runtime: Runtime, guarded: GuardedService) -> Decision:
    """What the alarm would decide now, by the rollback's own code; acts on nothing, records nothing."""
    now = runtime.clock()
    alarm = AlarmSignal(
        "manual dry run", "ALARM", None, "canary-rollback rollback --dry-run", now.isoformat(), "eventbridge"
    )
    return RollbackResponder(runtime, guarded).preview(alarm, now)


def probe(config: Path) -> tuple[ProbeResult, ...]:
    """Run the probe specs of a JSON file once, from here; secrets resolve exactly as in the Lambda."""
    try:
        text = config.read_text()
    except OSError as exc:
        raise ConfigError(f"{config}: cannot be read ({exc.strerror})") from None
    specs = parse_probes_json(text, str(config))
    runtime = build_runtime({}, need_probes=False)  # no probes of its own: the file is parsed once, above
    with build_session(len(specs)) as session:
        return tuple(run_probes(specs, session, runtime.resolve_secret))


def _change(
    runtime: Runtime,
    guarded: GuardedService,
    mutate: Callable[[ServiceState], tuple[ServiceState, T]],
    record: Callable[[T], R],
    writer: Writer,
) -> R:
    """The one path of an operator's change: `mutate` (pure, re-run on a lost race) written conditionally, only
    the attributes `writer` owns (docs/design.md, "State items"), then the audit record built from what it saw
    (`record`), written once the state is."""
    store = _store(runtime)
    _, seen = update_with_retry(store, guarded, mutate, writer)
    entry = record(seen)
    store.audit(guarded, entry)
    return entry


def _store(runtime: Runtime) -> StateStore:
    store = runtime.store
    if store is None:
        raise ConfigError("STATE_TABLE: required to read or change the state of a guarded service")
    return store


def _local_user() -> str:
    return os.getenv("USER") or getpass.getuser()
