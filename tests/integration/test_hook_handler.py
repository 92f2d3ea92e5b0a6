"""DeploymentHookFunction invoked as ECS invokes it: the documented event, `hookDetails` fed back on IN_PROGRESS,
the probes answered by loopback servers standing in for the production and the test listener."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from canary_rollback.aws.clients import AwsClients
from canary_rollback.handlers import hook as hook_handler
from canary_rollback.runtime import build_runtime
from demo.world.lambda_context import FakeLambdaContext
from tests.conftest import emf_lines, load_event
from tests.integration.conftest import LoopbackServer, probes_json

GUARDED = {"CLUSTER_NAME": "hokusai-development", "SERVICE_NAME": "hokusai-api"}
GREEN = "arn:aws:ecs:us-east-1:123456789012:service-revision/hokusai-development/hokusai-api/9313423515462893900"
BLUE = "arn:aws:ecs:us-east-1:123456789012:service-revision/hokusai-development/hokusai-api/1920498462936580504"


@pytest.fixture
def hook_reset() -> Iterator[None]:
    """A cold start for every test: the handler caches its Runtime per container."""
    hook_handler.runtime.set(None)
    yield
    hook_handler.runtime.set(None)


@pytest.fixture
def test_listener() -> Iterator[LoopbackServer]:
    """A second loopback server: the ALB's test listener, routing to the new (green) revision only."""
    import threading

    server = LoopbackServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = hook_handler.handler(event, FakeLambdaContext("DeploymentHookFunction"))
    return response


