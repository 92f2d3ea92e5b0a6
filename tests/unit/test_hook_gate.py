"""The blue/green gate's rules (README, "Gate blue/green deployments"), one case per rule, no AWS."""

from __future__ import annotations

from typing import Any

import pytest

from canary_rollback.core.arns import service_key
from canary_rollback.core.models import GuardedService, ProbeResult
from canary_rollback.core.probe_spec import ProbeSpec
from canary_rollback.gate.stages import (
    HookEvent,
    HookEventError,
    HookSettings,
    decide_hook,
    parse_hook_event,
    plan_hook,
    previous_passes,
    stage_probes,
)

PREFIX = "arn:aws:ecs:us-east-1:123456789012"
SERVICE_ARN = f"{PREFIX}:service/hokusai-development/hokusai-api"
GREEN = f"{PREFIX}:service-revision/hokusai-development/hokusai-api/9313423515462893900"
BLUE = f"{PREFIX}:service-revision/hokusai-development/hokusai-api/1920498462936580504"
SETTINGS = HookSettings(GuardedService("hokusai-development", "hokusai-api"), passes_required=3, interval_seconds=10)

PROXY = ProbeSpec(
    "mlflow-proxy",
    "https://registry.example/api/mlflow/version",
    test_url="https://test.example:8443/api/mlflow/version",
)
AUTH = ProbeSpec("auth-service", "https://auth.example/api/v1/keys/validate")
SPECS = (PROXY, AUTH)

PASS_PROXY = ProbeResult("mlflow-proxy", True, 401, 5.0, None)
PASS_AUTH = ProbeResult("auth-service", True, 401, 5.0, None)


def raw_event(stage: str, *, test: dict[str, int] | None = None, prod: dict[str, int] | None = None,
              details: dict[str, Any] | None = None, service_arn: str = SERVICE_ARN) -> dict[str, Any]:  # fmt: skip
    event: dict[str, Any] = {
        "executionId": "e8d5a28f-eb01-4f3c-9454-a30ba6dc54bc",
        "lifecycleStage": stage,
        "resourceArn": f"{PREFIX}:service-deployment/hokusai-development/hokusai-api/EZe5RNVLH6PPzHXINuP28",
        "executionDetails": {
            "serviceArn": service_arn,
            "targetServiceRevisionArn": GREEN,
            "testTrafficWeights": test or {},
            "productionTrafficWeights": prod or {},
        },
    }
    if details is not None:
        event["hookDetails"] = details
    return event


def event(stage: str, **kwargs: Any) -> HookEvent:
    return parse_hook_event(raw_event(stage, **kwargs))


# ---- which stage probes what -----------------------------------------------------------------------


def test_post_test_traffic_shift_probes_only_probes_with_a_test_url_at_that_url() -> None:
    plan = plan_hook(event("POST_TEST_TRAFFIC_SHIFT"), lambda: SPECS, SETTINGS)
    assert plan.answer is None
    assert [(p.name, p.url) for p in plan.probes] == [("mlflow-proxy", PROXY.test_url)]


def test_post_production_traffic_shift_probes_every_probe_at_its_url() -> None:
    plan = plan_hook(event("POST_PRODUCTION_TRAFFIC_SHIFT"), lambda: SPECS, SETTINGS)
    assert plan.answer is None
    assert [(p.name, p.url) for p in plan.probes] == [("mlflow-proxy", PROXY.url), ("auth-service", AUTH.url)]


@pytest.mark.parametrize(
    "stage",
    [
        "RECONCILE_SERVICE",
        "PRE_SCALE_UP",
        "POST_SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "PRE_PRODUCTION_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "SOME_FUTURE_STAGE",
    ],
)
def test_every_other_stage_succeeds_at_once(stage: str) -> None:
    plan = plan_hook(event(stage), lambda: SPECS, SETTINGS)
    assert plan.answer is not None
    assert plan.answer.status == "SUCCEEDED"
    assert plan.probes == ()
    assert stage_probes(stage, SPECS) == ()


def test_no_test_url_lets_the_test_stage_through_with_a_note_and_a_warning() -> None:
    plan = plan_hook(event("POST_TEST_TRAFFIC_SHIFT"), lambda: (AUTH,), SETTINGS)
    assert plan.answer is not None
    assert plan.answer.status == "SUCCEEDED"
    assert "test_url" in plan.answer.details["note"]
    assert plan.answer.unchecked  # the orchestrator logs it as a warning


