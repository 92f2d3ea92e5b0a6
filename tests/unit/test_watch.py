"""The deployment watch's pure rules: which events, which lease action, when each round runs."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from canary_rollback.core.arns import is_guarded_service
from canary_rollback.core.models import GuardedService, RollbackRecord, ServiceState
from canary_rollback.probe.tracking import recovery_pending, track_watch_round
from canary_rollback.watch.lease import (
    DeploymentEvent,
    Ignored,
    WatchLease,
    decide_lease,
    looks_like_deployment_event,
    next_round_at,
    parse_deployment_event,
    round_index,
    watch_end,
)
from tests.conftest import load_event
from tests.unit.builders import SERVICE_ARN, T0, rev, rolling, steady

GUARDED = GuardedService("hokusai-development", "hokusai-api")
STALE = timedelta(seconds=35)


def deployment_event(name: str = "SERVICE_DEPLOYMENT_IN_PROGRESS", arn: str = SERVICE_ARN) -> dict[str, Any]:
    event = copy.deepcopy(load_event("ecs-deployment-in-progress"))
    event["detail"]["eventName"] = name
    event["resources"] = [arn]
    return event


# ---- events ---------------------------------------------------------------------------------------------


def test_the_sample_event_has_the_documented_shape() -> None:
    parsed = parse_deployment_event(load_event("ecs-deployment-in-progress"))
    assert parsed == DeploymentEvent(SERVICE_ARN, "SERVICE_DEPLOYMENT_IN_PROGRESS", "ecs-svc/1234567890123456789",
                                     "2026-11-26T19:08:00.000Z")  # fmt: skip
    assert looks_like_deployment_event(load_event("ecs-deployment-in-progress"))
    assert not looks_like_deployment_event(load_event("schedule"))


@pytest.mark.parametrize(
    "name", ["SERVICE_DEPLOYMENT_IN_PROGRESS", "SERVICE_DEPLOYMENT_COMPLETED", "SERVICE_DEPLOYMENT_FAILED"]
)
def test_each_deployment_state_starts_or_extends_a_watch(name: str) -> None:
    parsed = parse_deployment_event(deployment_event(name))
    assert isinstance(parsed, DeploymentEvent)
    assert parsed.event_name == name


def _mutations() -> list[tuple[str, Any]]:
    def without(key: str) -> Any:
        return lambda e: e.pop(key)

    return [
        ("other source", lambda e: e.update(source="aws.ec2")),
        ("other detail-type", lambda e: e.update({"detail-type": "ECS Task State Change"})),
        ("no detail", without("detail")),
        ("detail not an object", lambda e: e.update(detail="x")),
        ("unknown eventName", lambda e: e["detail"].update(eventName="SERVICE_STEADY_STATE")),
        ("no resources", without("resources")),
        ("two resources", lambda e: e.update(resources=[SERVICE_ARN, SERVICE_ARN])),
        ("resource not a string", lambda e: e.update(resources=[7])),
    ]


@pytest.mark.parametrize(("case", "mutate"), _mutations(), ids=[c for c, _ in _mutations()])
def test_malformed_events_are_ignored_with_a_reason(case: str, mutate: Any) -> None:
    event = deployment_event()
    mutate(event)
    parsed = parse_deployment_event(event)
    assert isinstance(parsed, Ignored), case
    assert parsed.reason
    json.dumps(parsed.reason)


def test_not_an_object_is_ignored() -> None:
    assert isinstance(parse_deployment_event(["x"]), Ignored)
    assert not looks_like_deployment_event("x")


@pytest.mark.parametrize(
    ("arn", "matches"),
    [
        (SERVICE_ARN, True),
        ("arn:aws:ecs:us-east-1:123456789012:service/hokusai-api", True),  # old short ARN format
        ("arn:aws:ecs:us-east-1:123456789012:service/hokusai-development/hokusai-web", False),
        ("arn:aws:ecs:us-east-1:123456789012:service/other-cluster/hokusai-api", False),
        ("arn:aws:ecs:us-east-1:123456789012:task/hokusai-development/abc", False),
        ("arn:aws:sqs:us-east-1:123456789012:service/hokusai-development/hokusai-api", False),
        ("hokusai-api", False),
    ],
)
def test_only_the_guarded_service_matches(arn: str, matches: bool) -> None:
    assert is_guarded_service(arn, GUARDED) is matches


# ---- the lease ----------------------------------------------------------------------------------------


def lease(**overrides: Any) -> WatchLease:
    values: dict[str, Any] = {
        "holder": "first",
        "holder_until": T0 + timedelta(seconds=410),
        "watch_until": T0 + timedelta(seconds=300),
        "heartbeat_at": T0,
        "last_event": "SERVICE_DEPLOYMENT_IN_PROGRESS d1",
        "version": 4,
    }
    values.update(overrides)
    return WatchLease(**values)


def decide(current: WatchLease | None, seconds_after_t0: float, holder_until_s: float = 410) -> Any:
    now = T0 + timedelta(seconds=seconds_after_t0)
    return decide_lease(
        current,
        now=now,
        holder="second",
        holder_until=now + timedelta(seconds=holder_until_s),
        watch_seconds=300,
        event_label="SERVICE_DEPLOYMENT_COMPLETED d1",
        stale_after=STALE,
    )


def test_no_lease_starts_a_watch() -> None:
    decision = decide(None, 0)
    assert decision.action == "start"
    assert decision.lease.holder == "second"
    assert decision.lease.watch_until == T0 + timedelta(seconds=300)
    assert decision.lease.version == 0  # written only if the item is still absent


def test_an_event_the_running_loop_can_cover_extends_it() -> None:
    current = lease(heartbeat_at=T0 + timedelta(seconds=60))
    decision = decide(current, 60)
    assert decision.action == "extend"
    assert decision.lease.holder == "first"  # the running loop goes on; no second loop
    assert decision.lease.watch_until == T0 + timedelta(seconds=360)
    assert decision.lease.version == 4


def test_an_event_beyond_the_holders_deadline_hands_the_watch_over() -> None:
    current = lease(heartbeat_at=T0 + timedelta(seconds=200))
    decision = decide(current, 200)  # the watch must run until 500; the holder stops at 410
    assert decision.action == "handover"
    assert decision.lease.holder == "second"
    assert decision.lease.version == 4


@pytest.mark.parametrize(
    ("case", "current", "at"),
    [
        ("watch over", lease(), 300),
        ("holder past its deadline", lease(holder_until=T0 + timedelta(seconds=50)), 50),
        ("holder silent (died)", lease(heartbeat_at=T0), 36),
    ],
)
def test_a_lease_nobody_runs_is_taken_over_by_a_new_watch(case: str, current: WatchLease, at: float) -> None:
    decision = decide(current, at)
    assert decision.action == "start", case
    assert decision.lease.holder == "second"
    assert decision.lease.version == 4  # conditional on the dead lease's version: one winner


# ---- the round schedule --------------------------------------------------------------------------------


def schedule(
    start: float, interval: float, end: float, deadline: float, budget: float, durations: list[float]
) -> list[float]:
    """Drive next_round_at as the loop does, each round taking durations[i] seconds."""
    now = start + 0.004  # the lease write took a few milliseconds: the first round still runs in slot 0
    slots: list[float] = []
    next_index = 0
    for duration in durations:
        slot = next_round_at(
            start, interval, now, next_index=next_index, watch_end=end, deadline=deadline, round_budget=budget
        )
        if slot is None:
            break
        slots.append(slot)
        next_index = round_index(start, interval, slot) + 1
        now = max(now, slot) + duration
    return slots


def test_rounds_sit_on_the_grid_and_do_not_drift() -> None:
    slots = schedule(100.0, 10, 100 + 300, 100 + 410, 10, [0.7] * 100)
    assert len(slots) == 30
    assert slots == [100.0 + 10 * k for k in range(30)]


def test_an_overrunning_round_skips_slots_instead_of_bursting() -> None:
    slots = schedule(0.0, 10, 60, 1000, 10, [0.5, 23.0, 0.5, 0.5, 0.5, 0.5])
    assert slots == [0, 10, 30, 40, 50]  # slot 20 was missed while round 10 ran; 30 runs late, once


def test_no_round_starts_that_could_not_finish_before_the_deadline() -> None:
    slots = schedule(0.0, 10, 300, 52, 8, [0.1] * 100)
    assert slots == [0, 10, 20, 30, 40]  # 50 + 8 > 52


def test_round_timestamps_follow_the_slot() -> None:
    assert round_index(5.0, 3, 5.0) == 0
    assert round_index(5.0, 3, 14.0) == 3
    assert watch_end(1000.0, T0, T0 + timedelta(seconds=300)) == 1300.0
    with pytest.raises(ValueError, match="positive"):
        next_round_at(0, 0, 0, next_index=0, watch_end=1, deadline=1, round_budget=0)


# ---- rounds never promote, but do record recovery ------------------------------------------------------


def test_a_watch_round_never_extends_the_streak() -> None:
    state = ServiceState(candidate=None, known_good=None)
    outcome = track_watch_round(state, steady(34), True, T0)
    assert outcome.state.candidate is None
    assert outcome.promoted is None
    assert outcome.state.last_run_at is None  # "last run" stays the scheduled run's


def test_a_watch_round_records_recovery_after_a_rollback() -> None:
    rollback = RollbackRecord("r1", T0, "FastRollbackAlarm", rev(34), rev(31), "done")
    state = ServiceState(last_rollback=rollback)
    assert recovery_pending(rollback)
    assert track_watch_round(state, rolling(31, 34), True, T0).recovery is None  # not steady yet
    outcome = track_watch_round(state, steady(31), True, T0 + timedelta(seconds=70))
    assert outcome.recovery is not None
    assert outcome.recovery.outcome == "recovered"
    assert outcome.recovery.seconds == 70
    assert not recovery_pending(outcome.state.last_rollback)
    assert not recovery_pending(None)


def test_an_extension_the_holder_could_reach_only_without_its_last_round_budget_is_handed_over() -> None:
    current = lease(heartbeat_at=T0 + timedelta(seconds=105))
    now = T0 + timedelta(seconds=105)  # the new end, 405, is before the holder's 410, but 410 - 8 s budget < 405
    decision = decide_lease(
        current,
        now=now,
        holder="second",
        holder_until=now + timedelta(seconds=410),
        watch_seconds=300,
        event_label="SERVICE_DEPLOYMENT_COMPLETED d1",
        stale_after=STALE,
        round_budget=timedelta(seconds=8),
    )
    assert decision.action == "handover"
    assert decide(current, 105).action == "extend"  # without a budget it would have been an extension