def ecs_calls_again(event: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """What ECS does after IN_PROGRESS: wait callBackDelay, merge the returned hookDetails into the event."""
    again = copy.deepcopy(event)
    again["hookDetails"] = {**event.get("hookDetails", {}), **answer.get("hookDetails", {})}
    return again


def gated_probes(production: LoopbackServer, test: LoopbackServer, test_status: int = 401) -> str:
    return probes_json(
        {
            "name": "mlflow-proxy",
            "url": f"http://127.0.0.1:{production.port}/status/401",
            "test_url": f"http://127.0.0.1:{test.port}/status/{test_status}",
            "expect_status": [401],
        },
        {
            "name": "auth-service",
            "url": f"http://127.0.0.1:{production.port}/status/401",
            "method": "POST",
            "expect_status": [401],
        },
    )


def configure(monkeypatch: pytest.MonkeyPatch, probes: str, **extra: str) -> None:
    for key, value in {**GUARDED, "PROBES": probes, **extra}.items():
        monkeypatch.setenv(key, value)


def test_the_test_stage_passes_after_three_rounds_fed_back_through_hook_details(
    http_server: LoopbackServer,
    test_listener: LoopbackServer,
    hook_reset: None,
    monkeypatch: pytest.MonkeyPatch,
    json_logs: list[dict[str, Any]],
) -> None:
    # Given probes with a test_url on the test listener, which answers as it should
    configure(monkeypatch, gated_probes(http_server, test_listener))
    event = load_event("hook-post-test-traffic-shift")

    # When ECS invokes the hook, and again after each IN_PROGRESS with the details merged in
    answers = []
    for _ in range(3):
        answer = invoke(event)
        answers.append(answer)
        event = ecs_calls_again(event, answer)

    # Then IN_PROGRESS, IN_PROGRESS, SUCCEEDED, each round through the test listener only
    assert [a["hookStatus"] for a in answers] == ["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"]
    assert [a["hookDetails"]["passes"] for a in answers] == [1, 2, 3]
    assert [a.get("callBackDelay") for a in answers] == [10, 10, None]
    assert len(test_listener.seen) == 3
    assert http_server.seen == []  # production is not what this stage checks
    # one structured log line per answer, correlated by the execution id
    lines = [line for line in json_logs if line["message"] == "hook answer"]
    assert [line["status"] for line in lines] == ["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"]
    assert {line["correlation_id"] for line in lines} == {load_event("hook-post-test-traffic-shift")["executionId"]}


def test_a_404_through_the_test_listener_fails_the_gate(
    http_server: LoopbackServer, test_listener: LoopbackServer, hook_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the new revision answers 404 on the proxy route through the test listener
    configure(monkeypatch, gated_probes(http_server, test_listener, test_status=404))

    # When ECS invokes the hook after the test traffic shift
    answer = invoke(load_event("hook-post-test-traffic-shift"))

    # Then FAILED, naming the probe, the URL and the status: ECS rolls back, production never moves
    assert answer["hookStatus"] == "FAILED"
    assert answer["hookDetails"] == {
        "stage": "POST_TEST_TRAFFIC_SHIFT",
        "weight": None,
        "probe": "mlflow-proxy",
        "url": f"http://127.0.0.1:{test_listener.port}/status/404",
        "status": 404,
        "reason": "status",
    }
    assert "callBackDelay" not in answer


def test_the_production_stage_probes_every_probe_at_its_url(
    http_server: LoopbackServer, test_listener: LoopbackServer, hook_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, gated_probes(http_server, test_listener), HOOK_PASSES_REQUIRED="1")
    answer = invoke(load_event("hook-post-production-traffic-shift"))
    assert answer["hookStatus"] == "SUCCEEDED"
    assert sorted(seen["method"] for seen in http_server.seen) == ["GET", "POST"]
    assert test_listener.seen == []


def test_a_new_canary_step_restarts_the_count(
    http_server: LoopbackServer, test_listener: LoopbackServer, hook_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, gated_probes(http_server, test_listener), HOOK_PASSES_REQUIRED="2")
    event = load_event("hook-post-production-traffic-shift")
    event["executionDetails"]["productionTrafficWeights"] = {GREEN: 5, BLUE: 95}
    first = invoke(event)
    assert (first["hookStatus"], first["hookDetails"]["weight"], first["hookDetails"]["passes"]) == (
        "IN_PROGRESS",
        5,
        1,
    )
    next_step = ecs_calls_again(event, first)
    next_step["executionDetails"]["productionTrafficWeights"] = {GREEN: 50, BLUE: 50}
    second = invoke(next_step)
    assert (second["hookStatus"], second["hookDetails"]["weight"], second["hookDetails"]["passes"]) == (
        "IN_PROGRESS",
        50,
        1,
    )
    assert invoke(ecs_calls_again(next_step, second))["hookStatus"] == "SUCCEEDED"


def test_a_rollback_is_never_blocked_and_probes_nothing(
    http_server: LoopbackServer, test_listener: LoopbackServer, hook_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a broken new revision, and ECS shifting traffic back to the old one
    configure(monkeypatch, gated_probes(http_server, test_listener, test_status=404))
    for stage, key in (("TEST_TRAFFIC_SHIFT", "testTrafficWeights"), ("POST_TEST_TRAFFIC_SHIFT", "testTrafficWeights")):
        event = load_event("hook-post-test-traffic-shift")
        event["lifecycleStage"] = stage
        event["executionDetails"][key] = {GREEN: 0, BLUE: 100}
        assert invoke(event)["hookStatus"] == "SUCCEEDED"
    assert test_listener.seen == []
    assert http_server.seen == []


def test_no_test_url_passes_the_test_stage_with_a_note_and_a_warning(
    http_server: LoopbackServer,
    hook_reset: None,
    monkeypatch: pytest.MonkeyPatch,
    json_logs: list[dict[str, Any]],
) -> None:
    configure(monkeypatch, probes_json({"name": "plain", "url": f"http://127.0.0.1:{http_server.port}/status/200"}))
    answer = invoke(load_event("hook-post-test-traffic-shift"))
    assert answer["hookStatus"] == "SUCCEEDED"
    assert "no probe has a test_url" in answer["hookDetails"]["note"]
    assert [line["level"] for line in json_logs if line["message"] == "hook answer"] == ["WARNING"]
    assert http_server.seen == []


def test_an_event_for_another_service_fails_naming_the_guarded_one(
    http_server: LoopbackServer, test_listener: LoopbackServer, hook_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, gated_probes(http_server, test_listener))
    event = load_event("hook-post-test-traffic-shift")
    event["executionDetails"]["serviceArn"] = "arn:aws:ecs:us-east-1:123456789012:service/hokusai-development/web"
    answer = invoke(event)
    assert answer["hookStatus"] == "FAILED"
    assert answer["hookDetails"]["guards"] == "hokusai-development/hokusai-api"
    assert test_listener.seen == []


def test_an_event_that_is_not_a_hook_event_fails(hook_reset: None, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, probes_json({"name": "p", "url": "http://127.0.0.1:9/"}))
    answer = invoke(load_event("schedule"))
    assert answer["hookStatus"] == "FAILED"
    assert answer["hookDetails"]["reason"] == "malformed_event"


def test_a_probe_that_cannot_run_fails_the_gate(
    aws: Any, test_listener: LoopbackServer, hook_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a probe whose auth secret does not exist
    configure(
        monkeypatch,
        probes_json(
            {
                "name": "mlflow-proxy-authed",
                "url": "http://127.0.0.1:9/",
                "test_url": f"http://127.0.0.1:{test_listener.port}/status/200",
                "auth_secret": "canary-rollback/missing",
            }
        ),
    )
    answer = invoke(load_event("hook-post-test-traffic-shift"))
    assert answer["hookStatus"] == "FAILED"
    assert answer["hookDetails"]["reason"] == "error"
    assert test_listener.seen == []  # it never reached the target


def test_metrics_carry_the_stage_at_high_resolution_and_never_probe_failures(
    http_server: LoopbackServer,
    test_listener: LoopbackServer,
    hook_reset: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(monkeypatch, gated_probes(http_server, test_listener, test_status=404))
    invoke(load_event("hook-post-test-traffic-shift"))
    blobs = emf_lines(capsys.readouterr().out)
    assert blobs
    seen = set()
    for blob in blobs:
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        (dimensions,) = directive["Dimensions"]
        assert sorted(dimensions) == ["Probe", "Stage", "service"]
        assert blob["Stage"] == "POST_TEST_TRAFFIC_SHIFT"
        for metric in directive["Metrics"]:
            assert metric["StorageResolution"] == 1
            seen.add(metric["Name"])
    assert seen == {"ProbeSuccess", "ProbeLatency"}  # no ProbeFailures: the rollback alarm stays out of ECS's way


def test_cloudwatch_sink_stores_hook_metrics_at_one_second(
    aws: Any, http_server: LoopbackServer, test_listener: LoopbackServer, hook_reset: None
) -> None:
    # Given the cloudwatch sink, with every PutMetricData request's parameters observed
    sent: list[dict[str, Any]] = []
    clients = AwsClients()
    clients.cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.PutMetricData", lambda params, **_: sent.append(params)
    )
    env = {**GUARDED, "PROBES": gated_probes(http_server, test_listener), "METRICS_SINK": "cloudwatch"}
    hook_handler.runtime.set(build_runtime(env, clients=clients))

    invoke(load_event("hook-post-test-traffic-shift"))

    data = [datum for request in sent for datum in request["MetricData"]]
    assert {d["MetricName"] for d in data} == {"ProbeSuccess", "ProbeLatency"}
    assert all(d["StorageResolution"] == 1 for d in data)
    listed = boto3.client("cloudwatch").list_metrics(Namespace="CanaryRollback")["Metrics"]
    assert {tuple(sorted(d["Name"] for d in m["Dimensions"])) for m in listed} == {("Probe", "Stage", "service")}


def test_every_answer_is_audited_and_a_failed_gate_is_notified(
    world: Any, test_listener: LoopbackServer, hook_reset: None
) -> None:
    # Given the stack's table and topic, and a new revision broken behind the test listener
    probes = json.loads(world.stack.function_env["PROBES"])
    probes[0]["test_url"] = f"http://127.0.0.1:{test_listener.port}/status/404"
    env = {**world.stack.function_env, "PROBES": json.dumps(probes)}
    hook_handler.runtime.set(build_runtime(env, clock=world.clock))

    # When ECS walks the deployment up to the test stage
    scale_up = load_event("hook-post-test-traffic-shift")
    scale_up["lifecycleStage"] = "POST_SCALE_UP"
    assert invoke(scale_up)["hookStatus"] == "SUCCEEDED"
    answer = invoke(load_event("hook-post-test-traffic-shift"))

    # Then both answers are in the audit trail, and the failure is notified with probe, status and revision
    assert answer["hookStatus"] == "FAILED"
    from canary_rollback.aws.state_store import StateStore
    from canary_rollback.core.models import GuardedService

    store = StateStore(boto3.client("dynamodb"), world.stack.table_name)
    history = [r for r in store.history(GuardedService("hokusai-development", "hokusai-api")) if r["kind"] == "hook"]
    assert [(r["stage"], r["status"]) for r in history] == [
        ("POST_TEST_TRAFFIC_SHIFT", "FAILED"),
        ("POST_SCALE_UP", "SUCCEEDED"),
    ]
    assert history[0]["probes"][0]["status"] == 404
    assert history[0]["target_revision"] == GREEN
    (notification,) = world.stack.notifications()
    assert "deployment gate FAILED at POST_TEST_TRAFFIC_SHIFT: mlflow-proxy 404" in notification["subject"]
    assert "9313423515462893900" in notification["message"]
    assert f"http://127.0.0.1:{test_listener.port}/status/404" in notification["message"]


def test_an_audit_failure_never_changes_the_answer(
    aws: Any,
    http_server: LoopbackServer,
    test_listener: LoopbackServer,
    hook_reset: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a table that does not exist: the answer ECS acts on must not turn into a Lambda error
    configure(
        monkeypatch, gated_probes(http_server, test_listener), STATE_TABLE="no-such-table", HOOK_PASSES_REQUIRED="1"
    )
    assert invoke(load_event("hook-post-test-traffic-shift"))["hookStatus"] == "SUCCEEDED"


def test_a_probe_list_that_cannot_be_loaded_never_blocks_a_rollback_and_fails_a_probed_stage(
    aws: Any, hook_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the probes live in an SSM parameter that is gone (deleted, or throttled past retries)
    for key, value in {**GUARDED, "PROBES": "", "PROBES_PARAMETER": "/canary-rollback/deleted"}.items():
        monkeypatch.setenv(key, value)

    # When ECS shifts traffic back during its own rollback: the stage succeeds without the probe list
    back = load_event("hook-post-test-traffic-shift")
    back["lifecycleStage"] = "PRODUCTION_TRAFFIC_SHIFT"
    back["executionDetails"]["productionTrafficWeights"] = {GREEN: 0, BLUE: 100}
    assert invoke(back)["hookStatus"] == "SUCCEEDED"

    # and a stage that must probe answers FAILED (audited), never a Lambda error ECS would have to interpret
    answer = invoke(load_event("hook-post-test-traffic-shift"))
    assert answer["hookStatus"] == "FAILED"
    assert answer["hookDetails"]["reason"] == "error"
    assert "probes unavailable" in answer["hookDetails"]["note"]


def test_another_services_rollback_stage_is_not_blocked_but_its_probed_stages_fail(
    hook_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, probes_json({"name": "p", "url": "http://127.0.0.1:9/", "test_url": "http://127.0.0.1:9/"}))
    other = "arn:aws:ecs:us-east-1:123456789012:service/hokusai-development/hokusai-web"
    shift = load_event("hook-post-test-traffic-shift")
    shift["lifecycleStage"] = "TEST_TRAFFIC_SHIFT"
    shift["executionDetails"]["serviceArn"] = other
    shift["executionDetails"]["testTrafficWeights"] = {GREEN: 100}
    answer = invoke(shift)
    assert answer["hookStatus"] == "SUCCEEDED"
    assert "this hook guards hokusai-development/hokusai-api" in answer["hookDetails"]["note"]
    probed = load_event("hook-post-test-traffic-shift")
    probed["executionDetails"]["serviceArn"] = other
    assert invoke(probed)["hookStatus"] == "FAILED"