# ---- rollbacks are never blocked ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "weights"),
    [
        ("POST_TEST_TRAFFIC_SHIFT", {"test": {GREEN: 0, BLUE: 100}}),
        ("POST_PRODUCTION_TRAFFIC_SHIFT", {"prod": {GREEN: 0, BLUE: 100}}),
        ("TEST_TRAFFIC_SHIFT", {"test": {GREEN: 0, BLUE: 100}}),  # what ECS re-invokes during a rollback
        ("PRODUCTION_TRAFFIC_SHIFT", {"prod": {GREEN: 0, BLUE: 100}}),
    ],
)
def test_traffic_going_back_to_the_old_revision_succeeds_without_probing(
    stage: str, weights: dict[str, dict[str, int]]
) -> None:
    plan = plan_hook(event(stage, **weights), lambda: SPECS, SETTINGS)
    assert plan.answer is not None
    assert plan.answer.status == "SUCCEEDED"
    assert plan.probes == ()
    assert "rollback" in plan.answer.details["note"]


def test_a_rollback_of_another_service_is_not_blocked_either() -> None:
    other = f"{PREFIX}:service/other-cluster/other-api"
    plan = plan_hook(event("TEST_TRAFFIC_SHIFT", test={GREEN: 0}, service_arn=other), lambda: SPECS, SETTINGS)
    assert plan.answer is not None
    assert plan.answer.status == "SUCCEEDED"


def test_before_the_production_shift_a_zero_weight_is_no_rollback() -> None:
    # the documented PRE_PRODUCTION_TRAFFIC_SHIFT payload: green still at 0 because nothing has moved yet
    other = f"{PREFIX}:service/hokusai-development/hokusai-web"
    ours = plan_hook(event("PRE_PRODUCTION_TRAFFIC_SHIFT", prod={GREEN: 0, BLUE: 100}), lambda: SPECS, SETTINGS)
    assert ours.answer is not None
    assert (ours.answer.status, ours.answer.details["note"]) == (
        "SUCCEEDED",
        "PRE_PRODUCTION_TRAFFIC_SHIFT is not a probed stage",
    )
    theirs = plan_hook(
        event("PRE_PRODUCTION_TRAFFIC_SHIFT", prod={GREEN: 0}, service_arn=other), lambda: SPECS, SETTINGS
    )
    assert theirs.answer is not None
    assert theirs.answer.status == "FAILED"


def test_weights_of_the_other_map_do_not_count() -> None:
    # a zero production weight says nothing about the test listener
    plan = plan_hook(event("POST_TEST_TRAFFIC_SHIFT", prod={GREEN: 0}), lambda: SPECS, SETTINGS)
    assert plan.answer is None


# ---- the wrong service is noticed ----------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["PRE_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT"])
def test_an_event_for_another_service_fails_naming_the_guarded_one(stage: str) -> None:
    other = f"{PREFIX}:service/hokusai-development/hokusai-web"
    plan = plan_hook(event(stage, service_arn=other), lambda: SPECS, SETTINGS)
    assert plan.answer is not None
    assert plan.answer.status == "FAILED"
    assert plan.answer.details["guards"] == "hokusai-development/hokusai-api"
    assert plan.answer.details["reason"] == "wrong_service"
    assert "hokusai-development/hokusai-web" in plan.answer.details["note"]


def test_service_arn_forms() -> None:
    assert service_key(SERVICE_ARN) == "hokusai-development/hokusai-api"
    assert service_key(f"{PREFIX}:service/hokusai-api") == "hokusai-api"  # the old ARN format
    old_style = plan_hook(event("PRE_SCALE_UP", service_arn=f"{PREFIX}:service/hokusai-api"), lambda: SPECS, SETTINGS)
    assert old_style.answer is not None
    assert old_style.answer.status == "SUCCEEDED"


# ---- counting passes through hookDetails -------------------------------------------------------------


def test_passes_are_counted_through_hook_details_until_the_stage_passes() -> None:
    stage = "POST_PRODUCTION_TRAFFIC_SHIFT"
    results = (PASS_PROXY, PASS_AUTH)
    first = decide_hook(event(stage), results, SPECS, SETTINGS)
    assert first.as_response() == {
        "hookStatus": "IN_PROGRESS",
        "callBackDelay": 10,
        "hookDetails": {"stage": stage, "weight": None, "passes": 1},
    }
    second = decide_hook(event(stage, details=first.details), results, SPECS, SETTINGS)
    assert (second.status, second.details["passes"], second.callback_delay) == ("IN_PROGRESS", 2, 10)
    third = decide_hook(event(stage, details=second.details), results, SPECS, SETTINGS)
    assert third.status == "SUCCEEDED"
    assert third.details["passes"] == 3
    assert "callBackDelay" not in third.as_response()


def test_one_pass_required_succeeds_on_the_first_round() -> None:
    settings = HookSettings(SETTINGS.guarded, passes_required=1, interval_seconds=5)
    answer = decide_hook(event("POST_TEST_TRAFFIC_SHIFT"), (PASS_PROXY,), (PROXY,), settings)
    assert answer.status == "SUCCEEDED"


