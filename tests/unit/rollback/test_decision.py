"""The rollback decision table (docs/design.md, "Decision table"): every row, and the order of the rows.

Each case is named by the row of the table that decides it (`row 14: cooldown, ...`), so the code, the docs
and the test ids share one numbering; a test below holds ROWS to the table in docs/design.md.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from canary_rollback.core.models import AlarmNow, AlarmSignal, KnownGood, PauseFlag, ServiceObservation, ServiceState
from canary_rollback.core.rollback_record import RollbackRecord
from canary_rollback.rollback.decision import RollbackSettings, decide_rollback, parse_alarm_time
from tests.support.builders import T0, rev, rolling, steady
from tests.support.decision_table import ROWS, case_id
from tests.support.paths import REPO

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
        outcome=outcome,  # type: ignore[arg-type]
        state_change=owner.state_change,
        lease_until=at + timedelta(seconds=lease_s),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def with_kg(**changes: object) -> ServiceState:
    return replace(ServiceState(known_good=KG31), **changes)  # type: ignore[arg-type]


def started(service: ServiceObservation, seconds_ago: int) -> ServiceObservation:
    """The service with its PRIMARY deployment started `seconds_ago` (ECS's createdAt)."""
    at = NOW - timedelta(seconds=seconds_ago)
    deployments = tuple(replace(d, created_at=at) if d.status == "PRIMARY" else d for d in service.deployments)
    return replace(service, deployments=deployments)


PAUSE = PauseFlag("arn:aws:sts::123456789012:assumed-role/oncall/alice (alice)", T0, "migrating the ALB")
DRY = replace(SETTINGS, dry_run=True)

# ((row, case), alarm, CloudWatch now, service, state, settings, action, a phrase of the reason)
Case = tuple[
    tuple[int, str],
    AlarmSignal | None,
    AlarmNow | None,
    ServiceObservation | None,
    ServiceState,
    RollbackSettings,
    str,
    str,
]
CASES: list[Case] = [
    ((1, "an unrecognised event"), None, None, None, ServiceState(), SETTINGS, "ignored", "not a CloudWatch alarm"),
    ((1, "the alarm back to OK"), alarm("OK"), None, steady(34), with_kg(), SETTINGS, "ignored", "is OK, not ALARM"),
    (
        (1, "an INSUFFICIENT_DATA state change"),
        alarm("INSUFFICIENT_DATA"),
        None,
        steady(34),
        ServiceState(),
        SETTINGS,
        "ignored",
        "not ALARM",
    ),
    (
        (2, "ECS undid the rollback: the service is back on the revision it moved it from"),
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(120)),
        SETTINGS,
        "reverted",
        "the next tick decides again",
    ),
    (
        (3, "a redelivery while paused"),
        THIS,
        FIRING,
        steady(31),
        with_kg(paused=PAUSE, last_rollback=lock(20, owner=THIS)),
        SETTINGS,
        "rolled_back",
        "a redelivery",
    ),
    (
        (3, "a redelivery of a finished state change"),
        THIS,
        FIRING,
        rolling(31, 34),
        with_kg(last_rollback=lock(20, owner=THIS)),
        SETTINGS,
        "rolled_back",
        "a redelivery",
    ),
    (
        (4, "a stale retry of our own attempt whose UpdateService went through"),
        alarm(age_s=900),
        AlarmNow(True, "OK"),
        started(rolling(31, 34), 190),  # the lock's own UpdateService (within its lease)
        with_kg(last_rollback=lock(200, "pending", owner=alarm(age_s=900))),
        SETTINGS,
        "rolled_back",
        "its first attempt had reached ECS",
    ),
    (
        (4, "an abandoned lock whose UpdateService went through, the new alarm stale"),
        alarm(age_s=700),
        FIRING,
        started(steady(31), 190),
        with_kg(last_rollback=lock(200, "pending")),
        SETTINGS,
        "rolled_back",
        "had reached ECS",
    ),
    (
        (4, "an abandoned lock whose UpdateService went through"),
        THIS,
        FIRING,
        started(rolling(31, 34), 190),
        with_kg(last_rollback=lock(200, "pending")),
        SETTINGS,
        "rolled_back",
        "had reached ECS",
    ),
    (
        (5, "older than MAX_ALARM_AGE_SECONDS"),
        alarm(age_s=601),
        FIRING,
        steady(34),
        with_kg(),
        SETTINGS,
        "stale",
        "601 s ago",
    ),
    ((5, "CloudWatch says OK now"), THIS, AlarmNow(True, "OK"), steady(34), with_kg(), SETTINGS, "stale", "is OK now"),
    (
        (5, "CloudWatch says INSUFFICIENT_DATA now"),
        THIS,
        AlarmNow(True, "INSUFFICIENT_DATA"),
        steady(34),
        with_kg(),
        SETTINGS,
        "stale",
        "no longer in ALARM",
    ),
    (
        (5, "an unreadable stamp of an alarm CloudWatch does not know"),
        alarm(changed_at="yesterday"),
        AlarmNow(False),
        steady(34),
        with_kg(),
        SETTINGS,
        "stale",
        "unreadable",
    ),
    (
        (5, "even when nothing is known-good, which row 8 would say"),
        alarm(age_s=3600),
        FIRING,
        steady(34),
        ServiceState(),
        SETTINGS,
        "stale",
        "3600 s ago",
    ),
    (
        (5, "a retry of our own attempt that never reached ECS"),
        alarm(age_s=900),
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(200, "pending", owner=alarm(age_s=900))),
        SETTINGS,
        "stale",
        "900 s ago",
    ),
    (
        (6, "by an operator"),
        THIS,
        FIRING,
        steady(34),
        with_kg(paused=PAUSE),
        SETTINGS,
        "paused",
        "migrating the ALB",
    ),
    (
        (7, "the service could not be described"),
        THIS,
        FIRING,
        None,
        with_kg(),
        SETTINGS,
        "ignored",
        "could not be described",
    ),
    (
        (8, "nothing seen healthy"),
        THIS,
        FIRING,
        steady(34),
        ServiceState(),
        SETTINGS,
        "no_known_good",
        "refusing to guess",
    ),
    (
        (8, "a dry run still refuses to guess"),
        THIS,
        FIRING,
        steady(34),
        ServiceState(),
        DRY,
        "no_known_good",
        "refusing to guess",
    ),
    (
        (9, "our own dead attempt (same state change)"),
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(10, "pending", owner=THIS)),
        SETTINGS,
        "rolled_back",
        "resuming rollback r1",
    ),
    (
        (10, "a BLUE_GREEN deployment under way is ECS's to roll back"),
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
        (11, "another state change holds a live lock"),
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(10, "pending")),
        SETTINGS,
        "in_progress",
        "under way",
    ),
    (
        (11, "the lease 1 s from its end"),
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(149, "pending")),
        SETTINGS,
        "in_progress",
        "under way",
    ),
    (
        (12, "the slow alarm after our own rollback, no verdict yet"),
        THIS,
        FIRING,
        steady(31),
        with_kg(last_rollback=lock(120)),
        SETTINGS,
        "in_progress",
        "because of rollback r1",
    ),
    (
        (13, "the alarm changed state before the current deployment started"),
        alarm(age_s=90),
        FIRING,
        started(steady(35), 60),
        with_kg(),
        SETTINGS,
        "superseded",
        "not evidence against it",
    ),
    (
        (14, "a fault on the known-good itself"),
        THIS,
        FIRING,
        steady(31),
        with_kg(),
        SETTINGS,
        "already_known_good",
        "not a deployment's",
    ),
    (
        (14, "after the verdict, a fault on the known-good"),
        THIS,
        FIRING,
        steady(31),
        with_kg(last_rollback=lock(120, outcome="recovered")),
        SETTINGS,
        "already_known_good",
        "not a deployment's",
    ),
    (
        (15, "the known-good deploying already"),
        THIS,
        FIRING,
        rolling(31, 34),
        with_kg(),
        SETTINGS,
        "in_progress",
        "already deploying",
    ),
    (
        (16, "the broken revision redeployed"),
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(300, outcome="recovered")),  # completed: the probes saw it recover
        SETTINGS,
        "cooldown",
        "300 s ago",
    ),
    (
        (16, "a new deploy broke again"),
        THIS,
        FIRING,
        steady(35),
        with_kg(last_rollback=lock(300)),
        SETTINGS,
        "cooldown",
        "a person should look",
    ),
    (
        (16, "1 s before the cooldown ends"),
        THIS,
        FIRING,
        steady(35),
        with_kg(last_rollback=lock(899)),
        SETTINGS,
        "cooldown",
        "899 s ago",
    ),
    (
        (17, "ECS reverted the last try at the known-good"),
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(120, "reverted", attempt=2, reverted_how="back on :34")),
        SETTINGS,
        "not_restorable",
        "until an operator marks another known-good",
    ),
    ((18, "DRY_RUN says what it would do"), THIS, FIRING, steady(34), with_kg(), DRY, "dry_run", "would roll back"),
    (
        (19, "an age exactly at the limit still acts"),
        alarm(age_s=600),
        FIRING,
        steady(34),
        with_kg(),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        (19, "an alarm CloudWatch does not know is judged by its event"),
        THIS,
        AlarmNow(False),
        steady(34),
        with_kg(),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        (19, "an unreadable stamp, CloudWatch says ALARM"),
        alarm(changed_at="yesterday"),
        FIRING,
        steady(34),
        with_kg(),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        (19, "a gated service steady on a broken revision after its bake time"),
        THIS,
        FIRING,
        replace(steady(34), deployment_strategy="BLUE_GREEN"),
        with_kg(),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        (19, "the seed: :34 broken, :31 known-good"),
        THIS,
        FIRING,
        steady(34),
        with_kg(),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        (19, "an abandoned lock past its lease is taken over"),
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(151, "pending")),
        SETTINGS,
        "rolled_back",
        "took over abandoned rollback r1",
    ),
    (
        (19, "the last rollback long ago"),
        THIS,
        FIRING,
        steady(35),
        with_kg(last_rollback=lock(3600)),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        (19, "a failed attempt holds no cooldown"),
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(10, "failed")),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
    (
        (19, "an abandoned lock whose lease ends now is taken over"),
        THIS,
        FIRING,
        steady(34),
        with_kg(last_rollback=lock(150, "pending")),
        SETTINGS,
        "rolled_back",
        "took over abandoned rollback r1",
    ),
    (
        (19, "the cooldown over to the second"),
        THIS,
        FIRING,
        steady(35),
        with_kg(last_rollback=lock(900)),
        SETTINGS,
        "rolled_back",
        "seen healthy",
    ),
]


