"""Settings read once from the environment at cold start (docs/operate.md, "Configuration reference").

A frozen value validated in one place: no silent defaults sprinkled through the code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from canary_rollback.core.errors import ConfigError
from canary_rollback.core.evidence import CommandTarget
from canary_rollback.core.models import GuardedService
from canary_rollback.core.probe_spec import ProbeSpec, parse_probes_json

MetricsSinkKind = Literal["emf", "cloudwatch"]  # METRICS_SINK; the sink itself is core.metrics.MetricsSink

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})
_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Settings:
    probes: tuple[ProbeSpec, ...] | None
    probes_parameter: str | None
    metrics_sink_kind: MetricsSinkKind
    namespace: str
    powertools_service: str  # POWERTOOLS_SERVICE_NAME: logs and the metrics' `service` dimension, not the ECS service
    guarded: GuardedService | None
    state_table: str | None
    known_good_after: int
    rollback_cooldown_seconds: int
    dry_run: bool
    notify_topic_arn: str | None
    max_alarm_age_seconds: int = 600
    # How long a pending rollback lock is presumed alive: RollbackFunction's timeout + 30 s (docs/design.md).
    rollback_lock_lease_seconds: int = 150
    # The blue/green gate (docs/gate.md): consecutive all-pass rounds a stage needs,
    # and the callBackDelay ECS waits between rounds.
    hook_passes_required: int = 3
    hook_interval_seconds: int = 10
    # Roll back to the image digests seen healthy, not to whatever their tags point at now (docs/design.md,
    # "What a rollback restores"); false keeps tags and copies a known-good only when it is no longer ACTIVE.
    pin_image_digests: bool = True
    # The deployment watch (docs/watch.md): rounds every interval until WATCH_SECONDS after the
    # last ECS deployment event. Defaults here so code that builds Settings by hand needs no change.
    watch_seconds: int = 300
    watch_interval_seconds: int = 10
    # The stack's name: notifications print `canary-rollback ... --stack NAME` (docs/operate.md).
    stack_name: str | None = None
    # The event bus every decision is put on (the template sets `default`); unset: no decision events.
    decision_event_bus: str | None = None
    # The reconcile tick (docs/design.md): the stack's rollback alarms, read in one DescribeAlarms call a minute.
    rollback_alarms: tuple[str, ...] = ()
    # Rollback readiness (docs/readiness.md): scheduled runs check the known-good at most this often.
    readiness_interval_seconds: int = 300


def load_settings(env: Mapping[str, str], *, need_probes: bool = True) -> Settings:
    """Validate the environment.

    `need_probes=False` for the rollback function: it never probes, so it never parses the probe list, and a
    typo in the probes cannot take the rollback path down with it.
    """
    probes_json = env.get("PROBES", "").strip() if need_probes else ""
    probes_parameter = (env.get("PROBES_PARAMETER", "").strip() or None) if need_probes else None
    probes = parse_probes_json(probes_json, "PROBES") if probes_json else None
    if need_probes and probes is None and probes_parameter is None:
        raise ConfigError("PROBES: set PROBES (a JSON array of probe specs) or PROBES_PARAMETER (an SSM name)")

    sink = env.get("METRICS_SINK", "emf").strip().lower() or "emf"
    if sink not in ("emf", "cloudwatch"):
        raise ConfigError(f"METRICS_SINK: must be 'emf' or 'cloudwatch', got {sink!r}")

    cluster = env.get("CLUSTER_NAME", "").strip()
    service = env.get("SERVICE_NAME", "").strip()
    if bool(cluster) != bool(service):
        raise ConfigError("CLUSTER_NAME and SERVICE_NAME: set both (the guarded ECS service) or neither")
    guarded = GuardedService(cluster, service) if cluster else None
    state_table = env.get("STATE_TABLE", "").strip() or None

    topic = env.get("NOTIFY_TOPIC_ARN", "").strip() or None
    if topic is not None and not _ARN.fullmatch(topic):
        raise ConfigError(f"NOTIFY_TOPIC_ARN: not an SNS topic ARN: {topic!r}")

    watch_seconds, watch_interval = _watch_settings(env) if need_probes else (300, 10)

    return Settings(
        probes=probes,
        probes_parameter=probes_parameter,
        metrics_sink_kind=sink,  # type: ignore[arg-type]  # narrowed by the check above
        namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or "CanaryRollback",
        powertools_service=env.get("POWERTOOLS_SERVICE_NAME", "").strip() or "canary-rollback",
        guarded=guarded,
        state_table=state_table,
        known_good_after=_int(env, "KNOWN_GOOD_AFTER", 3, minimum=1),
        rollback_cooldown_seconds=_int(env, "ROLLBACK_COOLDOWN_SECONDS", 900, minimum=0),
        dry_run=_bool(env, "DRY_RUN", False),
        notify_topic_arn=topic,
        max_alarm_age_seconds=_int(env, "MAX_ALARM_AGE_SECONDS", 600, minimum=60),
        rollback_lock_lease_seconds=_int(env, "ROLLBACK_LOCK_LEASE_SECONDS", 150, minimum=30),
        hook_passes_required=_int(env, "HOOK_PASSES_REQUIRED", 3, minimum=1),
        hook_interval_seconds=_int(env, "HOOK_INTERVAL_SECONDS", 10, minimum=1),
        pin_image_digests=_bool(env, "PIN_IMAGE_DIGESTS", True),
        watch_seconds=watch_seconds,
        watch_interval_seconds=watch_interval,
        stack_name=env.get("STACK_NAME", "").strip() or None,
        decision_event_bus=env.get("DECISION_EVENT_BUS", "").strip() or None,
        rollback_alarms=tuple(name.strip() for name in env.get("ROLLBACK_ALARMS", "").split(",") if name.strip()),
        readiness_interval_seconds=_readiness_interval(env) if need_probes else 300,
    )


# A Lambda runs at most 900 s and the watching function's timeout is at least WATCH_SECONDS + 60.
MAX_WATCH_SECONDS = 840


def _watch_settings(env: Mapping[str, str]) -> tuple[int, int]:
    watch_seconds = _int(env, "WATCH_SECONDS", 300, minimum=1)
    if watch_seconds > MAX_WATCH_SECONDS:
        raise ConfigError(f"WATCH_SECONDS: at most {MAX_WATCH_SECONDS} (a Lambda runs 900 s), got {watch_seconds}")
    interval = _int(env, "WATCH_INTERVAL_SECONDS", 10, minimum=1)
    if interval > watch_seconds:
        raise ConfigError(f"WATCH_INTERVAL_SECONDS: must not exceed WATCH_SECONDS ({watch_seconds}), got {interval}")
    return watch_seconds, interval


def command_target(settings: Settings) -> CommandTarget | None:
    """How a notification names this stack on the `canary-rollback` command line."""
    if settings.guarded is None:
        return None
    guarded = settings.guarded
    return CommandTarget(guarded.cluster, guarded.service, settings.state_table, settings.stack_name)


# Below a minute the check would run with every scheduled run anyway; above a day it no longer warns in time.
MIN_READINESS_INTERVAL, MAX_READINESS_INTERVAL = 60, 86400


def _readiness_interval(env: Mapping[str, str]) -> int:
    interval = _int(env, "READINESS_INTERVAL_SECONDS", 300, minimum=MIN_READINESS_INTERVAL)
    if interval > MAX_READINESS_INTERVAL:
        raise ConfigError(f"READINESS_INTERVAL_SECONDS: at most {MAX_READINESS_INTERVAL} (a day), got {interval}")
    return interval


def require_rollback_settings(settings: Settings) -> tuple[GuardedService, str]:
    """The rollback function cannot do anything safe without knowing what it guards and where state lives."""
    if settings.guarded is None:
        raise ConfigError("CLUSTER_NAME and SERVICE_NAME: required by the rollback function")
    if settings.state_table is None:
        raise ConfigError("STATE_TABLE: required by the rollback function")
    return settings.guarded, settings.state_table


def require_tick_settings(settings: Settings) -> tuple[str, ...]:
    """A tick must know which alarms to read; reading none would answer `quiet` for ever."""
    if not settings.rollback_alarms:
        raise ConfigError("ROLLBACK_ALARMS: required by the reconcile tick (the stack's rollback alarm names)")
    return settings.rollback_alarms


def require_hook_settings(settings: Settings) -> GuardedService:
    """The deployment hook must know which service it gates: an event for any other service fails the gate."""
    if settings.guarded is None:
        raise ConfigError("CLUSTER_NAME and SERVICE_NAME: required by the deployment hook function")
    return settings.guarded


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}: must be 'true' or 'false', got {raw!r}")
