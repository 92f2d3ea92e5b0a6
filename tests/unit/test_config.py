from __future__ import annotations

import json

import pytest

from canary_rollback.core.config import load_settings, require_rollback_settings
from canary_rollback.core.errors import ConfigError
from canary_rollback.core.models import GuardedService

PROBES = json.dumps([{"name": "p", "url": "http://127.0.0.1:1/"}])


def test_defaults_follow_the_spec() -> None:
    settings = load_settings({"PROBES": PROBES})
    assert settings.metrics_sink_kind == "emf"
    assert settings.namespace == "CanaryRollback"
    assert settings.powertools_service == "canary-rollback"
    assert settings.known_good_after == 3
    assert settings.rollback_cooldown_seconds == 900
    assert settings.dry_run is False
    assert settings.guarded is None
    assert settings.state_table is None
    assert (settings.max_alarm_age_seconds, settings.rollback_lock_lease_seconds) == (600, 150)


def test_full_configuration() -> None:
    settings = load_settings(
        {
            "PROBES": PROBES,
            "METRICS_SINK": "cloudwatch",
            "CLUSTER_NAME": "hokusai-development",
            "SERVICE_NAME": "hokusai-api",
            "STATE_TABLE": "t",
            "KNOWN_GOOD_AFTER": "5",
            "ROLLBACK_COOLDOWN_SECONDS": "60",
            "DRY_RUN": "TRUE",
            "NOTIFY_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:topic",
            "MAX_ALARM_AGE_SECONDS": "300",
            "ROLLBACK_LOCK_LEASE_SECONDS": "200",
            "PIN_IMAGE_DIGESTS": "false",
        }
    )
    assert settings.pin_image_digests is False
    assert load_settings({"PROBES": PROBES}).pin_image_digests is True
    assert settings.guarded == GuardedService("hokusai-development", "hokusai-api")
    assert (settings.max_alarm_age_seconds, settings.rollback_lock_lease_seconds) == (300, 200)
    assert (settings.known_good_after, settings.rollback_cooldown_seconds, settings.dry_run) == (5, 60, True)
    assert require_rollback_settings(settings) == (settings.guarded, "t")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "PROBES: set PROBES"),
        ({"PROBES": "not json"}, "PROBES: not valid JSON"),
        ({"PROBES": PROBES, "METRICS_SINK": "statsd"}, "METRICS_SINK"),
        ({"PROBES": PROBES, "CLUSTER_NAME": "c"}, "CLUSTER_NAME and SERVICE_NAME"),
        ({"PROBES": PROBES, "KNOWN_GOOD_AFTER": "three"}, "KNOWN_GOOD_AFTER: must be an integer"),
        ({"PROBES": PROBES, "KNOWN_GOOD_AFTER": "0"}, "KNOWN_GOOD_AFTER: must be at least 1"),
        ({"PROBES": PROBES, "ROLLBACK_COOLDOWN_SECONDS": "-5"}, "ROLLBACK_COOLDOWN_SECONDS"),
        ({"PROBES": PROBES, "DRY_RUN": "maybe"}, "DRY_RUN"),
        ({"PROBES": PROBES, "PIN_IMAGE_DIGESTS": "sometimes"}, "PIN_IMAGE_DIGESTS"),
        ({"PROBES": PROBES, "NOTIFY_TOPIC_ARN": "my-topic"}, "NOTIFY_TOPIC_ARN"),
        ({"PROBES": PROBES, "MAX_ALARM_AGE_SECONDS": "10"}, "MAX_ALARM_AGE_SECONDS: must be at least 60"),
        ({"PROBES": PROBES, "ROLLBACK_LOCK_LEASE_SECONDS": "x"}, "ROLLBACK_LOCK_LEASE_SECONDS: must be an integer"),
    ],
)
def test_broken_configuration_fails_with_a_named_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings(env)


def test_rollback_function_needs_no_probes_but_a_service_and_table() -> None:
    settings = load_settings({}, need_probes=False)
    with pytest.raises(ConfigError, match="CLUSTER_NAME and SERVICE_NAME: required"):
        require_rollback_settings(settings)
    settings = load_settings({"CLUSTER_NAME": "c", "SERVICE_NAME": "s"}, need_probes=False)
    with pytest.raises(ConfigError, match="STATE_TABLE: required"):
        require_rollback_settings(settings)


def test_rollback_function_ignores_even_broken_probes() -> None:
    settings = load_settings({"PROBES": "[{not json", "CLUSTER_NAME": "c", "SERVICE_NAME": "s"}, need_probes=False)
    assert settings.probes is None
    assert settings.guarded == GuardedService("c", "s")


def test_probes_parameter_alone_is_enough() -> None:
    settings = load_settings({"PROBES_PARAMETER": "/canary/probes"})
    assert settings.probes is None
    assert settings.probes_parameter == "/canary/probes"


def test_watch_defaults_and_overrides() -> None:
    settings = load_settings({"PROBES": PROBES})
    assert (settings.watch_seconds, settings.watch_interval_seconds) == (300, 10)
    settings = load_settings({"PROBES": PROBES, "WATCH_SECONDS": "10", "WATCH_INTERVAL_SECONDS": "3"})
    assert (settings.watch_seconds, settings.watch_interval_seconds) == (10, 3)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"WATCH_SECONDS": "0"}, "WATCH_SECONDS"),
        ({"WATCH_SECONDS": "841"}, "WATCH_SECONDS"),
        ({"WATCH_SECONDS": "five"}, "WATCH_SECONDS"),
        ({"WATCH_INTERVAL_SECONDS": "0"}, "WATCH_INTERVAL_SECONDS"),
        ({"WATCH_SECONDS": "20", "WATCH_INTERVAL_SECONDS": "30"}, "WATCH_INTERVAL_SECONDS"),
    ],
)
def test_bad_watch_settings_fail_naming_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        load_settings({"PROBES": PROBES, **env})


def test_the_rollback_function_never_parses_watch_settings() -> None:
    settings = load_settings({"WATCH_SECONDS": "nonsense"}, need_probes=False)
    assert settings.watch_seconds == 300
