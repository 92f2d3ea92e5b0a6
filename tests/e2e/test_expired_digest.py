"""`make demo SCENARIO=expired-digest` in-process (docs/readiness.md): the known-good's pinned digest expires
from ECR and the readiness notification names it before any incident. Times are simulated, never measured."""

from __future__ import annotations

import pytest

from demo.scenarios import run

pytestmark = pytest.mark.usefixtures("aws", "handlers_reset")


def test_expired_digest_is_named_before_the_incident_and_the_rollback_still_restores_it() -> None:
    result = run("expired-digest")

    assert result.ok, result.verdict
    events = result.events()
    expired = events.index("ECR lifecycle rule expires old images")
    told = events.index("Readiness check: NOT READY (notified)")
    deployed = events.index("Deploy :34 (routing change)")
    assert expired < told < events.index("On-call pushes the image again") < deployed
    assert "RollbackNotReadyAlarm in ALARM" in events[told:deployed]
    assert "Readiness check: ready" in events[told:deployed]
    (not_ready,) = [n for n in result.notifications if "rollback NOT READY" in n.subject]
    assert "no longer in ECR repository hokusai/api" in not_ready.message
    assert result.notifications.index(not_ready) == 0  # the first thing anyone was told
    assert any("rollback ready again" in n.subject for n in result.notifications)
    decision = result.decisions[0]
    assert (decision.action, decision.current) == ("rolled_back", ":34")
    assert result.recovery_seconds is not None
    assert result.function_warnings == ()
