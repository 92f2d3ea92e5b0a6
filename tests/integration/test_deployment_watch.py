"""The deployment watch through ProbeFunction's handler: moto for AWS, the loopback ALB for the routes."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from typing import Any

import boto3
import pytest

from canary_rollback.aws.state_store import StateStore
from canary_rollback.core.models import GuardedService
from canary_rollback.handlers import probe as probe_handler
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.runtime import Runtime, build_runtime
from demo.world import CLUSTER, SERVICE
from demo.world.lambda_context import FakeLambdaContext
from tests.conftest import emf_lines, load_event
from tests.integration.conftest import alarm_event, break_with_34, make_known_good

GUARDED = GuardedService(CLUSTER, SERVICE)
SERVICE_ARN = f"arn:aws:ecs:us-east-1:123456789012:service/{CLUSTER}/{SERVICE}"
TIMEOUT = 420  # the template's ProbeFunction Timeout


def deployment_event(name: str = "SERVICE_DEPLOYMENT_IN_PROGRESS", arn: str = SERVICE_ARN) -> dict[str, Any]:
    event = copy.deepcopy(load_event("ecs-deployment-in-progress"))
    event["detail"]["eventName"] = name
    event["resources"] = [arn]
    return event


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = probe_handler.handler(event, FakeLambdaContext("ProbeFunction", TIMEOUT))
    return response


class SimulatedTime:
    """Monotonic and wall clocks that move only when the watch sleeps; `at(seconds, action)` runs mid-watch."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.now = 5000.0
        self.slept: list[float] = []
        self._actions: list[tuple[float, Callable[[], None]]] = []

    def at(self, seconds_from_now: float, action: Callable[[], None]) -> None:
        self._actions.append((self.now + seconds_from_now, action))

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        target = self.now + seconds
        while True:
            due = sorted((when, i) for i, (when, _) in enumerate(self._actions) if when <= target)
            if not due:
                break
            when, index = due[0]
            _, action = self._actions.pop(index)
            self._advance(when - self.now)
            action()
        self._advance(target - self.now)

    def _advance(self, seconds: float) -> None:
        self.now += seconds
        self.world.clock.set(self.world.clock() + timedelta(seconds=seconds))


def watcher(world: Any, **env: str) -> tuple[Runtime, SimulatedTime]:
    runtime = build_runtime({**world.stack.function_env, **env}, clock=world.clock)
    sim = SimulatedTime(world)
    runtime.monotonic = sim.monotonic
    runtime.sleep = sim.sleep
    probe_handler.runtime.set(runtime)
    return runtime, sim


def store() -> StateStore:
    return StateStore(boto3.client("dynamodb"), "canary-rollback-StateTable")


# ---- Done when: >= 3 failing high-resolution rounds in 10 s with 3 s intervals (real time) ------------------


