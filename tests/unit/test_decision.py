"""The rollback decision table (docs/design.md): every action, and the order of the rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from canary_rollback.core.models import AlarmNow, AlarmSignal, KnownGood, PauseFlag, ServiceObservation, ServiceState
from canary_rollback.core.rollback_record import RollbackRecord
from canary_rollback.rollback.decision import RollbackSettings, decide_rollback, parse_alarm_time
from tests.unit.builders import T0, rev, rolling, steady

NOW = T0 + timedelta(hours=1)
SETTINGS = RollbackSettings(cooldown_seconds=900, dry_run=False, max_alarm_age_seconds=600, lock_lease_seconds=150)
KG31 = KnownGood(rev(31), T0, "3 passes")
FIRING = AlarmNow(known=True, state="ALARM")


def stamp(age_s: int) -> str:
    """The alarm's own timestamp format: `2026-11-26T19:29:00.000+0000`."""
    return (NOW - timedelta(seconds=age_s)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def alarm(state: str = "ALARM", age_s: int = 60, changed_at: str | None = None) -> AlarmSignal:
    return AlarmSignal("RollbackAlarm", state, "OK", "Threshold Crossed", changed_at or stamp(age_s), "eventbridge")


THIS = alarm()
OTHER = alarm(age_s=30)  # a distinct state change of the same alarm


def lock(
    age_s: int,
    status: str = "done",
    frm: int = 34,
    to: int = 31,
    owner: AlarmSignal = OTHER,
    lease_s: int = 150,
    outcome: str | None = None,
) -> RollbackRecord:
    at = NOW - timedelta(seconds=age_s)
    return RollbackRecord(
        "r1",
        at,
        "RollbackAlarm",
        rev(frm),
        rev(to),
        status,  # type: ignore[arg-type]
        outcome=outcome,  # type: ignore[arg-type]
        state_change=owner.state_change,
        lease_until=at + timedelta(seconds=lease_s),
    )


def with_kg(**changes: object) -> ServiceState:
    return replace(ServiceState(known_good=KG31), **changes)  # type: ignore[arg-type]


def started(service: ServiceObservation, seconds_ago: int) -> ServiceObservation:
    """The service with its PRIMARY deployment started `seconds_ago` (ECS's createdAt)."""
    at = NOW - timedelta(seconds=seconds_ago)
    deployments = tuple(replace(d, created_at=at) if d.status == "PRIMARY" else d for d in service.deployments)
    return replace(service, deployments=deployments)


PAUSE = PauseFlag("arn:aws:sts::123456789012:assumed-role/oncall/alice (alice)", T0, "migrating the ALB")
DRY = replace(SETTINGS, dry_run=True)

# (case, alarm, CloudWatch now, service, state, settings, known-good ACTIVE, action, a phrase of the reason)
Case = tuple[
    str, AlarmSignal | None, AlarmNow | None, ServiceObservation | None, ServiceState, RollbackSettings, str, str
]
CASES: list[Case] = [
    ("unrecognised event", None, None, None, ServiceState(), SETTINGS, "ignored", "not a CloudWatch alarm"),
    ("alarm back to OK", alarm("OK"), None, steady(34), with_kg(), SETTINGS, "ignored", "is OK, not ALARM"),
    (
        "insufficient data",
        alarm("INSUFFICIENT_DATA"),
        None,
        steady(34),
        ServiceState(),
        SETTINGS,
        "ignored",
        "not ALARM",
    ),
    (
        "event older than MAX_ALARM_AGE_SECONDS",
        alarm(age_s=601),
        FIRING,
        steady(34),
        with_kg(),
        SETTINGS,
        "stale",
        "601 s ago",
    ),
    (
        "age exactly at the limit still acts",
        alarm(age_s=600),
        FIRING,
        steady(34),
        with_kg(),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    ("CloudWatch says OK now", THIS, AlarmNow(True, "OK"), steady(34), with_kg(), SETTINGS, "stale", "is OK now"),
    (
        "CloudWatch says INSUFFICIENT_DATA now",
        THIS,
        AlarmNow(True, "INSUFFICIENT_DATA"),
        steady(34),
        with_kg(),
        SETTINGS,
        "stale",
        "no longer in ALARM",
    ),
    (
        "alarm unknown to CloudWatch: judged by the event",
        THIS,
        AlarmNow(False),
        steady(34),
        with_kg(),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        "unreadable stamp, CloudWatch says ALARM",
        alarm(changed_at="yesterday"),
        FIRING,
        steady(34),
        with_kg(),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        "unreadable stamp, alarm unknown",
        alarm(changed_at="yesterday"),
        AlarmNow(False),
        steady(34),
        with_kg(),
        SETTINGS,
        "stale",
        "unreadable",
    ),
    (
        "stale even when nothing is known-good",
        alarm(age_s=3600),
        FIRING,
        steady(34),
        ServiceState(),
        SETTINGS,
        "stale",
        "3600 s ago",
    ),
    (
        "paused by an operator",
        THIS,
        FIRING,
        steady(34),
        with_kg(paused=PAUSE),
        SETTINGS,
        "paused",
        "migrating the ALB",
    ),
    (
        "stale retry of our own attempt whose UpdateService went through: finished, not stale",
        alarm(age_s=900),
        AlarmNow(True, "OK"),
        started(rolling(31, 34), 190),  # the lock's own UpdateService (within its lease)
        with_kg(last_rollback=lock(200, "pending", owner=alarm(age_s=900))),
        SETTINGS,
        "rolled_back",
        "its first attempt had reached ECS",
    ),
    (
        "stale retry of our own attempt that never reached ECS: stale",
        alarm(age_s=900),
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(200, "pending", owner=alarm(age_s=900))),
        SETTINGS,
        "stale",
        "900 s ago",
    ),
    (
        "a redelivery while paused replays the rollback that happened",
        THIS,
        FIRING,
        steady(31),
        with_kg(paused=PAUSE, last_rollback=lock(20, owner=THIS)),
        SETTINGS,
        "rolled_back",
        "a redelivery",
    ),
    (
        "an abandoned lock whose UpdateService went through is finished even when the new alarm is stale",
        alarm(age_s=700),
        FIRING,
        started(steady(31), 190),
        with_kg(last_rollback=lock(200, "pending")),
        SETTINGS,
        "rolled_back",
        "had reached ECS",
    ),
    (
        "a gated (BLUE_GREEN) deployment under way is ECS's to roll back",
        THIS,
        FIRING,
        # ECS rolls it back on this alarm by itself: it is one of the service's deployment alarms
        replace(rolling(34, 31), deployment_strategy="BLUE_GREEN", deployment_alarms=("RollbackAlarm",)),
        with_kg(),
        SETTINGS,
        "in_progress",
        "rolls it back by itself",
    ),
    (
        "a gated service, steady on a broken revision after its bake time, is rolled back",
        THIS,
        FIRING,
        replace(steady(34), deployment_strategy="BLUE_GREEN"),
        with_kg(),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        "nothing seen healthy",
        THIS,
        FIRING,
        steady(34),
        ServiceState(),
        SETTINGS,
        "no_known_good",
        "refusing to guess",
    ),
    (
        "seed: :34 broken, :31 known-good",
        THIS,
        FIRING,
        steady(34),
        with_kg(),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        "fault on the known-good itself",
        THIS,
        FIRING,
        steady(31),
        with_kg(),
        SETTINGS,
        "already_known_good",
        "not a deployment's",
    ),
    (
        "known-good deploying already",
        THIS,
        FIRING,
        rolling(31, 34),
        with_kg(),
        SETTINGS,
        "in_progress",
        "already deploying",
    ),
    (
        "another state change holds a live lock",
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(10, "pending")),
        SETTINGS,
        "in_progress",
        "under way",
    ),
    (
        "own dead attempt (same state change): resume",
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(10, "pending", owner=THIS)),
        SETTINGS,
        "rolled_back",
        "resuming rollback r1",
    ),
    (
        "abandoned lock past its lease: take over",
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(151, "pending")),
        SETTINGS,
        "rolled_back",
        "took over abandoned rollback r1",
    ),
    (
        "abandoned lock whose UpdateService went through",
        THIS,
        FIRING,
        started(rolling(31, 34), 190),
        with_kg(last_rollback=lock(200, "pending")),
        SETTINGS,
        "rolled_back",
        "had reached ECS",
    ),
    (
        "redelivery of a finished state change: replay",
        THIS,
        FIRING,
        rolling(31, 34),
        with_kg(last_rollback=lock(20, owner=THIS)),
        SETTINGS,
        "rolled_back",
        "a redelivery",
    ),
    (
        "slow alarm after our own rollback, no verdict yet",
        THIS,
        FIRING,
        steady(31),
        with_kg(last_rollback=lock(120)),
        SETTINGS,
        "in_progress",
        "because of rollback r1",
    ),
    (
        "after the verdict a fault on the known-good is not a deployment's",
        THIS,
        FIRING,
        steady(31),
        with_kg(last_rollback=lock(120, outcome="recovered")),
        SETTINGS,
        "already_known_good",
        "not a deployment's",
    ),
    (
        "completed rollback, the broken revision redeployed",
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(300, outcome="recovered")),  # completed: the probes saw it recover
        SETTINGS,
        "cooldown",
        "300 s ago",
    ),
    (
        "recent rollback, a new deploy broke again",
        THIS,
        FIRING,
        steady(35),
        with_kg(last_rollback=lock(300)),
        SETTINGS,
        "cooldown",
        "a person should look",
    ),
    (
        "rollback long ago",
        THIS,
        FIRING,
        steady(35),
        with_kg(last_rollback=lock(3600)),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        "failed attempts hold no cooldown",
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(10, "failed")),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    ("dry run", THIS, FIRING, steady(34), with_kg(), DRY, "dry_run", "would roll back"),
    (
        "dry run still refuses to guess",
        THIS,
        FIRING,
        steady(34),
        ServiceState(),
        DRY,
        "no_known_good",
        "refusing to guess",
    ),
]


