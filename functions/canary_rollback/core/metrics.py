"""Metric names, units and dimension sets (docs/operate.md, "Metrics"), and the EMF sink.

The domain builds `MetricDatum`s; a sink publishes them. Both sinks publish exactly the same names and
dimension sets, because the template's alarms must watch exactly what is emitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from canary_rollback.core.models import ProbeResult

Unit = Literal["Count", "Milliseconds", "Seconds"]

SERVICE_DIMENSION = "service"  # the dimension powertools adds from POWERTOOLS_SERVICE_NAME
PROBE_DIMENSION = "Probe"
STAGE_DIMENSION = "Stage"  # the ECS lifecycle stage a deployment-hook probe ran for
# A deployment watch's rounds publish their ProbeFailures under {service, Source=watch}: only FastRollbackAlarm
# reads them. RollbackAlarm's one-minute Maximum over 10-second rounds would turn two isolated blips in different
# minutes into "2 of 3 minutes failing" (docs/deploy.md, "Why two alarms").
SOURCE_DIMENSION = "Source"
WATCH_SOURCE = "watch"


@dataclass(frozen=True)
class MetricDatum:
    name: str
    unit: Unit
    value: float
    dimensions: tuple[tuple[str, str], ...]
    timestamp: datetime
    # StorageResolution 1: alarms with 10/20/30 s periods read only metrics stored at high resolution.
    high_resolution: bool = False


class MetricsSink(Protocol):
    def publish(self, data: Sequence[MetricDatum]) -> None: ...


def probe_run_metrics(
    results: Sequence[ProbeResult], powertools_service: str, at: datetime, *, watch_round: bool = False
) -> list[MetricDatum]:
    """Every probe metric at high resolution, scheduled runs included. A watch round's ProbeFailures go under
    their own dimension set (`Source` = `watch`), the fast alarm's input; a scheduled run's under `service` alone,
    the one-minute alarm's. Everything else is the same for both."""
    data: list[MetricDatum] = []

    def add(name: str, unit: Unit, value: float, dims: tuple[tuple[str, str], ...]) -> None:
        data.append(MetricDatum(name, unit, value, dims, at, high_resolution=True))

    for result in results:
        dims = ((SERVICE_DIMENSION, powertools_service), (PROBE_DIMENSION, result.name))
        add("ProbeSuccess", "Count", 1 if result.ok else 0, dims)
        if result.latency_ms is not None:
            add("ProbeLatency", "Milliseconds", result.latency_ms, dims)
        add("ProbeNotFound", "Count", 1 if result.status == 404 else 0, dims)
    aggregate = ((SERVICE_DIMENSION, powertools_service),)
    failures = (*aggregate, (SOURCE_DIMENSION, WATCH_SOURCE)) if watch_round else aggregate
    add("ProbeFailures", "Count", sum(1 for r in results if r.target_failure), failures)
    add("ProbeErrors", "Count", sum(1 for r in results if r.reason == "error"), aggregate)
    return data


def hook_metrics(
    results: Sequence[ProbeResult], powertools_service: str, stage: str, at: datetime
) -> list[MetricDatum]:
    """The deployment gate's probes: per probe and per lifecycle stage, at high resolution.

    Never `ProbeFailures` (nor `ProbeErrors`): ECS rolls a gated deployment back by itself when the hook answers
    FAILED, so the rollback alarm, which watches `ProbeFailures`, must not fire for the same failure.
    """
    data: list[MetricDatum] = []
    for result in results:
        dims = ((SERVICE_DIMENSION, powertools_service), (PROBE_DIMENSION, result.name), (STAGE_DIMENSION, stage))
        data.append(MetricDatum("ProbeSuccess", "Count", 1 if result.ok else 0, dims, at, high_resolution=True))
        if result.latency_ms is not None:
            data.append(MetricDatum("ProbeLatency", "Milliseconds", result.latency_ms, dims, at, high_resolution=True))
    return data


def service_metric(name: str, unit: Unit, value: float, powertools_service: str, at: datetime) -> MetricDatum:
    """An aggregate metric of the guarded service: Rollbacks, RecoverySeconds."""
    return MetricDatum(name, unit, value, ((SERVICE_DIMENSION, powertools_service),), at)


def group_by_dimensions(
    data: Iterable[MetricDatum],
) -> dict[tuple[tuple[str, str], ...], list[MetricDatum]]:
    groups: dict[tuple[tuple[str, str], ...], list[MetricDatum]] = {}
    for datum in data:
        groups.setdefault(datum.dimensions, []).append(datum)
    return groups


class EmfSink:
    """CloudWatch Embedded Metric Format on stdout through powertools: free of API calls inside Lambda.

    EMF gives one dimension set per log line, so each probe's metrics go out as one line of their own.
    """

    def __init__(self, namespace: str, powertools_service: str) -> None:
        self._namespace = namespace
        self._powertools_service = powertools_service

    def publish(self, data: Sequence[MetricDatum]) -> None:
        from aws_lambda_powertools.metrics import EphemeralMetrics, MetricResolution

        for dimensions, group in group_by_dimensions(data).items():
            blob = EphemeralMetrics(namespace=self._namespace, service=self._powertools_service)
            for name, value in dimensions:
                blob.add_dimension(name=name, value=value)
            for datum in group:
                resolution = MetricResolution.High if datum.high_resolution else MetricResolution.Standard
                blob.add_metric(name=datum.name, unit=datum.unit, value=datum.value, resolution=resolution)
            blob.set_timestamp(group[0].timestamp)
            blob.flush_metrics()