def test_a_watch_on_a_broken_route_publishes_failing_high_resolution_rounds(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the real clocks, EMF metrics, a 10 s watch with 3 s intervals and the MLflow route broken
    env = {**world.stack.function_env, "METRICS_SINK": "emf", "WATCH_SECONDS": "10", "WATCH_INTERVAL_SECONDS": "3"}
    probe_handler.runtime.set(build_runtime(env))
    world.alb.routes.mlflow_routed = False
    capsys.readouterr()

    # When ECS announces a deployment of the guarded service
    started = time.monotonic()
    response = invoke(deployment_event())
    elapsed = time.monotonic() - started

    # Then rounds at 0, 3, 6, 9 s each published ProbeFailures >= 1 at StorageResolution 1, 3 s apart
    assert response["action"] == "watched"
    assert response["rounds"] == 4
    assert response["failed_rounds"] == 4
    assert 9 <= elapsed < 12
    failures = [
        blob
        for blob in emf_lines(capsys.readouterr().out)
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        if metric["Name"] == "ProbeFailures"
    ]
    assert len(failures) >= 3
    for blob in failures:
        assert blob["ProbeFailures"] == [1.0]  # the 404 of mlflow-proxy
        (metric,) = [m for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"] if m["Name"] == "ProbeFailures"]
        assert metric["StorageResolution"] == 1
    stamps = [blob["_aws"]["Timestamp"] for blob in failures]
    assert [b - a for a, b in pairwise(stamps)] == [3000] * (len(stamps) - 1)


# ---- Done when: a second event during a watch does not start a second loop ----------------------------


def test_a_second_event_during_a_watch_extends_it_without_a_second_loop(world: Any) -> None:
    # Given a running watch (simulated time: 300 s of rounds every 10 s)
    _, sim = watcher(world)
    answers: list[dict[str, Any]] = []
    sim.at(65, lambda: answers.append(invoke(deployment_event("SERVICE_DEPLOYMENT_COMPLETED"))))
    requests_before = world.alb.routes.requests_seen

    # When the deployment's COMPLETED event arrives 65 s into it
    response = invoke(deployment_event())

    # Then that invocation only extended the watch, at once, and the one loop ran until 65 + 300 s
    assert answers == [{"action": "extended", "reason": answers[0]["reason"]}]
    assert response["action"] == "watched"
    assert response["handed_over"] is False
    assert response["rounds"] == 37  # 0, 10, ..., 360: the watch ends at 365
    assert world.alb.routes.requests_seen - requests_before == 2 * 37  # two probes a round, one loop
    assert all(0 < s <= 10 for s in sim.slept)


def test_an_event_beyond_the_holders_deadline_hands_the_watch_over(world: Any) -> None:
    # Given a running watch whose invocation stops at 410 s
    _, sim = watcher(world)
    inner: list[dict[str, Any]] = []
    sim.at(200, lambda: inner.append(invoke(deployment_event("SERVICE_DEPLOYMENT_COMPLETED"))))

    # When an event 200 s in asks for a watch until 500 s
    outer = invoke(deployment_event())

    # Then the later invocation continues the watch to its end and the first one stops at its next round
    assert inner[0]["action"] == "watched"
    assert inner[0]["rounds"] == 30
    assert outer["action"] == "watched"
    assert outer["handed_over"] is True
    assert outer["rounds"] == 20  # 0..190 s; when the 200 s round was due, the lease was no longer its own
    lease = store().load_watch(GUARDED)
    assert lease is not None
    assert lease.last_event.startswith("SERVICE_DEPLOYMENT_COMPLETED")


def test_two_events_at_the_same_moment_run_one_loop(world: Any) -> None:
    # Given two invocations for the same deployment arriving together (real clocks, a 3 s watch)
    env = {**world.stack.function_env, "WATCH_SECONDS": "3", "WATCH_INTERVAL_SECONDS": "1"}
    probe_handler.runtime.set(build_runtime(env))
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def deliver(name: str) -> None:
        response = invoke(deployment_event(name))
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=deliver, args=(name,)) for name in ("SERVICE_DEPLOYMENT_IN_PROGRESS",) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then the conditional lease let exactly one of them run rounds; the other only extended its watch
    assert sorted(a["action"] for a in answers) == ["extended", "watched"]
    (watched,) = [a for a in answers if a["action"] == "watched"]
    assert 3 <= watched["rounds"] <= 4


# ---- Done when: another service's event is ignored ---------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        deployment_event(arn=f"arn:aws:ecs:us-east-1:123456789012:service/{CLUSTER}/hokusai-web"),
        deployment_event(arn=f"arn:aws:ecs:us-east-1:123456789012:service/other/{SERVICE}"),
        {**deployment_event(), "detail": {"eventName": "SERVICE_TASK_PLACEMENT_FAILURE"}},
        {**deployment_event(), "resources": []},
        {"source": "aws.ecs", "detail-type": "ECS Deployment State Change"},
    ],
    ids=["other-service", "other-cluster", "other-event-name", "no-resources", "no-detail"],
)
def test_other_services_and_malformed_events_are_ignored(world: Any, event: dict[str, Any]) -> None:
    watcher(world)
    requests_before = world.alb.routes.requests_seen

    response = invoke(event)

    assert response["action"] == "ignored"
    assert response["reason"]
    assert world.alb.routes.requests_seen == requests_before  # nothing probed
    assert store().load_watch(GUARDED) is None  # no lease taken


def test_a_scheduled_event_is_still_a_scheduled_run(world: Any) -> None:
    watcher(world)
    response = invoke(load_event("schedule"))
    assert set(response) == {"ok", "probes", "known_good"}


# ---- Done when: rounds do not promote a known-good; they do record recovery --------------------------------


def test_watch_rounds_never_promote_a_known_good(world: Any) -> None:
    # Given :31 steady and one scheduled all-pass run (streak 1 of 3)
    watcher(world)
    world.minute()
    world.probe_run()

    # When a watch runs 30 all-pass rounds on the steady service
    response = invoke(deployment_event("SERVICE_DEPLOYMENT_COMPLETED"))

    # Then nothing was promoted and the streak is still the scheduled run's
    assert response["rounds"] == 30
    assert response["failed_rounds"] == 0
    state = store().load(GUARDED)
    assert state.known_good is None
    assert state.candidate is not None
    assert state.candidate.streak == 1


