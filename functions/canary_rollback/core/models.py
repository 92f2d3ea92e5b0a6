"""The values that flow between probing, tracking and rollback. Plain data: no AWS, no I/O.

The stored shapes (state item, rollback record, pause flag) are described in docs/design.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from canary_rollback.core.evidence import ProbeEvidence
from canary_rollback.core.readiness import ReadinessRecord
from canary_rollback.core.rollback_record import Claim, RollbackRecord, Via

FailureReason = Literal["status", "body", "latency", "timeout", "connection", "tls", "error"]
TARGET_REASONS: frozenset[str] = frozenset({"status", "body", "latency", "timeout", "connection", "tls"})


@dataclass(frozen=True)
class GuardedService:
    """The one ECS service a stack guards."""

    cluster: str
    service: str

    @property
    def key(self) -> str:
        return f"{self.cluster}/{self.service}"


@dataclass(frozen=True)
class ProbeResult:
    name: str
    ok: bool
    status: int | None
    latency_ms: float | None
    reason: FailureReason | None
    detail: str | None = None  # a short human hint; never contains a secret

    @property
    def target_failure(self) -> bool:
        """Failed for a reason that is the target's fault (an `error` is ours, never the target's)."""
        return not self.ok and self.reason in TARGET_REASONS

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "ok": self.ok,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Deployment:
    status: str  # PRIMARY | ACTIVE | INACTIVE
    task_definition_arn: str
    rollout_state: str | None  # COMPLETED | IN_PROGRESS | FAILED
    running_count: int
    desired_count: int
    pending_count: int = 0
    deployment_id: str | None = None  # `ecs-svc/...`
    created_at: datetime | None = None  # when ECS started it
    rollout_state_reason: str | None = None


@dataclass(frozen=True)
class ServiceObservation:
    """What DescribeServices said about the guarded service, task definitions normalised to ARNs."""

    service_arn: str
    task_definition_arn: str
    desired_count: int
    running_count: int
    deployments: tuple[Deployment, ...]
    # ROLLING, or BLUE_GREEN / LINEAR / CANARY (ECS gates those with lifecycle hooks and rolls them back itself);
    # a CODE_DEPLOY or EXTERNAL deployment controller is reported here as its controller type.
    deployment_strategy: str = "ROLLING"
    # The alarms ECS itself watches during a deployment and rolls back on (`deploymentConfiguration.alarms` with
    # `enable` and `rollback` true); empty when it watches none.
    deployment_alarms: tuple[str, ...] = ()

    @property
    def primary(self) -> Deployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)

    @property
    def deploying(self) -> bool:
        """A deployment is under way: more than one deployment, or the PRIMARY still rolling out. Scaling
        (running < desired on one COMPLETED deployment) or a replaced task is not a deployment (docs/design.md)."""
        if len(self.deployments) > 1:
            return True
        primary = self.primary
        return primary is not None and primary.rollout_state == "IN_PROGRESS"

    @property
    def deployment_started_at(self) -> datetime | None:
        """When the service's current (PRIMARY) deployment started; None when ECS did not say."""
        primary = self.primary
        return primary.created_at if primary is not None else None

    def ecs_rolls_back_on(self, alarm_name: str) -> bool:
        """ECS rolls its own deployment back when this alarm fires (it is one of the service's deployment alarms)."""
        return alarm_name in self.deployment_alarms

    @property
    def gated(self) -> bool:
        """ECS (or another controller) owns this service's deployments and their rollback: stay out of its way
        while one is under way (docs/design.md)."""
        return self.deployment_strategy != "ROLLING"

    @property
    def phase(self) -> str:
        """`steady`; `deploying` (a deployment under way: `deploying`); `scaling` (tasks missing or extra on one
        rolled-out deployment: not a deployment)."""
        if self.steady:
            return "steady"
        return "deploying" if self.deploying else "scaling"

    @property
    def steady(self) -> bool:
        """One PRIMARY deployment on the service's task definition, rolled out, everything running.

        ECS omits `rolloutState` for some services (a Classic Load Balancer, for one); then nothing pending
        stands in for COMPLETED, or such a service could never earn a known-good (docs/design.md).
        """
        if len(self.deployments) != 1:
            return False
        only = self.deployments[0]
        rolled_out = only.pending_count == 0 if only.rollout_state is None else only.rollout_state == "COMPLETED"
        return (
            only.status == "PRIMARY"
            and only.task_definition_arn == self.task_definition_arn
            and rolled_out
            and self.running_count == self.desired_count
            and only.running_count == only.desired_count
        )


@dataclass(frozen=True)
class TaskDefinitionSnapshot:
    """What was seen healthy (docs/design.md, "What a rollback restores"): the registrable task definition and the image
    digest each container actually ran. A rollback restores this, not whatever the ARN or a tag points at now."""

    definition: dict[str, Any]  # RegisterTaskDefinition arguments (family, containerDefinitions, ...), no tags
    tags: tuple[tuple[str, str], ...] = ()
    digests: dict[str, str] = field(default_factory=dict)  # container name -> `sha256:...` as the tasks reported


@dataclass(frozen=True)
class KnownGood:
    arn: str
    since: datetime
    reason: str
    copied_from: str | None = None
    snapshot: TaskDefinitionSnapshot | None = None  # None: recorded by a version before snapshots existed


@dataclass(frozen=True)
class Candidate:
    arn: str
    streak: int
    since: datetime


@dataclass(frozen=True)
class PauseFlag:
    """An operator stopped automatic rollback (`canary-rollback pause`); probes and tracking go on."""

    by: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class FailureSeen:
    """The last probe run or watch round that failed for a target reason, and the revision the service ran then:
    evidence against a revision deployed after an alarm changed state (docs/design.md, row "superseded")."""

    arn: str
    at: datetime


