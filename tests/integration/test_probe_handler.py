"""ProbeFunction invoked the way `sam local invoke` does: env vars, the handler path, a LambdaContext."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from canary_rollback.core.errors import ConfigError, StateStoreError
from canary_rollback.handlers import probe as probe_handler
from demo.world.lambda_context import FakeLambdaContext
from tests.conftest import emf_lines, load_event
from tests.integration.conftest import LoopbackServer, probes_json

# The metric contract (README, "Metrics"), with the `service` dimension powertools adds.
CONTRACT_METRICS = {
    ("ProbeSuccess", "Count", ("Probe", "service")),
    ("ProbeLatency", "Milliseconds", ("Probe", "service")),
    ("ProbeNotFound", "Count", ("Probe", "service")),
    ("ProbeFailures", "Count", ("service",)),
    ("ProbeErrors", "Count", ("service",)),
}


def invoke() -> dict[str, Any]:
    response: dict[str, Any] = probe_handler.handler(load_event("schedule"), FakeLambdaContext("ProbeFunction"))
    return response


def seed_probes(server: LoopbackServer) -> str:
    base = f"http://127.0.0.1:{server.port}"
    return probes_json(
        {"name": "mlflow-proxy", "url": f"{base}/status/404", "expect_status": [401]},
        {"name": "auth-service", "url": f"{base}/status/401", "method": "POST", "expect_status": [401]},
    )


def emitted(text: str) -> set[tuple[str, str, tuple[str, ...]]]:
    found = set()
    for blob in emf_lines(text):
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "CanaryRollback"
        (dimensions,) = directive["Dimensions"]
        for metric in directive["Metrics"]:
            assert metric.get("StorageResolution") == 1, metric  # high resolution, for the fast alarm
            found.add((metric["Name"], metric["Unit"], tuple(sorted(dimensions))))
    return found


def test_response_shape_and_emf_metrics_follow_the_spec(
    http_server: LoopbackServer,
    handlers_reset: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    json_logs: list[dict[str, Any]],
) -> None:
    # Given the seed's probes, the proxy route broken (404)
    monkeypatch.setenv("PROBES", seed_probes(http_server))

    # When the scheduled event arrives
    response = invoke()

    # Then the result says which probe failed and why, and EMF carries every contract metric
    assert response == {
        "ok": False,
        "probes": [
            {
                "name": "mlflow-proxy",
                "ok": False,
                "status": 404,
                "latency_ms": response["probes"][0]["latency_ms"],
                "reason": "status",
            },
            {
                "name": "auth-service",
                "ok": True,
                "status": 401,
                "latency_ms": response["probes"][1]["latency_ms"],
                "reason": None,
            },
        ],
        "known_good": None,
    }
    out = capsys.readouterr().out
    assert emitted(out) == CONTRACT_METRICS
    values = {}
    for blob in emf_lines(out):
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            values[(metric["Name"], blob.get("Probe"))] = blob[metric["Name"]]
    assert values[("ProbeNotFound", "mlflow-proxy")] == [1.0]
    assert values[("ProbeSuccess", "mlflow-proxy")] == [0.0]
    assert values[("ProbeSuccess", "auth-service")] == [1.0]
    assert values[("ProbeFailures", None)] == [1.0]
    assert values[("ProbeErrors", None)] == [0.0]
    # one structured log line per probe, with the event id as correlation id
    logs = [line for line in json_logs if line["message"] == "probe result"]
    assert [log["probe"]["name"] for log in logs] == ["mlflow-proxy", "auth-service"]
    assert {log["correlation_id"] for log in logs} == {load_event("schedule")["id"]}


def test_cloudwatch_sink_publishes_the_same_names_and_dimension_sets(
    aws: Any,
    http_server: LoopbackServer,
    handlers_reset: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PROBES", seed_probes(http_server))
    monkeypatch.setenv("METRICS_SINK", "cloudwatch")
    invoke()
    assert emf_lines(capsys.readouterr().out) == []
    listed = boto3.client("cloudwatch").list_metrics(Namespace="CanaryRollback")["Metrics"]
    published = {(m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"]))) for m in listed}
    assert published == {(name, dims) for name, _, dims in CONTRACT_METRICS}


def test_probes_from_an_ssm_parameter(
    aws: Any, http_server: LoopbackServer, handlers_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("ssm").put_parameter(Name="/canary-rollback/probes", Value=seed_probes(http_server), Type="String")
    monkeypatch.setenv("PROBES_PARAMETER", "/canary-rollback/probes")
    assert [p["name"] for p in invoke()["probes"]] == ["mlflow-proxy", "auth-service"]


def test_broken_probes_in_ssm_fail_with_the_parameter_probe_and_field(
    aws: Any, handlers_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = probes_json({"name": "mlflow-proxy", "url": "http://127.0.0.1:1/", "expect": [401]})
    boto3.client("ssm").put_parameter(Name="/canary-rollback/probes", Value=bad, Type="String")
    monkeypatch.setenv("PROBES_PARAMETER", "/canary-rollback/probes")
    with pytest.raises(
        ConfigError, match=r"PROBES_PARAMETER /canary-rollback/probes\[0\] probe 'mlflow-proxy': field 'expect'"
    ):
        invoke()


def test_missing_ssm_parameter_is_a_config_error(
    aws: Any, handlers_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBES_PARAMETER", "/nope")
    with pytest.raises(ConfigError, match="PROBES_PARAMETER /nope: cannot be read"):
        invoke()


def test_broken_probes_env_fails_the_cold_start_with_one_message(
    handlers_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBES", probes_json({"name": "mlflow-proxy", "url": "gopher://x/"}))
    with pytest.raises(ConfigError, match=r"PROBES\[0\] probe 'mlflow-proxy': field 'url'"):
        invoke()


def test_auth_secrets_from_secrets_manager_and_ssm_are_sent_and_never_logged(
    aws: Any,
    http_server: LoopbackServer,
    handlers_reset: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    json_logs: list[dict[str, Any]],
) -> None:
    boto3.client("secretsmanager").create_secret(Name="canary-rollback/mlflow-token", SecretString="tok-SM-123")
    boto3.client("ssm").put_parameter(Name="/canary-rollback/basic", Value="admin:pw-SSM-456", Type="SecureString")
    base = f"http://127.0.0.1:{http_server.port}"
    monkeypatch.setenv(
        "PROBES",
        probes_json(
            {"name": "mlflow-authed", "url": f"{base}/status/200", "auth_secret": "canary-rollback/mlflow-token"},
            {
                "name": "basic-authed",
                "url": f"{base}/status/200",
                "auth_secret": "ssm:/canary-rollback/basic",
                "auth_scheme": "Basic",
            },
        ),
    )
    response = invoke()
    assert response["ok"]
    sent = sorted(seen["headers"]["Authorization"] for seen in http_server.seen)
    assert sent == ["Basic YWRtaW46cHctU1NNLTQ1Ng==", "Bearer tok-SM-123"]
    out = capsys.readouterr().out + json.dumps(json_logs)
    assert len(json_logs) >= 2  # the probe results were logged...
    for secret in ("tok-SM-123", "pw-SSM-456", "YWRtaW46cHctU1NNLTQ1Ng=="):  # ...without any secret
        assert secret not in out
        assert secret not in json.dumps(response)


def test_unreadable_secret_is_our_error_not_the_targets(
    aws: Any,
    http_server: LoopbackServer,
    handlers_reset: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = f"http://127.0.0.1:{http_server.port}"
    monkeypatch.setenv(
        "PROBES",
        probes_json(
            {"name": "authed", "url": f"{base}/status/200", "auth_secret": "canary-rollback/missing"},
            {"name": "open", "url": f"{base}/status/401", "expect_status": [401]},
        ),
    )
    response = invoke()
    assert [(p["name"], p["ok"], p["reason"]) for p in response["probes"]] == [
        ("authed", False, "error"),
        ("open", True, None),
    ]
    assert http_server.seen
    assert all(seen["path"] == "/status/401" for seen in http_server.seen)
    blobs = emf_lines(capsys.readouterr().out)
    aggregate = next(b for b in blobs if "ProbeFailures" in b)
    assert (aggregate["ProbeFailures"], aggregate["ProbeErrors"]) == ([0.0], [1.0])


def test_unreachable_endpoint_is_a_result_not_an_exception(
    refused_port: int, handlers_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBES", probes_json({"name": "down", "url": f"http://127.0.0.1:{refused_port}/"}))
    response = invoke()
    assert response["probes"] == [
        {"name": "down", "ok": False, "status": None, "latency_ms": None, "reason": "connection"}
    ]


def test_metrics_are_flushed_even_when_the_state_store_fails(
    world: Any, handlers_reset: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**world.stack.function_env, "STATE_TABLE": "no-such-table", "METRICS_SINK": "emf"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    probe_handler.runtime.set(None)
    with pytest.raises(StateStoreError, match="state table 'no-such-table' does not exist"):
        invoke()
    names = {m[0] for m in emitted(capsys.readouterr().out)}
    assert {"ProbeSuccess", "ProbeFailures"} <= names


def test_known_good_view_in_the_response(world: Any) -> None:
    reports = [world.probe_run() for _ in range(3)]
    views = [r["known_good"] for r in reports]
    assert [v["streak"] for v in views] == [1, 2, 3]
    assert [v["promoted"] for v in views] == [False, False, True]
    assert views[2]["arn"] == world.revisions[31]
    assert views[2]["current"] == world.revisions[31]
    assert views[2]["steady"] is True
    assert views[2]["needed"] == 3
