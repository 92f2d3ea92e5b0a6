"""The decision table's rows for a level-triggered rollback (docs/design.md, "Decision table"): reverted, finishing
only the lock's own deployment, a tick's alarm never stale, gated deployments (in progress, or stopped), scaling
is not deploying, superseded, not restorable. Pure: no AWS."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from canary_rollback.core.models import (
    AlarmNow,
    AlarmSignal,
    Decision,
    Deployment,
    FailureSeen,
    KnownGood,
    PauseFlag,
    ServiceObservation,
    ServiceState,
)
from canary_rollback.core.rollback_record import RollbackRecord
from canary_rollback.rollback.decision import RollbackSettings, decide_rollback
from tests.unit.builders import SERVICE_ARN, T0, rev, rolling, steady

NOW = T0 + timedelta(hours=1)
SETTINGS = RollbackSettings(cooldown_seconds=900, dry_run=False, max_alarm_age_seconds=600, lock_lease_seconds=150)
FIRING = AlarmNow(known=True, state="ALARM")
KG31 = KnownGood(rev(31), T0, "3 passes")
PAUSE = PauseFlag("arn:aws:sts::123456789012:assumed-role/oncall/alice (alice)", T0, "by hand")


def stamp(age_s: int) -> str:
    return (NOW - timedelta(seconds=age_s)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def alarm(age_s: int = 60, delivery: str = "eventbridge", name: str = "RollbackAlarm") -> AlarmSignal:
    return AlarmSignal(name, "ALARM", "OK", "Threshold Crossed", stamp(age_s), delivery)  # type: ignore[arg-type]


THIS = alarm()
TICK = alarm(age_s=3600, delivery="tick")


def started(service: ServiceObservation, seconds_ago: int) -> ServiceObservation:
    at = NOW - timedelta(seconds=seconds_ago)
    deployments = tuple(replace(d, created_at=at) if d.status == "PRIMARY" else d for d in service.deployments)
    return replace(service, deployments=deployments)


def lock(
    age_s: int,
    status: str = "done",
    frm: int = 34,
    to: int = 31,
    owner: AlarmSignal | None = None,
    **changes: object,
) -> RollbackRecord:
    at = NOW - timedelta(seconds=age_s)
    record = RollbackRecord(
        "r1",
        at,
        "RollbackAlarm",
        rev(frm),
        rev(to),
        status,  # type: ignore[arg-type]
        state_change=(owner or alarm(age_s=30)).state_change,
        lease_until=at + timedelta(seconds=150),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def kg(**changes: object) -> ServiceState:
    return replace(ServiceState(known_good=KG31), **changes)  # type: ignore[arg-type]


def gated(service: ServiceObservation, *alarms: str) -> ServiceObservation:
    return replace(service, deployment_strategy="BLUE_GREEN", deployment_alarms=alarms)


def scaling(revision: int) -> ServiceObservation:
    """One COMPLETED deployment, a task short (replaced, or scaling in): running < desired, not deploying."""
    arn = rev(revision)
    return ServiceObservation(SERVICE_ARN, arn, 2, 1, (Deployment("PRIMARY", arn, "COMPLETED", 1, 2, pending_count=1),))


def failed_rollout(revision: int, deployment_id: str) -> ServiceObservation:
    arn = rev(revision)
    return ServiceObservation(
        SERVICE_ARN,
        arn,
        2,
        0,
        (Deployment("PRIMARY", arn, "FAILED", 0, 2, deployment_id=deployment_id, rollout_state_reason="tasks failed"),),
    )


# (case, alarm, service, state, settings, action, a phrase of the reason)
Case = tuple[str, AlarmSignal, ServiceObservation, ServiceState, RollbackSettings, str, str]
CASES: list[Case] = [
    (
        "row 2: reverted: the service is back on the revision the rollback moved it from",
        THIS,
        steady(34),
        kg(last_rollback=lock(120)),
        SETTINGS,
        "reverted",
        "the next tick decides again",
    ),
    (
        "row 2: reverted: the rollback's deployment rolled out FAILED",
        THIS,
        failed_rollout(31, "ecs-svc/7"),
        kg(last_rollback=lock(120, deployment_id="ecs-svc/7")),
        SETTINGS,
        "reverted",
        "deployment ecs-svc/7 FAILED (tasks failed)",
    ),
    (
        "row 2: reverted comes before paused (a fact to record, not an action)",
        THIS,
        steady(34),
        kg(paused=PAUSE, last_rollback=lock(120)),
        SETTINGS,
        "reverted",
        "ECS reverted rollback r1",
    ),
    (
        "row 2: not once the probes gave their verdict (a person redeployed the broken revision)",
        THIS,
        steady(34),
        kg(last_rollback=lock(300, outcome="recovered")),
        SETTINGS,
        "cooldown",
        "300 s ago",
    ),
    (
        "row 4: finish: the service's deployment started within the abandoned lock's lease",
        THIS,
        started(steady(31), 190),
        kg(last_rollback=lock(200, "pending")),
        SETTINGS,
        "rolled_back",
        "had reached ECS",
    ),
    (
        "row 4: a person's deployment long after the abandoned lock is not finished as ours: paused",
        THIS,
        started(steady(31), 100),
        kg(paused=PAUSE, last_rollback=lock(900, "pending")),
        SETTINGS,
        "paused",
        "by hand",
    ),
    (
        "row 4: a person's deployment long after the abandoned lock: already known-good, no cooldown",
        THIS,
        started(steady(31), 100),
        kg(last_rollback=lock(900, "pending")),
        SETTINGS,
        "already_known_good",
        "not a deployment's",
    ),
    ("row 5: a tick's alarm is firing now: never stale", TICK, steady(34), kg(), SETTINGS, "rolled_back", "fired"),
    (
        "row 10: a gated deployment ECS rolls back by itself on this alarm: told, decided again when it ends",
        THIS,
        started(gated(rolling(34, 31), "RollbackAlarm"), 120),
        kg(),
        SETTINGS,
        "in_progress",
        "ECS is running a BLUE_GREEN deployment; decided again when it ends",
    ),
    (
        "row 10: a gated deployment ECS would not roll back is stopped",
        THIS,
        started(gated(rolling(34, 31)), 120),
        kg(),
        SETTINGS,
        "rolled_back",
        "StopServiceDeployment ROLLBACK",
    ),
    (
        "row 10: in dry run, says it would stop it",
        THIS,
        started(gated(rolling(34, 31)), 120),
        kg(),
        replace(SETTINGS, dry_run=True),
        "dry_run",
        "would stop it",
    ),
    (
        "row 10: an alarm from before the gated deployment started is not evidence against it",
        alarm(age_s=300),
        started(gated(rolling(34, 31)), 120),
        kg(),
        SETTINGS,
        "in_progress",
        "decided again when it ends",
    ),
    (
        "row 10: scaling (running < desired on one COMPLETED deployment) is not deploying",
        THIS,
        gated(scaling(34)),
        kg(),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        "row 12: our rollback recovered the service; the alarm has not cleared yet",
        alarm(age_s=300, delivery="tick"),
        started(steady(31), 240),
        kg(last_rollback=lock(250, outcome="recovered", recovered_at=NOW - timedelta(seconds=60))),
        SETTINGS,
        "in_progress",
        "the alarm has not cleared yet",
    ),
    (
        "row 12: not once a probe failed on the known-good after it recovered",
        alarm(age_s=300, delivery="tick"),
        started(steady(31), 240),
        kg(
            last_rollback=lock(250, outcome="recovered", recovered_at=NOW - timedelta(seconds=60)),
            last_failure=FailureSeen(rev(31), NOW - timedelta(seconds=30)),
        ),
        SETTINGS,
        "already_known_good",
        "not a deployment's",
    ),
    (
        "row 12: an alarm state change after the recovery is a new fault on the known-good",
        alarm(age_s=30, delivery="tick"),
        started(steady(31), 240),
        kg(last_rollback=lock(250, outcome="recovered", recovered_at=NOW - timedelta(seconds=60))),
        SETTINGS,
        "already_known_good",
        "not a deployment's",
    ),
    (
        "row 13: superseded: the alarm changed state before the current deployment started",
        alarm(age_s=90),
        started(steady(35), 60),
        kg(),
        SETTINGS,
        "superseded",
        "not evidence against it",
    ),
    (
        "row 13: superseded also by a tick, while the alarm stays in ALARM",
        alarm(age_s=90, delivery="tick"),
        started(steady(35), 60),
        kg(),
        SETTINGS,
        "superseded",
        "decided again while the alarm stays in ALARM",
    ),
    (
        "row 13: not when a probe run of the current revision failed after its deployment started",
        alarm(age_s=90, delivery="tick"),
        started(steady(35), 60),
        kg(last_failure=FailureSeen(rev(35), NOW - timedelta(seconds=10))),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        "row 13: a failure seen before the deployment started is no evidence against it",
        alarm(age_s=90),
        started(steady(35), 60),
        kg(last_failure=FailureSeen(rev(35), NOW - timedelta(seconds=80))),
        SETTINGS,
        "superseded",
        "not evidence",
    ),
    (
        "row 14: scaling on the known-good is not deploying it",
        THIS,
        scaling(31),
        kg(),
        SETTINGS,
        "already_known_good",
        "not a deployment's",
    ),
    (
        "row 17: not restorable: ECS reverted the last try at the known-good",
        THIS,
        steady(34),
        kg(last_rollback=lock(120, "reverted", attempt=2, reverted_how="back on :34")),
        SETTINGS,
        "not_restorable",
        "until an operator marks another known-good",
    ),
    (
        "row 17: an operator marked the known-good again after that: rolled back",
        THIS,
        steady(34),
        replace(
            kg(last_rollback=lock(120, "reverted", attempt=2, reverted_how="back on :34")),
            known_good=replace(KG31, since=NOW - timedelta(seconds=60)),
        ),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        "row 19: a reverted rollback holds no cooldown: one more try",
        THIS,
        steady(34),
        kg(last_rollback=lock(120, "reverted", reverted_how="back on :34")),
        SETTINGS,
        "rolled_back",
        "try 2 of 2",
    ),
]


@pytest.mark.parametrize(
    ("alarm_signal", "service", "state", "settings", "expected", "phrase"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_level_triggered_rows(
    alarm_signal: AlarmSignal,
    service: ServiceObservation,
    state: ServiceState,
    settings: RollbackSettings,
    expected: str,
    phrase: str,
) -> None:
    decision = decide_rollback(alarm_signal, service, state, NOW, settings, alarm_now=FIRING)
    assert decision.action == expected
    assert phrase in decision.reason


def decide(alarm_signal: AlarmSignal, service: ServiceObservation, state: ServiceState) -> Decision:
    return decide_rollback(alarm_signal, service, state, NOW, SETTINGS, alarm_now=FIRING)


def test_row_2_settles_the_record_reverted_and_notifies() -> None:
    decision = decide(THIS, steady(34), kg(last_rollback=lock(120)))
    assert decision.notify
    assert decision.settles is not None
    assert (decision.settles.status, decision.settles.reverted_at) == ("reverted", NOW)
    assert "back on hokusai-api-development:34" in (decision.settles.reverted_how or "")


def test_row_4_marks_the_abandoned_lock_failed_before_the_decision_goes_on() -> None:
    decision = decide(THIS, started(steady(31), 100), kg(last_rollback=lock(900, "pending")))
    assert decision.settles is not None
    assert (decision.settles.rollback_id, decision.settles.status) == ("r1", "failed")


def test_row_4_without_a_deployment_start_nothing_is_claimed() -> None:
    assert decide(THIS, steady(31), kg(last_rollback=lock(200, "pending"))).action == "already_known_good"


def test_row_10_stops_back_to_the_revision_ecs_kept_running() -> None:
    decision = decide(THIS, started(gated(rolling(34, 31)), 120), replace(kg(), known_good=KnownGood(rev(30), T0, "")))
    assert (decision.via, decision.target, decision.claim) == ("stop_deployment", rev(31), "free")
    assert decision.notify


def test_row_10_a_gated_deployment_is_never_stopped_under_a_live_lock() -> None:
    state = kg(last_rollback=lock(20, "pending"))
    assert decide(THIS, started(gated(rolling(34, 31)), 120), state).action == "in_progress"


def test_row_10_a_deployment_being_rolled_back_after_a_stop_is_not_stopped_again() -> None:
    stopped = kg(last_rollback=lock(30, frm=34, to=31, via="stop_deployment"))  # ECS is shifting back after our stop
    decision = decide(THIS, started(gated(rolling(34, 31)), 120), stopped)
    assert (decision.action, decision.via) == ("in_progress", "update_service")


def test_a_tick_never_resumes_a_pending_lock_and_a_delivery_never_resumes_a_ticks() -> None:
    # A tick's attempt is not deduplicated: nobody may assume it is over before its lease is.
    delivery_lock = lock(20, "pending", owner=THIS)
    as_tick = replace(THIS, delivery="tick")
    assert decide(as_tick, steady(34), kg(last_rollback=delivery_lock)).action == "in_progress"
    tick_lock = replace(delivery_lock, holder="tick")
    assert decide(THIS, steady(34), kg(last_rollback=tick_lock)).action == "in_progress"
    assert decide(THIS, steady(34), kg(last_rollback=delivery_lock)).claim == "resume"


def test_a_tick_never_replays_a_done_rollback_it_re_decides() -> None:
    done = lock(20, owner=THIS, outcome="not_recovered")
    assert decide(replace(THIS, delivery="tick"), steady(31), kg(last_rollback=done)).action == "already_known_good"
    assert decide(THIS, steady(31), kg(last_rollback=done)).claim == "replay"
