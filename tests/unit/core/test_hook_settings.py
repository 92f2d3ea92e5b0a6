"""The gate's configuration: `test_url` in a probe spec, HOOK_* variables, and its high-resolution metrics."""

from __future__ import annotations

import json

import pytest

from canary_rollback.core.config import load_settings, require_hook_settings
from canary_rollback.core.errors import ConfigError
from canary_rollback.core.metrics import hook_metrics
from canary_rollback.core.models import GuardedService, ProbeResult
from canary_rollback.core.probe_spec import parse_probes
from tests.support.builders import T0

PROBES = json.dumps([{"name": "p", "url": "http://127.0.0.1:1/"}])


def test_test_url_is_optional_and_kept() -> None:
    (plain, gated) = parse_probes(
        [
            {"name": "plain", "url": "https://registry.example/api/mlflow/version"},
            {
                "name": "gated",
                "url": "https://registry.example/api/mlflow/version",
                "test_url": "https://registry.example:8443/api/mlflow/version",
            },
        ]
    )
    assert plain.test_url is None
    assert gated.test_url == "https://registry.example:8443/api/mlflow/version"


@pytest.mark.parametrize(
    ("test_url", "needle"),
    [
        ("ftp://registry.example/x", "field 'test_url' must be an http or https URL"),
        ("https:///no-host", "field 'test_url' must be an http or https URL"),
        (8443, "field 'test_url' must be a string"),
    ],
)
def test_test_url_is_validated_like_url(test_url: object, needle: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_probes([{"name": "gated", "url": "https://registry.example/", "test_url": test_url}])
    assert needle in str(error.value)
    assert "probe 'gated'" in str(error.value)


def test_hook_settings_defaults_and_overrides() -> None:
    defaults = load_settings({"PROBES": PROBES})
    assert (defaults.hook_passes_required, defaults.hook_interval_seconds) == (3, 10)
    custom = load_settings({"PROBES": PROBES, "HOOK_PASSES_REQUIRED": "1", "HOOK_INTERVAL_SECONDS": "30"})
    assert (custom.hook_passes_required, custom.hook_interval_seconds) == (1, 30)


@pytest.mark.parametrize(
    ("name", "value"),
    [("HOOK_PASSES_REQUIRED", "0"), ("HOOK_PASSES_REQUIRED", "three"), ("HOOK_INTERVAL_SECONDS", "0")],
)
def test_hook_settings_are_validated(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({"PROBES": PROBES, name: value})


def test_the_hook_needs_to_know_the_service_it_guards() -> None:
    with pytest.raises(ConfigError, match="CLUSTER_NAME and SERVICE_NAME"):
        require_hook_settings(load_settings({"PROBES": PROBES}))
    settings = load_settings({"PROBES": PROBES, "CLUSTER_NAME": "c", "SERVICE_NAME": "s"})
    assert require_hook_settings(settings) == GuardedService("c", "s")


def test_hook_metrics_carry_the_stage_at_high_resolution_and_never_the_rollback_alarms_input() -> None:
    results = [
        ProbeResult("mlflow-proxy", False, 404, 3.0, "status"),
        ProbeResult("slow", False, None, None, "timeout"),
    ]
    data = hook_metrics(results, "svc", "POST_TEST_TRAFFIC_SHIFT", T0)
    assert {d.name for d in data} == {"ProbeSuccess", "ProbeLatency"}
    assert all(d.high_resolution for d in data)
    assert {d.dimensions for d in data} == {
        (("service", "svc"), ("Probe", "mlflow-proxy"), ("Stage", "POST_TEST_TRAFFIC_SHIFT")),
        (("service", "svc"), ("Probe", "slow"), ("Stage", "POST_TEST_TRAFFIC_SHIFT")),
    }
    assert [d.value for d in data if d.name == "ProbeSuccess"] == [0, 0]


def test_emf_sink_marks_only_high_resolution_data(capsys: pytest.CaptureFixture[str]) -> None:
    from canary_rollback.core.metrics import EmfSink, MetricDatum, service_metric
    from tests.support.events import emf_lines

    dims = (("service", "svc"), ("Probe", "p"), ("Stage", "POST_TEST_TRAFFIC_SHIFT"))
    EmfSink("CanaryRollback", "svc").publish(
        [
            MetricDatum("ProbeSuccess", "Count", 1, dims, T0, high_resolution=True),
            service_metric("Rollbacks", "Count", 1, "svc", T0),  # the default: standard resolution, as before
        ]
    )
    resolutions = {
        metric["Name"]: metric.get("StorageResolution", 60)
        for blob in emf_lines(capsys.readouterr().out)
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert resolutions == {"ProbeSuccess": 1, "Rollbacks": 60}