def test_a_new_traffic_weight_restarts_the_count() -> None:
    stage = "POST_PRODUCTION_TRAFFIC_SHIFT"
    at_10 = event(stage, prod={GREEN: 10, BLUE: 90}, details={"stage": stage, "weight": 10, "passes": 2})
    assert previous_passes(at_10) == 2
    assert decide_hook(at_10, (PASS_PROXY,), SPECS, SETTINGS).status == "SUCCEEDED"
    at_20 = event(stage, prod={GREEN: 20, BLUE: 80}, details={"stage": stage, "weight": 10, "passes": 2})
    assert previous_passes(at_20) == 0
    answer = decide_hook(at_20, (PASS_PROXY,), SPECS, SETTINGS)
    assert (answer.status, answer.details) == ("IN_PROGRESS", {"stage": stage, "weight": 20, "passes": 1})


@pytest.mark.parametrize(
    "details",
    [
        {"stage": "POST_TEST_TRAFFIC_SHIFT", "weight": None, "passes": 2},  # another stage's count
        {"stage": "POST_PRODUCTION_TRAFFIC_SHIFT", "weight": None, "passes": "2"},
        {"stage": "POST_PRODUCTION_TRAFFIC_SHIFT", "weight": None, "passes": True},
        {"stage": "POST_PRODUCTION_TRAFFIC_SHIFT", "weight": None, "passes": -4},
        {"S3_BUCKET_NAME": "configured-by-the-user"},
    ],
)
def test_counts_that_are_not_this_stages_are_not_trusted(details: dict[str, Any]) -> None:
    assert previous_passes(event("POST_PRODUCTION_TRAFFIC_SHIFT", details=details)) == 0


# ---- failures ------------------------------------------------------------------------------------------


def test_a_failed_probe_fails_the_gate_with_the_first_failure() -> None:
    probes = stage_probes("POST_TEST_TRAFFIC_SHIFT", SPECS)
    results = (ProbeResult("mlflow-proxy", False, 404, 3.0, "status"),)
    answer = decide_hook(
        event("POST_TEST_TRAFFIC_SHIFT", details={"stage": "POST_TEST_TRAFFIC_SHIFT", "weight": None, "passes": 2}),
        results,
        probes,
        SETTINGS,
    )
    assert answer.status == "FAILED"
    assert answer.details == {
        "stage": "POST_TEST_TRAFFIC_SHIFT",
        "weight": None,
        "probe": "mlflow-proxy",
        "url": PROXY.test_url,
        "status": 404,
        "reason": "status",
    }
    assert answer.failure == results[0]
    assert "callBackDelay" not in answer.as_response()


def test_the_first_failure_in_probe_order_is_reported() -> None:
    results = (
        PASS_PROXY,
        ProbeResult("auth-service", False, None, None, "timeout"),
    )
    answer = decide_hook(event("POST_PRODUCTION_TRAFFIC_SHIFT"), results, SPECS, SETTINGS)
    assert (answer.status, answer.details["probe"], answer.details["reason"]) == ("FAILED", "auth-service", "timeout")


def test_a_probe_that_could_not_run_fails_the_gate() -> None:
    results = (ProbeResult("mlflow-proxy", False, None, None, "error", "auth_secret unreadable"), PASS_AUTH)
    answer = decide_hook(event("POST_PRODUCTION_TRAFFIC_SHIFT"), results, SPECS, SETTINGS)
    assert answer.status == "FAILED"
    assert answer.details["reason"] == "error"


# ---- the event ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"lifecycleStage": "POST_TEST_TRAFFIC_SHIFT"},
        {"executionDetails": {"serviceArn": SERVICE_ARN, "targetServiceRevisionArn": GREEN}},
        {"lifecycleStage": "PRE_SCALE_UP", "executionDetails": {"serviceArn": SERVICE_ARN}},
        {
            "lifecycleStage": "PRE_SCALE_UP",
            "executionDetails": {
                "serviceArn": SERVICE_ARN,
                "targetServiceRevisionArn": GREEN,
                "testTrafficWeights": {GREEN: "lots"},
            },
        },
    ],
)
def test_events_that_are_not_hook_events_are_refused(raw: Any) -> None:
    with pytest.raises(HookEventError):
        parse_hook_event(raw)


def test_the_documented_event_parses() -> None:
    parsed = event("POST_TEST_TRAFFIC_SHIFT", test={GREEN: 100, BLUE: 0}, details={"S3_BUCKET_NAME": "b"})
    assert parsed.stage == "POST_TEST_TRAFFIC_SHIFT"
    assert parsed.service_arn == SERVICE_ARN
    assert parsed.target_revision_arn == GREEN
    assert parsed.stage_weight == 100
    assert parsed.hook_details == {"S3_BUCKET_NAME": "b"}
    assert parsed.execution_id == "e8d5a28f-eb01-4f3c-9454-a30ba6dc54bc"