def test_watch_rounds_record_recovery_after_a_rollback(world: Any) -> None:
    # Given the seed incident rolled back :34 -> :31 by the alarm
    watcher(world)
    make_known_good(world)
    break_with_34(world)
    rolled = rollback_handler.handler(alarm_event(world), FakeLambdaContext("RollbackFunction"))
    assert rolled["action"] == "rolled_back"
    decided_at = world.clock()
    world.stack.notifications()
    _, sim = watcher(world)
    sim.at(30, world.advance_rollout)  # ECS finishes the rollback deployment 30 s in

    # When the rollback deployment's own IN_PROGRESS event starts a watch
    response = invoke(deployment_event())

    # Then :34 served until the rollback finished (rounds 0, 10, 20 s failed), and the first all-pass round on
    # the steady target recorded the recovery 30 s after the decision, not at the next scheduled minute
    assert response["failed_rounds"] == 3
    rollback = store().load(GUARDED).last_rollback
    assert rollback is not None
    assert rollback.outcome == "recovered"
    assert rollback.recovered_at == decided_at + timedelta(seconds=30)
    subjects = [n["subject"] for n in world.stack.notifications()]
    assert subjects == ["[canary-rollback] hokusai-api: recovered on hokusai-api-development:31"]


def test_a_deployment_ecs_gates_itself_is_not_watched_and_not_rolled_back_on_top(world: Any) -> None:
    from canary_rollback.handlers import rollback as rollback_handler
    from tests.integration.conftest import alarm_event

    # Given :31 known-good, and the service handed to another deployment controller (CodeDeploy blue/green,
    # or ECS's BLUE_GREEN / LINEAR / CANARY strategies with lifecycle hooks), a deployment under way
    make_known_good(world)
    service = world.simulator.backend._get_service(CLUSTER, SERVICE)
    service.deployment_controller = {"type": "CODE_DEPLOY"}
    world.broken_route_revisions.add(world.revisions[34])
    world.deploy(34)
    watcher(world)
    requests_before = world.alb.routes.requests_seen

    # When ECS announces it: no watch (its hooks judge it and ECS rolls it back by itself)
    response = invoke(deployment_event())
    assert response["action"] == "ignored"
    assert "rolls it back by itself" in response["reason"]
    assert world.alb.routes.requests_seen == requests_before
    assert store().load_watch(GUARDED) is None

    # and an alarm during that deployment does not race ECS's own rollback
    answer = rollback_handler.handler(alarm_event(world), FakeLambdaContext("RollbackFunction"))
    assert answer["action"] == "in_progress"
    assert "CODE_DEPLOY deployment" in answer["reason"]
    assert [td for _, td in world.simulator.update_calls if td == world.revisions[31]] == []


def test_an_event_after_the_last_heartbeat_is_still_watched(world: Any) -> None:
    # Given a 30 s watch (rounds at 0, 10, 20) and a COMPLETED event arriving after its last heartbeat
    watcher(world, WATCH_SECONDS="30")
    answers: list[dict[str, Any]] = []

    def after_round(watch_round: Any) -> None:
        if watch_round.index == 2:  # the holder's last heartbeat is behind it: its loop would end now
            answers.append(invoke(deployment_event("SERVICE_DEPLOYMENT_COMPLETED")))

    world.logs.on_watch_round = after_round  # told of each round from the watch's own log record

    # When the watch runs
    response = invoke(deployment_event())

    # Then the event extended it, and the holder saw that before letting go: rounds go on to 20 + 30 s
    assert [a["action"] for a in answers] == ["extended"]
    assert response["action"] == "watched"
    assert response["rounds"] == 5  # 0, 10, 20, then 30 and 40 for the extension
    lease = store().load_watch(GUARDED)
    assert lease is not None
    assert lease.holder_until <= world.clock()  # released: the next event starts a watch, never a dead one


def test_a_released_watch_lets_the_next_event_start_a_new_one(world: Any) -> None:
    watcher(world, WATCH_SECONDS="20")
    assert invoke(deployment_event())["action"] == "watched"
    assert invoke(deployment_event("SERVICE_DEPLOYMENT_COMPLETED"))["action"] == "watched"  # not "extended"


def test_a_state_table_hiccup_does_not_end_the_watch(world: Any) -> None:
    # Given a heartbeat that DynamoDB refuses once (throttled past botocore's retries)
    runtime, _ = watcher(world, WATCH_SECONDS="30")
    failures = {"left": 1}

    def throttle_once(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key", {}).get("sk", {}).get("S") == "watch" and failures["left"]:
            failures["left"] -= 1
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    runtime.clients.dynamodb.meta.events.register("before-parameter-build.dynamodb.UpdateItem", throttle_once)

    # When the watch runs: every round still happens
    response = invoke(deployment_event())
    assert failures["left"] == 0
    assert (response["action"], response["rounds"]) == ("watched", 3)
