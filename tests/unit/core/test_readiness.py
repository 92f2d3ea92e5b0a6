"""The readiness record (core/readiness.py): stored, read back, said in words; the interval's configuration."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from canary_rollback.core.config import load_settings
from canary_rollback.core.errors import ConfigError
from canary_rollback.core.models import Candidate, GuardedService, KnownGood, ServiceState
from canary_rollback.core.notifications import readiness_notification
from canary_rollback.core.readiness import ReadinessFinding, ReadinessRecord
from canary_rollback.core.state_codec import item_from_state, state_from_item, state_update

T0 = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
KG = "arn:aws:ecs:us-east-1:123456789012:task-definition/hokusai-api-development:31"
GONE = "image hokusai/api@sha256:04336a no longer in ECR repository hokusai/api (container api)"
NOT_READY = ReadinessRecord(
    KG,
    T0,
    "not_ready",
    (
        ReadinessFinding("task definition", "hokusai-api-development:31", "ok", "hokusai-api-development:31 is ACTIVE"),
        ReadinessFinding("image", "hokusai/api@sha256:04336a", "missing", GONE),
        ReadinessFinding("image", "nginx:1.27", "unchecked", "image nginx:1.27 (container proxy) is not in ..."),
    ),
)
PROBES = '[{"name": "p", "url": "https://example.com/"}]'


def test_the_record_round_trips_in_its_own_attribute_of_the_state_item() -> None:
    state = ServiceState(known_good=KnownGood(KG, T0, "seen healthy"), readiness=NOT_READY, version=4)
    item = item_from_state(state)
    assert set(item["readiness"]["M"]) == {"known_good", "checked_at", "verdict", "findings"}
    assert state_from_item(item) == state


def test_an_unreadable_record_is_dropped_never_an_error_for_the_readers_of_the_state() -> None:
    item = item_from_state(ServiceState(known_good=KnownGood(KG, T0, "seen healthy"), readiness=NOT_READY))
    item["readiness"]["M"]["findings"] = {"S": "{not json"}
    loaded = state_from_item(item)
    assert loaded.readiness is None
    assert loaded.known_good is not None  # the rollback still finds its known-good


def test_headline_names_what_is_missing_and_the_rollback_note_says_what_was_found() -> None:
    assert NOT_READY.headline() == f"NOT READY: {GONE}"
    assert NOT_READY.metric_value == 0
    note = NOT_READY.rollback_note(KG)
    assert note is not None
    assert GONE in note
    assert "rolling back anyway" in note
    assert NOT_READY.rollback_note(KG.replace(":31", ":35")) is None  # a check of another revision says nothing
    ready = ReadinessRecord(KG, T0, "ready", NOT_READY.findings[:1])
    assert (ready.headline(), ready.metric_value, ready.rollback_note(KG)) == ("ready", 1, None)
    unchecked = ReadinessRecord(KG, T0, "unchecked", (ReadinessFinding("check", "c", "error", "timed out"),))
    assert unchecked.metric_value is None
    assert "could not finish: timed out" in (unchecked.rollback_note(KG) or "")


def test_the_notification_names_the_missing_thing_and_what_to_do() -> None:
    note = readiness_notification(GuardedService("hokusai-development", "hokusai-api"), NOT_READY, None)
    assert note.subject.startswith("[canary-rollback] hokusai-api: rollback NOT READY: image hokusai/api@sha256:04336a")
    assert len(note.subject) <= 100
    assert GONE in note.body
    assert "canary-rollback mark-known-good FAMILY:REVISION --cluster hokusai-development" in note.body


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 300), ("60", 60), ("86400", 86400), ("59", ConfigError), ("86401", ConfigError), ("5m", ConfigError)],
)
def test_readiness_interval_is_validated(raw: str | None, expected: int | type[Exception]) -> None:
    env = {"PROBES": PROBES, **({"READINESS_INTERVAL_SECONDS": raw} if raw is not None else {})}
    if isinstance(expected, int):
        assert load_settings(env).readiness_interval_seconds == expected
    else:
        with pytest.raises(ConfigError, match="READINESS_INTERVAL_SECONDS"):
            load_settings(env)


def test_the_readiness_write_sets_only_its_own_attribute_and_owns_nothing_else() -> None:
    before = ServiceState(known_good=KnownGood(KG, T0, "seen healthy"), version=3)
    first = state_update(before, replace(before, readiness=NOT_READY), "readiness")
    assert [path for path, _ in first.sets] == [("readiness",)]
    assert first.removes == ()
    again = replace(NOT_READY, checked_at=T0 + timedelta(minutes=5))  # the same known-good: only what changed
    update = state_update(replace(before, readiness=NOT_READY), replace(before, readiness=again), "readiness")
    assert [path for path, _ in update.sets] == [("readiness", "checked_at")]
    with pytest.raises(ValueError, match="does not own candidate"):
        state_update(before, replace(before, readiness=NOT_READY, candidate=Candidate(KG, 1, T0)), "readiness")
