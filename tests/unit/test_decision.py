"""The rollback decision table (SPEC 5): every action, and the order of the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from canary_rollback.decision import RollbackSettings, decide_rollback
from canary_rollback.models import AlarmSignal, KnownGood, RollbackRecord, ServiceObservation, ServiceState
from tests.unit.builders import T0, rev, rolling, steady

NOW = T0 + timedelta(hours=1)
SETTINGS = RollbackSettings(cooldown_seconds=900, dry_run=False)
KG31 = KnownGood(rev(31), T0, "3 passes")


def alarm(state: str = "ALARM") -> AlarmSignal:
    return AlarmSignal("RollbackAlarm", state, "OK", "Threshold Crossed", "2026-11-26T19:11:00.000+0000", "eventbridge")


def rollback_record(age_s: int, status: str = "done", frm: int = 34, to: int = 31) -> RollbackRecord:
    return RollbackRecord("r1", NOW - timedelta(seconds=age_s), "RollbackAlarm", rev(frm), rev(to), status)  # type: ignore[arg-type]


CASES: list[tuple[str, AlarmSignal | None, ServiceObservation | None, ServiceState, RollbackSettings, bool, str]] = [
    ("unrecognised event", None, None, ServiceState(), SETTINGS, True, "ignored"),
    ("alarm back to OK", alarm("OK"), steady(34), ServiceState(known_good=KG31), SETTINGS, True, "ignored"),
    ("insufficient data", alarm("INSUFFICIENT_DATA"), steady(34), ServiceState(), SETTINGS, True, "ignored"),
    ("nothing seen healthy", alarm(), steady(34), ServiceState(), SETTINGS, True, "no_known_good"),
    (
        "seed: :34 broken, :31 known-good",
        alarm(),
        steady(34),
        ServiceState(known_good=KG31),
        SETTINGS,
        True,
        "rolled_back",
    ),
    (
        "fault on the known-good itself",
        alarm(),
        steady(31),
        ServiceState(known_good=KG31),
        SETTINGS,
        True,
        "already_known_good",
    ),
    (
        "known-good deploying already",
        alarm(),
        rolling(31, 34),
        ServiceState(known_good=KG31),
        SETTINGS,
        True,
        "in_progress",
    ),
    (
        "our rollback under way (stale read)",
        alarm(),
        steady(34),
        ServiceState(known_good=KG31, last_rollback=rollback_record(10, "pending")),
        SETTINGS,
        True,
        "in_progress",
    ),
    (
        "completed rollback, the broken revision redeployed",
        alarm(),
        steady(34),
        ServiceState(known_good=KG31, last_rollback=rollback_record(300)),
        SETTINGS,
        True,
        "cooldown",
    ),
    (
        "recent rollback, a new deploy broke again",
        alarm(),
        steady(35),
        ServiceState(known_good=KG31, last_rollback=rollback_record(300)),
        SETTINGS,
        True,
        "cooldown",
    ),
    (
        "rollback long ago",
        alarm(),
        steady(35),
        ServiceState(known_good=KG31, last_rollback=rollback_record(3600)),
        SETTINGS,
        True,
        "rolled_back",
    ),
    (
        "failed rollback attempts do not hold a cooldown",
        alarm(),
        steady(34),
        ServiceState(known_good=KG31, last_rollback=rollback_record(10, "failed")),
        SETTINGS,
        True,
        "rolled_back",
    ),
    (
        "dry run",
        alarm(),
        steady(34),
        ServiceState(known_good=KG31),
        RollbackSettings(900, dry_run=True),
        True,
        "dry_run",
    ),
    (
        "dry run still refuses to guess",
        alarm(),
        steady(34),
        ServiceState(),
        RollbackSettings(900, dry_run=True),
        True,
        "no_known_good",
    ),
    ("deregistered known-good", alarm(), steady(34), ServiceState(known_good=KG31), SETTINGS, False, "rolled_back"),
]


@pytest.mark.parametrize(
    ("alarm_signal", "service", "state", "settings", "active", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decision_table(
    alarm_signal: AlarmSignal | None,
    service: ServiceObservation | None,
    state: ServiceState,
    settings: RollbackSettings,
    active: bool,
    expected: str,
) -> None:
    decision = decide_rollback(alarm_signal, service, state, NOW, settings, known_good_active=active)
    assert decision.action == expected
    assert decision.reason


def test_rollback_targets_the_known_good_not_the_previous_revision() -> None:
    decision = decide_rollback(alarm(), steady(34), ServiceState(known_good=KG31), NOW, SETTINGS)
    assert (decision.current, decision.target) == (rev(34), rev(31))
    assert decision.notify
    assert not decision.needs_copy


def test_deregistered_known_good_asks_for_a_copy() -> None:
    decision = decide_rollback(
        alarm(), steady(34), ServiceState(known_good=KG31), NOW, SETTINGS, known_good_active=False
    )
    assert decision.needs_copy
    assert decision.target == rev(31)
    assert "deregistered" in decision.reason


def test_no_known_good_never_names_a_target_and_notifies() -> None:
    decision = decide_rollback(alarm(), steady(34), ServiceState(), NOW, SETTINGS)
    assert decision.target is None
    assert decision.notify


def test_cooldown_boundary_is_exclusive() -> None:
    state = ServiceState(known_good=KG31, last_rollback=rollback_record(900))
    assert decide_rollback(alarm(), steady(35), state, NOW, SETTINGS).action == "rolled_back"
    state = ServiceState(known_good=KG31, last_rollback=rollback_record(899))
    assert decide_rollback(alarm(), steady(35), state, NOW, SETTINGS).action == "cooldown"