@pytest.mark.parametrize(
    ("row", "alarm_signal", "alarm_now", "service", "state", "settings", "expected", "phrase"),
    [(case[0][0], *case[1:]) for case in CASES],
    ids=[case_id(*case[0]) for case in CASES],
)
def test_decision_table(
    row: int,
    alarm_signal: AlarmSignal | None,
    alarm_now: AlarmNow | None,
    service: ServiceObservation | None,
    state: ServiceState,
    settings: RollbackSettings,
    expected: str,
    phrase: str,
) -> None:
    decision = decide_rollback(alarm_signal, service, state, NOW, settings, alarm_now=alarm_now)
    assert decision.row == ROWS[row]  # the row the case is named after is the row that decided
    assert decision.action == expected
    assert phrase in decision.reason


def test_every_row_of_the_table_in_the_docs_has_a_case_named_after_it() -> None:
    # The table in docs/design.md: "| N | name | when | action | calls ECS | notifies |"
    table = (REPO / "docs" / "design.md").read_text().split("## Decision table", 1)[1].split("\n## ", 1)[0]
    documented = {
        int(cells[1]): cells[2]
        for cells in (line.split("|") for line in table.splitlines())
        if len(cells) > 2 and cells[1].strip().isdigit()
    }
    assert {number: name.strip() for number, name in documented.items()} == ROWS
    assert sorted({row for (row, _), *_ in CASES}) == sorted(ROWS)
    assert len({case_id(*case[0]) for case in CASES}) == len(CASES)  # one id per case