@pytest.mark.parametrize(
    ("alarm_signal", "alarm_now", "service", "state", "settings", "expected", "phrase"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decision_table(
    alarm_signal: AlarmSignal | None,
    alarm_now: AlarmNow | None,
    service: ServiceObservation | None,
    state: ServiceState,
    settings: RollbackSettings,
    expected: str,
    phrase: str,
) -> None:
    decision = decide_rollback(alarm_signal, service, state, NOW, settings, alarm_now=alarm_now)
    assert decision.action == expected
    assert phrase in decision.reason


def test_rollback_targets_the_known_good_not_the_previous_revision() -> None:
    decision = decide_rollback(THIS, steady(34), with_kg(), NOW, SETTINGS, alarm_now=FIRING)
    assert (decision.current, decision.target, decision.claim) == (rev(34), rev(31), "free")
    assert decision.notify


def test_no_known_good_never_names_a_target_and_notifies() -> None:
    decision = decide_rollback(THIS, steady(34), ServiceState(), NOW, SETTINGS)
    assert decision.target is None
    assert decision.notify


def test_stale_and_paused_notify_and_never_act() -> None:
    stale = decide_rollback(alarm(age_s=700), steady(34), with_kg(), NOW, SETTINGS)
    paused = decide_rollback(THIS, steady(34), with_kg(paused=PAUSE), NOW, SETTINGS)
    for decision in (stale, paused):
        assert decision.notify
        assert decision.claim == "free"
    assert stale.target is None
    assert paused.target == rev(31)  # what an operator would roll back to by hand


def test_resume_and_takeover_target_the_locks_revision_and_say_how_they_hold_it() -> None:
    resumed = decide_rollback(THIS, steady(34), with_kg(last_rollback=lock(10, "pending", owner=THIS)), NOW, SETTINGS)
    assert (resumed.claim, resumed.target) == ("resume", rev(31))
    taken = decide_rollback(THIS, steady(34), with_kg(last_rollback=lock(151, "pending")), NOW, SETTINGS)
    assert (taken.claim, taken.target) == ("takeover", rev(31))
    replayed = decide_rollback(THIS, steady(31), with_kg(last_rollback=lock(20, owner=THIS)), NOW, SETTINGS)
    assert (replayed.claim, replayed.notify) == ("replay", False)  # answered once already; nobody told twice


def test_lease_boundary() -> None:
    live = with_kg(last_rollback=lock(149, "pending"))
    assert decide_rollback(THIS, steady(34), live, NOW, SETTINGS).action == "in_progress"
    over = with_kg(last_rollback=lock(150, "pending"))
    assert decide_rollback(THIS, steady(34), over, NOW, SETTINGS).claim == "takeover"


def test_cooldown_boundary_is_exclusive() -> None:
    state = with_kg(last_rollback=lock(900))
    assert decide_rollback(THIS, steady(35), state, NOW, SETTINGS).action == "rolled_back"
    state = with_kg(last_rollback=lock(899))
    assert decide_rollback(THIS, steady(35), state, NOW, SETTINGS).action == "cooldown"


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-11-26T19:11:00.000+0000", "2026-11-26T19:11:00+00:00"),
        ("2026-11-26T19:11:00Z", "2026-11-26T19:11:00+00:00"),
        ("2026-11-26T20:11:00.000+0100", "2026-11-26T20:11:00+01:00"),
        ("2026-11-26T19:11:00.000+00:00", "2026-11-26T19:11:00+00:00"),
    ],
)
def test_alarm_timestamps_in_every_delivery_format(text: str, iso: str) -> None:
    parsed = parse_alarm_time(text)
    assert parsed is not None
    assert parsed.isoformat() == iso


@pytest.mark.parametrize("text", ["", "yesterday", "2026-11-26T19:11:00"])
def test_unreadable_or_zoneless_alarm_timestamps_are_unknown(text: str) -> None:
    assert parse_alarm_time(text) is None
