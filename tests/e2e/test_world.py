"""The embedded world's own machinery, where the scenarios cannot show it: the template's rules through moto's
EventBridge pattern engine, the watch rounds read from the functions' logs, the template parsed once."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from canary_rollback.core.observability import logger
from canary_rollback.watch.run import WatchRound
from demo.world.delivery import EventRule
from demo.world.function_logs import FunctionLogs
from demo.world.template import load_template, parse_template
from tests.conftest import load_event

ALARM_ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:canary-rollback-RollbackAlarm"
SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/hokusai-development/hokusai-api"


def rule(function: str, event_source: str, resources: list[str]) -> EventRule:
    """One of the template's EventBridge rules, its resources resolved as the world resolves them."""
    pattern = dict(
        load_template()["Resources"][function]["Properties"]["Events"][event_source]["Properties"]["Pattern"]
    )
    pattern["resources"] = resources
    return EventRule(pattern)


def test_the_alarm_rule_forwards_our_alarms_entering_alarm_and_nothing_else() -> None:
    alarm_rule = rule("RollbackFunction", "AlarmState", [ALARM_ARN])
    event = load_event("alarm-state-change")
    assert alarm_rule.matches(event)

    back_to_ok = copy.deepcopy(event)
    back_to_ok["detail"]["state"]["value"] = "OK"
    assert not alarm_rule.matches(back_to_ok)

    another_alarm = copy.deepcopy(event)
    another_alarm["resources"] = [ALARM_ARN.replace("RollbackAlarm", "SomeoneElsesAlarm")]
    assert not alarm_rule.matches(another_alarm)


def test_the_deployment_rule_forwards_the_guarded_services_deployments_only() -> None:
    deployment_rule = rule("ProbeFunction", "DeploymentEvents", [SERVICE_ARN])
    event: dict[str, Any] = load_event("ecs-deployment-in-progress")
    event["resources"] = [SERVICE_ARN]
    assert deployment_rule.matches(event)

    other_service = copy.deepcopy(event)
    other_service["resources"] = [SERVICE_ARN.replace("hokusai-api", "hokusai-worker")]
    assert not deployment_rule.matches(other_service)

    task_change = copy.deepcopy(event)
    task_change["detail-type"] = "ECS Task State Change"
    assert not deployment_rule.matches(task_change)


@pytest.fixture
def quiet_logger() -> Any:
    """The functions' logger as `make demo` leaves it without --verbose: WARNING and above printed."""
    functions = logging.getLogger(logger.name)
    saved = (functions.level, logger.registered_handler.level)
    functions.setLevel(logging.WARNING)
    yield functions
    functions.setLevel(saved[0])
    logger.registered_handler.setLevel(saved[1])


def test_watch_rounds_are_read_from_the_watch_log_without_changing_what_is_printed(quiet_logger: Any) -> None:
    # Given the demo's quiet logger and a listener on the functions' logs
    rounds: list[WatchRound] = []
    logs = FunctionLogs().listen()
    logs.on_watch_round = rounds.append
    try:
        # When the watch logs a round (as watch/run.py does) and something logs a warning
        at = datetime(2026, 11, 29, 19, 9, 10, tzinfo=UTC)
        extra = {"round": 7, "at": at.isoformat(), "ok": False, "failures": ("mlflow-proxy 404",)}
        logger.info("watch round", extra=extra)
        logger.warning("could not release the watch lease")

        # Then the listener heard the round as a value, and the warning, while only WARNING and above print
        assert rounds == [WatchRound(7, at, False, ("mlflow-proxy 404",))]
        assert logs.warnings == ["WARNING could not release the watch lease"]
        assert logger.registered_handler.level == logging.WARNING
    finally:
        logs.close()

    # and closing it leaves the logger as it found it
    assert quiet_logger.level == logging.WARNING
    assert logs not in quiet_logger.handlers


def test_the_template_is_parsed_once_and_each_caller_gets_its_own_copy() -> None:
    first = load_template()
    first["Resources"].clear()
    parses = parse_template.cache_info().misses

    second = load_template()

    assert second["Resources"]["ProbeFunction"]["Type"] == "AWS::Serverless::Function"
    assert parse_template.cache_info().misses == parses
