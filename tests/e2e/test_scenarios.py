"""The other `make demo SCENARIO=...` scenarios, in-process: the `run` the CLI calls (its own moto server, the
loopback services, the real handlers), asserting the structured result. Times are simulated, never measured."""

from __future__ import annotations

import pytest

from demo.scenarios import ScenarioResult, run
from demo.scenarios.mutable_tag import BROKEN_BUILD, GOOD_BUILD, MUTABLE_TAG

# moto's backends are per process: `aws` empties them before and after each scenario (which starts its own moto
# server on them, as `make demo` does), `handlers_reset` gives each a cold start.
pytestmark = pytest.mark.usefixtures("aws", "handlers_reset")


def subjects(result: ScenarioResult) -> list[str]:
    return [notification.subject for notification in result.notifications]


def test_no_known_good_notifies_and_guesses_no_revision() -> None:
    result = run("no-known-good")

    assert result.ok, result.verdict
    assert result.decisions[0].action == "no_known_good"
    assert result.decisions[0].target == "none"
    assert result.service_now_on == ":34"
    assert result.verdict == "safe decision: no_known_good"
    assert result.function_warnings == ()  # nothing a user of `make demo` would see as a log line


def test_dry_run_says_what_it_would_do_and_leaves_34() -> None:
    result = run("dry-run")

    assert result.ok, result.verdict
    assert result.decisions[0].action == "dry_run"
    assert (result.decisions[0].current, result.decisions[0].target) == (":34", ":31")
    assert result.service_now_on == ":34"
    assert any(s.endswith("would roll back to hokusai-api-development:31 (dry run)") for s in subjects(result))
    assert result.verdict == "safe decision: dry_run"
    assert result.function_warnings == ()


def test_not_a_deployment_is_no_rollback_of_the_known_good() -> None:
    result = run("not-a-deployment")

    assert result.ok, result.verdict
    assert "ALB rule change breaks the MLflow route" in result.events()
    assert result.decisions[0].action == "already_known_good"
    assert result.service_now_on == ":31"
    assert result.fault_at is not None
    assert all(r.at < result.fault_at for r in result.watch_rounds)  # no deployment, no watch: the alarm decides
    assert result.verdict == "safe decision: already_known_good"
    assert result.function_warnings == ()


def test_mutable_tag_restores_the_digest_seen_healthy_not_the_tag() -> None:
    result = run("mutable-tag")

    assert result.ok, result.verdict
    assert ":31" in result.promoted
    assert f"CI pushes the routing change to {MUTABLE_TAG}" in result.events()
    decision = result.decisions[0]
    assert (decision.action, decision.current, decision.target) == ("rolled_back", ":34", "hokusai-api-development:35")
    assert f"images pinned to the digests seen healthy: api {MUTABLE_TAG} -> {GOOD_BUILD}" in decision.reason
    assert result.service_now_on == "hokusai-api-development:35"
    assert result.pinning is not None
    assert result.pinning.restored_image == f"hokusai/api@{GOOD_BUILD}"
    assert result.pinning.tasks_run == (GOOD_BUILD,)
    assert any(s.endswith("recovered on hokusai-api-development:35") for s in subjects(result))
    # an UpdateService to :31 itself would now pull the image that broke :34
    assert result.pinning.tag_resolves_to == BROKEN_BUILD
    assert result.pinning.tag_breaks_the_route
    assert result.verdict.startswith("rolled back :34 -> a copy of :31 pinned to sha256:")
    assert result.function_warnings == ()


def test_blue_green_gate_keeps_34_out_of_production() -> None:
    result = run("blue-green")

    assert result.ok, result.verdict
    gate = result.gate
    assert gate is not None
    # the test listener reached :34 and got the broken route's 404; the hook failed there
    assert gate.test_listener[0] == (":34", False)
    stages = [answer.stage for answer in gate.hook_answers]
    failed = stages.index("POST_TEST_TRAFFIC_SHIFT")
    assert gate.hook_answers[failed].status == "FAILED"
    assert gate.hook_answers[failed].evidence.startswith("(mlflow-proxy 404 at http://")
    # ECS rolled back: TEST_TRAFFIC_SHIFT again with green at 0, which the gate never blocks
    assert gate.hook_answers[failed + 1].stage == "TEST_TRAFFIC_SHIFT"
    assert gate.hook_answers[failed + 1].status == "SUCCEEDED"
    assert gate.hook_answers[failed + 1].evidence.startswith("(traffic is going back")
    assert gate.deployment == "rolled_back"
    # production never left :31, the rollback alarm stayed out of it, the failure was notified
    assert gate.production_saw == (":31",)
    assert result.service_now_on == ":31"
    assert "PRODUCTION_TRAFFIC_SHIFT" not in stages
    assert not any("PRODUCTION_TRAFFIC_SHIFT" in event for event in result.events())
    assert gate.rollback_alarm == "OK"
    assert result.decisions == ()
    assert any(
        s.endswith("deployment gate FAILED at POST_TEST_TRAFFIC_SHIFT: mlflow-proxy 404") for s in subjects(result)
    )
    assert result.verdict == "the gate failed :34 at POST_TEST_TRAFFIC_SHIFT; :34 never in production"
    assert result.function_warnings == ()
