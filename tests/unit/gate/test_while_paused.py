"""While paused the gate answers SUCCEEDED and says what it would have answered (docs/design.md, "Pause")."""

from __future__ import annotations

from canary_rollback.core.models import PauseFlag
from canary_rollback.gate.stages import HookAnswer, while_paused
from tests.unit.builders import T0

PAUSE = PauseFlag("arn:aws:sts::123456789012:user/alice (alice)", T0, "rolling out by hand")


def test_failed_becomes_succeeded_with_what_it_would_have_been() -> None:
    failed = HookAnswer("FAILED", {"probe": "mlflow-proxy", "status": 404})
    answer = while_paused(failed, PAUSE)
    assert answer.as_response()["hookStatus"] == "SUCCEEDED"
    assert answer.details["would_have_answered"] == "FAILED"
    assert answer.details["would_have"] == {"probe": "mlflow-proxy", "status": 404}
    assert "rolling out by hand" in answer.details["paused"]


def test_in_progress_is_not_held_either() -> None:
    answer = while_paused(HookAnswer("IN_PROGRESS", {"passes": 1}, callback_delay=10), PAUSE)
    assert answer.as_response() == {"hookStatus": "SUCCEEDED", "hookDetails": answer.details}
    assert answer.details["would_have_answered"] == "IN_PROGRESS"
