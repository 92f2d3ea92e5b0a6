"""A writer's UpdateItem sets or removes only what it changed (docs/design.md, "State items")."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from canary_rollback.core.models import Candidate, KnownGood, PauseFlag, ServiceState, ToldAnswer
from canary_rollback.core.rollback_record import RollbackRecord
from canary_rollback.core.state_codec import state_update
from tests.unit.builders import T0, rev

LOCK = RollbackRecord("abc", T0, "RollbackAlarm", rev(34), rev(31), "done", state_change="x|ALARM|t")
STATE = ServiceState(
    known_good=KnownGood(rev(31), T0, "seen healthy"),
    candidate=Candidate(rev(34), 2, T0),
    last_rollback=LOCK,
    version=7,
)


def test_pause_sets_only_the_pause_flag_on_the_version_it_read() -> None:
    paused = replace(STATE, paused=PauseFlag("alice", T0, "ALB migration"))
    update = state_update(STATE, paused, "pause")
    assert [path for path, _ in update.sets] == [("paused",)]
    assert update.removes == ()
    request = update.request()
    assert request["UpdateExpression"] == "SET #version = :next, #paused = :v0"
    assert request["ConditionExpression"] == "#version = :expected"
    assert (request["ExpressionAttributeValues"][":expected"], request["ExpressionAttributeValues"][":next"]) == (
        {"N": "7"},
        {"N": "8"},
    )


def test_resume_removes_only_the_pause_flag() -> None:
    paused = replace(STATE, paused=PauseFlag("alice", T0, "ALB migration"))
    update = state_update(paused, replace(paused, paused=None), "pause")
    assert (update.sets, update.removes) == ((), (("paused",),))
    assert update.request()["UpdateExpression"] == "SET #version = :next REMOVE #paused"


def test_a_recovery_verdict_sets_the_members_of_the_same_lock_not_the_whole_lock() -> None:
    # An unknown member of the lock (a newer version's) survives: only outcome and recovered_at are written.
    judged = replace(STATE, last_rollback=LOCK.judged("recovered", T0 + timedelta(minutes=2)))
    update = state_update(STATE, judged, "watch_round")
    assert [path for path, _ in update.sets] == [("last_rollback", "outcome"), ("last_rollback", "recovered_at")]
    assert "#last_rollback.#outcome = :v0" in update.request()["UpdateExpression"]


def test_a_new_known_good_replaces_the_whole_map() -> None:
    # What the old known-good carried (its snapshot, or a newer version's member) does not belong to the new one.
    promoted = replace(STATE, known_good=KnownGood(rev(34), T0, "3 passes"))
    update = state_update(STATE, promoted, "probe_run")
    assert [path for path, _ in update.sets] == [("known_good",)]


def test_a_new_lock_replaces_the_whole_lock_and_reserved_words_go_through_placeholders() -> None:
    lock = RollbackRecord("def", T0, "FastRollbackAlarm", rev(35), rev(34), "pending")
    update = state_update(STATE, replace(STATE, last_rollback=lock), "rollback")
    assert [path for path, _ in update.sets] == [("last_rollback",)]
    changed = state_update(STATE, replace(STATE, last_rollback=LOCK.refused()), "rollback")
    assert [path for path, _ in changed.sets] == [("last_rollback", "status")]
    assert changed.request()["ExpressionAttributeNames"]["#status"] == "status"


def test_the_first_write_needs_an_item_without_a_version() -> None:
    update = state_update(ServiceState(), ServiceState(candidate=Candidate(rev(31), 1, T0)), "probe_run")
    assert update.request()["ConditionExpression"] == "attribute_not_exists(#version)"


def test_told_is_written_per_alarm_through_placeholders_for_alarm_names() -> None:
    fast = ToldAnswer("canary-rollback-FastRollbackAlarm", "x|ALARM|t", "paused", rev(34), rev(31), T0)
    slow = ToldAnswer("canary-rollback-RollbackAlarm", "y|ALARM|t", "paused", rev(34), rev(31), T0)
    before = replace(STATE, told=(slow,))
    update = state_update(before, replace(before, told=(slow, fast)), "rollback")
    # only the fast alarm's entry is written: an entry this version does not know (another alarm's) survives
    assert [path for path, _ in update.sets] == [("told", "canary-rollback-FastRollbackAlarm")]
    request = update.request()
    assert "#told.#_" in request["UpdateExpression"]
    assert "canary-rollback-FastRollbackAlarm" in request["ExpressionAttributeNames"].values()
    assert all(key[1:].replace("_", "a").isalnum() for key in request["ExpressionAttributeNames"])


def test_nothing_changed_is_nothing_to_write() -> None:
    assert state_update(STATE, STATE, "probe_run").empty


@pytest.mark.parametrize(
    ("writer", "after"),
    [
        ("pause", replace(STATE, known_good=None)),
        ("watch_round", replace(STATE, known_good=KnownGood(rev(34), T0, "x"))),
        ("watch_round", replace(STATE, last_rollback=replace(LOCK, to_arn=rev(35)))),
        ("follow", replace(STATE, candidate=None)),
        ("probe_run", replace(STATE, paused=PauseFlag("bob", T0, "x"))),
        ("mark_known_good", replace(STATE, candidate=None)),
        ("rollback", replace(STATE, candidate=None)),
    ],
)
def test_a_writer_that_changes_what_it_does_not_own_is_refused(writer: str, after: ServiceState) -> None:
    with pytest.raises(ValueError, match="does not own"):
        state_update(STATE, after, writer)  # type: ignore[arg-type]
