from __future__ import annotations

from canary_rollback.core.metrics import probe_run_metrics, service_metric
from canary_rollback.core.models import ProbeResult
from tests.support.builders import T0

RESULTS = [
    ProbeResult("mlflow-proxy", False, 404, 12.5, "status"),
    ProbeResult("auth-service", True, 401, 8.0, None),
    ProbeResult("slow", False, None, None, "timeout"),
    ProbeResult("secretless", False, None, None, "error"),
]


def _by(name: str, probe: str | None = None) -> list[float]:
    data = probe_run_metrics(RESULTS, "svc", T0)
    return [d.value for d in data if d.name == name and (probe is None or dict(d.dimensions).get("Probe") == probe)]


def test_per_probe_metrics_and_dimensions() -> None:
    data = probe_run_metrics(RESULTS, "svc", T0)
    per_probe = {(d.name, d.unit) for d in data if dict(d.dimensions).get("Probe")}
    assert per_probe == {("ProbeSuccess", "Count"), ("ProbeLatency", "Milliseconds"), ("ProbeNotFound", "Count")}
    assert {d.dimensions for d in data if d.name == "ProbeSuccess"} == {
        (("service", "svc"), ("Probe", p.name)) for p in RESULTS
    }
    assert _by("ProbeSuccess", "auth-service") == [1]
    assert _by("ProbeSuccess", "mlflow-proxy") == [0]
    assert _by("ProbeNotFound", "mlflow-proxy") == [1]
    assert _by("ProbeNotFound", "auth-service") == [0]
    assert _by("ProbeLatency", "slow") == []  # no response, no latency
    assert all(d.timestamp == T0 for d in data)
    assert all(d.high_resolution for d in data)  # the fast alarm's 10 s periods need StorageResolution 1


def test_aggregates_separate_target_failures_from_our_errors() -> None:
    assert _by("ProbeFailures") == [2]  # 404 and timeout: the target's fault
    assert _by("ProbeErrors") == [1]  # unreadable secret: ours, never rolls back
    aggregate = [d for d in probe_run_metrics(RESULTS, "svc", T0) if d.name in ("ProbeFailures", "ProbeErrors")]
    assert {d.dimensions for d in aggregate} == {(("service", "svc"),)}


def test_service_metrics_are_standard_resolution_aggregates() -> None:
    datum = service_metric("Rollbacks", "Count", 1, "svc", T0)
    assert datum.dimensions == (("service", "svc"),)
    assert not datum.high_resolution  # no alarm reads them below one minute
