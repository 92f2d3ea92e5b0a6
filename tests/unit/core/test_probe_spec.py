from __future__ import annotations

import json

import pytest

from canary_rollback.core.errors import ConfigError
from canary_rollback.core.probe_spec import ProbeSpec, parse_probes, parse_probes_json

SEED = [
    {
        "name": "mlflow-proxy",
        "url": "https://registry.hokus.ai/api/mlflow/version",
        "method": "GET",
        "expect_status": [401],
        "timeout_ms": 3000,
        "max_latency_ms": 1000,
    },
    {
        "name": "auth-service",
        "url": "https://auth.hokus.ai/api/v1/keys/validate",
        "method": "POST",
        "expect_status": [401],
    },
]


def test_seed_probes_parse_with_spec_defaults() -> None:
    proxy, auth = parse_probes(SEED)
    assert proxy == ProbeSpec(
        name="mlflow-proxy",
        url="https://registry.hokus.ai/api/mlflow/version",
        expect_status=(401,),
        timeout_ms=3000,
        max_latency_ms=1000,
    )
    assert auth.method == "POST"
    assert auth.timeout_ms == 5000
    assert auth.max_latency_ms is None
    assert auth.headers == {}
    assert auth.auth_scheme == "Bearer"


def test_minimal_spec_defaults() -> None:
    (spec,) = parse_probes([{"name": "a", "url": "http://x.example/"}])
    assert (spec.method, spec.expect_status, spec.timeout_ms, spec.body) == ("GET", (200,), 5000, None)


def test_json_body_is_serialised_and_flagged() -> None:
    (spec,) = parse_probes([{"name": "a", "url": "http://x/", "method": "post", "body": {"key": "v"}}])
    assert spec.body == '{"key":"v"}'
    assert spec.body_is_json
    assert spec.method == "POST"
    (text,) = parse_probes([{"name": "b", "url": "http://x/", "body": "raw"}])
    assert text.body == "raw"
    assert not text.body_is_json


@pytest.mark.parametrize(
    ("specs", "needle"),
    [
        (
            [{"name": "p1", "url": "http://x/", "expect_stauts": [200]}],
            "probe 'p1': field 'expect_stauts' is not a known",
        ),
        (
            [{"name": "p1", "url": "http://x/"}, {"name": "p1", "url": "http://y/"}],
            "PROBES[1] probe 'p1': field 'name'",
        ),
        ([{"name": "p1", "url": "http://x/", "expect_status": "401"}], "probe 'p1': field 'expect_status'"),
        ([{"name": "p1", "url": "http://x/", "expect_status": [99]}], "probe 'p1': field 'expect_status'"),
        ([{"name": "p1", "url": "http://x/", "expect_status": [True]}], "probe 'p1': field 'expect_status'"),
        ([{"name": "p1", "url": "ftp://x/"}], "probe 'p1': field 'url' must be an http or https URL"),
        ([{"name": "p1", "url": "https://"}], "probe 'p1': field 'url'"),
        ([{"name": "p1"}], "probe 'p1': field 'url' is required"),
        ([{"name": "bad name!", "url": "http://x/"}], "PROBES[0]: field 'name'"),
        ([{"url": "http://x/"}], "PROBES[0]: field 'name' is required"),
        ([{"name": "p1", "url": "http://x/", "timeout_ms": 0}], "probe 'p1': field 'timeout_ms'"),
        ([{"name": "p1", "url": "http://x/", "timeout_ms": 600000}], "probe 'p1': field 'timeout_ms' must be at most"),
        ([{"name": "p1", "url": "http://x/", "timeout_ms": "5s"}], "probe 'p1': field 'timeout_ms'"),
        ([{"name": "p1", "url": "http://x/", "max_latency_ms": -1}], "probe 'p1': field 'max_latency_ms'"),
        ([{"name": "p1", "url": "http://x/", "method": "BREW"}], "probe 'p1': field 'method'"),
        ([{"name": "p1", "url": "http://x/", "headers": {"X": 1}}], "probe 'p1': field 'headers'"),
        ([{"name": "p1", "url": "http://x/", "body_contains": ""}], "probe 'p1': field 'body_contains'"),
        ([{"name": "p1", "url": "http://x/", "auth_scheme": "Basic"}], "probe 'p1': field 'auth_scheme' is set but"),
        ([{"name": "p1", "url": "http://x/", "auth_secret": "s", "auth_scheme": "Digest"}], "field 'auth_scheme'"),
        ([{"name": "p1", "url": "http://x/", "auth_secret": "ssm:"}], "probe 'p1': field 'auth_secret'"),
        (
            [{"name": "p1", "url": "http://x/", "auth_secret": "s", "headers": {"authorization": "x"}}],
            "probe 'p1': field 'headers' sets Authorization",
        ),
        ([], "the probe list is empty"),
        ({"name": "p1"}, "must be a JSON array"),
        (["p1"], "PROBES[0]: a probe spec must be a JSON object"),
    ],
)
def test_invalid_specs_fail_with_one_message_naming_probe_and_field(specs: object, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_probes(specs)
    assert needle in str(caught.value)


def test_invalid_json_names_the_source_and_position() -> None:
    with pytest.raises(ConfigError, match=r"PROBES_PARAMETER /x: not valid JSON .* line 1 column 2"):
        parse_probes_json("[}", "PROBES_PARAMETER /x")


def test_json_round_trip_of_seed() -> None:
    assert [s.name for s in parse_probes_json(json.dumps(SEED))] == ["mlflow-proxy", "auth-service"]