@dataclass(frozen=True)
class ToldAnswer:
    """The last answer notified for one alarm (tell once): a re-made decision that gives the same non-acting
    answer for the same alarm state change is audited, not notified again."""

    alarm: str
    state_change: str
    action: str
    current: str | None
    target: str | None
    at: datetime

    def repeats(self, state_change: str, action: str, current: str | None, target: str | None) -> bool:
        return (self.state_change, self.action, self.current, self.target) == (state_change, action, current, target)


@dataclass(frozen=True)
class ServiceState:
    """The stored state of one guarded service. `version` drives optimistic (conditional) writes."""

    known_good: KnownGood | None = None
    candidate: Candidate | None = None
    last_rollback: RollbackRecord | None = None
    last_run_at: datetime | None = None
    last_run_ok: bool | None = None
    # The scheduled event id of the last run that was counted: an async retry of that run counts once.
    last_run_id: str | None = None
    paused: PauseFlag | None = None
    version: int = 0
    last_failure: FailureSeen | None = None
    told: tuple[ToldAnswer, ...] = ()  # one per alarm: the last answer notified for it
    # The probes failing in the latest runs or rounds, with what they expected and got (core/evidence.py): the
    # rollback's evidence. Written only by the probe pipeline, as its own attribute of the state item.
    probe_failures: tuple[ProbeEvidence, ...] = ()
    # The last rollback readiness check (docs/readiness.md): written by the probe run alone.
    readiness: ReadinessRecord | None = None

    @property
    def not_restorable(self) -> bool:
        """ECS reverted the last try at the current known-good (docs/design.md, row "not restorable"): no more
        automatic tries until an operator marks a known-good (even the same one again: it is newer than the try)."""
        last, known_good = self.last_rollback, self.known_good
        return (
            last is not None
            and known_good is not None
            and last.gave_up
            and last.restores(known_good.arn, known_good.copied_from)
            and known_good.since <= last.at
        )

    def told_for(self, alarm: str) -> ToldAnswer | None:
        return next((answer for answer in self.told if answer.alarm == alarm), None)

    def failed_since(self, arn: str, started: datetime | None) -> bool:
        """A probe run or watch round of `arn`, made after its deployment started, failed for a target reason."""
        seen = self.last_failure
        return seen is not None and started is not None and seen.arn == arn and seen.at >= started


@dataclass(frozen=True)
class AlarmSignal:
    """One alarm state change, whichever way it was delivered."""

    alarm_name: str
    state: str
    previous_state: str | None
    reason: str
    changed_at: str  # the alarm's own state timestamp, as delivered; part of the idempotency key
    # `tick`: the reconcile tick found the alarm in ALARM now (docs/design.md, "The reconcile tick").
    delivery: Literal["eventbridge", "lambda-action", "sns", "tick"]
    alarm_arn: str | None = None

    @property
    def state_change(self) -> str:
        """Identifies this state change across deliveries (EventBridge, SNS, alarm action): the lock's owner."""
        return f"{self.alarm_name}|{self.state}|{self.changed_at}"


@dataclass(frozen=True)
class AlarmNow:
    """What CloudWatch says about the alarm at decision time. `known=False`: no such alarm (deleted, a test)."""

    known: bool
    state: str | None = None


Action = Literal[
    "rolled_back",
    "dry_run",
    "ignored",
    "no_known_good",
    "already_known_good",
    "in_progress",
    "cooldown",
    "stale",
    "paused",
    "superseded",
    "not_restorable",
    "reverted",
    "quiet",
]
# Answers that change nothing in ECS: told once per alarm state change, however often a tick makes them again.
NON_ACTING: frozenset[str] = frozenset(
    {"dry_run", "no_known_good", "already_known_good", "in_progress", "cooldown", "stale", "paused", "superseded",
     "not_restorable"}
)  # fmt: skip


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    current: str | None
    target: str | None
    # Set by the responder from the restore plan: a copy will be registered (pinned images, or an INACTIVE known-good).
    needs_copy: bool = False
    notify: bool = False
    # How a `rolled_back` decision holds the lock: a fresh lock, its own dead attempt's, or an abandoned one's.
    claim: Claim = "free"
    # The last rollback record as this decision leaves it (ECS reverted it; or abandoned, and the service moved by
    # someone else: failed), written before anything else. None: unchanged.
    settles: RollbackRecord | None = None
    # How a `rolled_back` decision acts: UpdateService to the target, or StopServiceDeployment (ROLLBACK) of a
    # gated deployment ECS would not roll back by itself (the target is then the revision ECS goes back to).
    via: Via = "update_service"
    # The decision-table row that decided, by name (docs/design.md): the evidence card says it in words.
    row: str | None = None


@dataclass(frozen=True)
class RecoveryEvent:
    outcome: str  # "recovered" | "not_recovered" | "reverted"
    rollback: RollbackRecord
    seconds: float | None  # decision -> first all-pass run on the steady target
    current: str | None = None  # what the service runs now (said when ECS reverted the rollback)


@dataclass(frozen=True)
class WatchLease:
    """The StateTable item (sk `watch`) naming the one invocation that runs the watch loop.

    `holder_until` is when that invocation stops running rounds (its deadline less a margin); `watch_until` is
    the last deployment event's arrival plus WATCH_SECONDS; `heartbeat_at` is written before every round, so
    a holder that died is noticed long before its deadline.
    """

    holder: str
    holder_until: datetime
    watch_until: datetime
    heartbeat_at: datetime
    last_event: str
    version: int = 0

    def alive(self, now: datetime, stale_after: timedelta) -> bool:
        return now < self.watch_until and now < self.holder_until and now - self.heartbeat_at <= stale_after
