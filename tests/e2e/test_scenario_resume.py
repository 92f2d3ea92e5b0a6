"""`make demo SCENARIO=resume`, in-process through its structured result: an alarm that stays in ALARM is
decided again every minute (told once), and the first tick after `resume` rolls back. Times are simulated."""

from __future__ import annotations

import pytest

from demo.scenarios import run
from demo.scenarios.resume import TICK

pytestmark = pytest.mark.usefixtures("aws", "handlers_reset")


def test_resume_then_the_next_tick_rolls_back() -> None:
    result = run("resume")

    assert result.ok, result.verdict
    assert result.decisions[0].action == "paused"
    ticks = [d for d in result.decisions if d.reason.startswith(TICK)]
    paused_ticks = [d for d in ticks if d.action == "paused"]
    rolled = [d for d in ticks if d.action == "rolled_back"]
    assert len(paused_ticks) >= 3  # decided again every minute while paused
    assert [(d.current, d.target) for d in rolled] == [(":34", ":31")]
    assert "On-call resumes automatic rollback" in result.events()
    resumed_at = next(e.at for e in result.timeline if e.event == "On-call resumes automatic rollback")
    assert 0 < (rolled[0].at - resumed_at).total_seconds() <= 60  # the next tick, no new alarm event
    assert result.service_now_on == ":31"
    assert result.recovery_seconds is not None
    subjects = [n.subject.removeprefix("[canary-rollback] hokusai-api: ") for n in result.notifications]
    # one paused notice per alarm state change (the fast alarm's and the one-minute alarm's), none per tick
    assert subjects.count("ALARM while automatic rollback is paused: not rolled back") == 2
    assert "rolled back to hokusai-api-development:31" in subjects
    assert result.function_warnings == ()
