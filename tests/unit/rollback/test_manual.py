"""A person's rollback: what `canary-rollback rollback` may do (rollback/manual.py)."""

from __future__ import annotations

from datetime import timedelta

from canary_rollback.core.models import KnownGood, PauseFlag, ServiceState
from canary_rollback.core.rollback_record import RollbackRecord
from canary_rollback.rollback.manual import decide_operator_rollback
from tests.support.builders import T0, rev, rolling, steady

NOW = T0 + timedelta(hours=1)
KG31 = ServiceState(known_good=KnownGood(rev(31), T0, "3 passes"))
WHO = "arn:aws:sts::123456789012:assumed-role/oncall/alice (alice)"


def lock(age_s: int, status: str = "pending", lease_s: int = 150) -> RollbackRecord:
    at = NOW - timedelta(seconds=age_s)
    return RollbackRecord("r1", at, "RollbackAlarm", rev(34), rev(31), status, state_change="RollbackAlarm|ALARM|t",  # type: ignore[arg-type]
                          lease_until=at + timedelta(seconds=lease_s))  # fmt: skip


def decide(state: ServiceState, service: object = None) -> tuple[str, str | None, str]:
    decision = decide_operator_rollback(service or steady(34), state, NOW, WHO, "route 404s")  # type: ignore[arg-type]
    return decision.action, decision.target, decision.reason


def test_without_a_known_good_it_refuses_and_guesses_nothing() -> None:
    assert decide(ServiceState())[:2] == ("no_known_good", None)


def test_it_acts_while_paused_in_cooldown_and_names_the_person() -> None:
    paused = ServiceState(known_good=KG31.known_good, paused=PauseFlag("bob", T0, "ALB migration"))
    action, target, reason = decide(paused)
    assert (action, target) == ("rolled_back", rev(31))
    assert WHO in reason
    assert "route 404s" in reason
    cooling = ServiceState(known_good=KG31.known_good, last_rollback=lock(60, status="done"))
    assert decide(cooling)[:2] == ("rolled_back", rev(31))


def test_another_rollbacks_live_lock_refuses_an_abandoned_one_is_taken_over() -> None:
    live = ServiceState(known_good=KG31.known_good, last_rollback=lock(30))
    action, _, reason = decide(live)
    assert action == "in_progress"
    assert "holds the lock" in reason
    abandoned = ServiceState(known_good=KG31.known_good, last_rollback=lock(600))
    decision = decide_operator_rollback(steady(34), abandoned, NOW, WHO, "x")
    assert (decision.action, decision.claim) == ("rolled_back", "takeover")


def test_nothing_to_do_when_the_known_good_already_runs() -> None:
    assert decide(KG31, steady(31))[0] == "already_known_good"
    assert decide(KG31, rolling(31, 34))[0] == "in_progress"
