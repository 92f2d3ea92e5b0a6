from __future__ import annotations

from canary_rollback.core.arns import revision_label
from canary_rollback.core.models import AlarmSignal, Decision, GuardedService
from canary_rollback.core.notifications import decision_notification, recovery_notification
from canary_rollback.core.rollback_record import RollbackRecord
from canary_rollback.probe.tracking import RecoveryEvent
from tests.support.builders import T0, rev

GUARDED = GuardedService("hokusai-development", "hokusai-api")
ALARM = AlarmSignal("RollbackAlarm", "ALARM", "OK", "Threshold Crossed", "t", "eventbridge")


def test_rollback_message_has_alarm_from_to_reason_and_the_next_command() -> None:
    decision = Decision("rolled_back", "alarm fired", rev(34), rev(31), notify=True)
    note = decision_notification(GUARDED, ALARM, decision)
    assert note.subject == "[canary-rollback] hokusai-api: rolled back to hokusai-api-development:31"
    for expected in ("RollbackAlarm", "hokusai-api-development:34", "hokusai-api-development:31", "alarm fired"):
        assert expected in note.body
    # Never `aws ecs update-service` to a revision whose image tags ECS would resolve again (docs/operate.md).
    assert "aws ecs update-service" not in note.body
    assert "canary-rollback status --cluster hokusai-development --service hokusai-api" in note.body


def test_subjects_fit_sns_limits() -> None:
    long = GuardedService("c", "s" * 200)
    for action in (
        "rolled_back",
        "dry_run",
        "no_known_good",
        "already_known_good",
        "cooldown",
        "in_progress",
        "ignored",
    ):
        note = decision_notification(long, ALARM, Decision(action, "r", rev(34), rev(31)))  # type: ignore[arg-type]
        assert len(note.subject) <= 100
        assert note.subject.isascii()
        assert "\n" not in note.subject


def test_no_known_good_tells_a_person_what_to_do() -> None:
    note = decision_notification(GUARDED, ALARM, Decision("no_known_good", "none seen", rev(34), None))
    assert "mark-known-good" in note.body
    assert "FAMILY:REVISION" in note.body
    assert "update-service" not in note.body


def test_recovery_messages() -> None:
    rollback = RollbackRecord("r1", T0, "RollbackAlarm", rev(34), rev(31), "done")
    ok = recovery_notification(GUARDED, RecoveryEvent("recovered", rollback, 61.0))
    assert "recovered on hokusai-api-development:31" in ok.subject
    assert "61.0 s" in ok.body
    bad = recovery_notification(GUARDED, RecoveryEvent("not_recovered", rollback, None))
    assert "did NOT recover" in bad.subject


def test_revision_label() -> None:
    assert revision_label(rev(31)) == "hokusai-api-development:31"
    assert revision_label(None) == "none"