def test_row_19_targets_the_known_good_not_the_previous_revision() -> None:
    decision = decide_rollback(THIS, steady(34), with_kg(), NOW, SETTINGS, alarm_now=FIRING)
    assert (decision.current, decision.target, decision.claim) == (rev(34), rev(31), "free")
    assert decision.notify


def test_row_8_no_known_good_never_names_a_target_and_notifies() -> None:
    decision = decide_rollback(THIS, steady(34), ServiceState(), NOW, SETTINGS)
    assert decision.target is None
    assert decision.notify


def test_rows_5_and_6_stale_and_paused_notify_and_never_act() -> None:
    stale = decide_rollback(alarm(age_s=700), steady(34), with_kg(), NOW, SETTINGS)
    paused = decide_rollback(THIS, steady(34), with_kg(paused=PAUSE), NOW, SETTINGS)
    for decision in (stale, paused):
        assert decision.notify
        assert decision.claim == "free"
    assert stale.target is None
    assert paused.target == rev(31)  # what an operator would roll back to by hand


def test_rows_9_19_and_3_resume_takeover_and_replay_target_the_locks_revision_and_say_how_they_hold_it() -> None:
    resumed = decide_rollback(THIS, steady(34), with_kg(last_rollback=lock(10, "pending", owner=THIS)), NOW, SETTINGS)
    assert (resumed.claim, resumed.target) == ("resume", rev(31))
    taken = decide_rollback(THIS, steady(34), with_kg(last_rollback=lock(151, "pending")), NOW, SETTINGS)
    assert (taken.claim, taken.target) == ("takeover", rev(31))
    replayed = decide_rollback(THIS, steady(31), with_kg(last_rollback=lock(20, owner=THIS)), NOW, SETTINGS)
    assert (replayed.claim, replayed.notify) == ("replay", False)  # answered once already; nobody told twice


def test_row_11_holds_until_the_lease_ends_then_row_19_takes_over() -> None:
    live = with_kg(last_rollback=lock(149, "pending"))
    assert decide_rollback(THIS, steady(34), live, NOW, SETTINGS).action == "in_progress"
    over = with_kg(last_rollback=lock(150, "pending"))
    assert decide_rollback(THIS, steady(34), over, NOW, SETTINGS).claim == "takeover"


def test_row_16_cooldown_ends_exclusively_then_row_19_rolls_back() -> None:
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
