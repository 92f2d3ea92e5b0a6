"""Snapshot at promotion (README "How decisions are made"), the pure half: digests agreeing, promotion refused."""

from __future__ import annotations

from datetime import timedelta

from canary_rollback.core.models import KnownGood, ServiceState, TaskDefinitionSnapshot
from canary_rollback.probe.snapshots import agreed_digests
from canary_rollback.probe.tracking import SnapshotCapture, track_run
from tests.support.builders import T0, rev, steady

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
SNAPSHOT = TaskDefinitionSnapshot({"family": "hokusai-api-development", "containerDefinitions": []}, (), {"api": D1})


def two_passes() -> ServiceState:
    state = ServiceState()
    for minute in range(2):
        state = track_run(state, steady(31), True, T0 + timedelta(minutes=minute), 3).state
    return state


def test_agreed_digests() -> None:
    assert agreed_digests({"api": {D1}, "sidecar": {D2}}) == ({"api": D1, "sidecar": D2}, None)
    assert agreed_digests({}) == ({}, None)
    digests, why = agreed_digests({"api": {D1, D2}, "sidecar": {D2}})
    assert digests == {}
    assert why == f"running tasks disagree on image digests (container api ran {D1}, {D2})"


def test_promotion_takes_the_snapshot_and_names_the_digests() -> None:
    outcome = track_run(
        two_passes(), steady(31), True, T0 + timedelta(minutes=2), 3, snapshot=SnapshotCapture(rev(31), SNAPSHOT)
    )
    assert outcome.promoted is not None
    assert outcome.state.known_good == outcome.promoted
    assert outcome.promoted.snapshot == SNAPSHOT
    assert outcome.promoted.reason.endswith(f"images ran as api {D1}")


def test_disagreeing_digests_are_not_promoted_in_that_run_and_the_next_run_tries_again() -> None:
    previous = KnownGood(rev(30), T0 - timedelta(days=1), "older")
    state = ServiceState(known_good=previous, candidate=two_passes().candidate)
    refusal = SnapshotCapture(rev(31), None, "running tasks disagree on image digests (...)")

    outcome = track_run(state, steady(31), True, T0 + timedelta(minutes=2), 3, snapshot=refusal)

    assert outcome.promoted is None
    assert outcome.state.known_good == previous
    assert outcome.note == "not promoted: running tasks disagree on image digests (...)"
    assert outcome.state.candidate is not None
    assert outcome.state.candidate.streak == 3  # the streak stands; the next run captures again
    again = track_run(
        outcome.state, steady(31), True, T0 + timedelta(minutes=3), 3, snapshot=SnapshotCapture(rev(31), SNAPSHOT)
    )
    assert again.promoted is not None


def test_a_capture_of_another_revision_or_none_never_promotes_without_a_snapshot() -> None:
    for capture in (SnapshotCapture(rev(30), SNAPSHOT), SnapshotCapture(rev(31), None, "not expected to promote")):
        outcome = track_run(two_passes(), steady(31), True, T0 + timedelta(minutes=2), 3, snapshot=capture)
        assert outcome.promoted is None


def test_no_reported_digest_promotes_and_says_images_cannot_be_pinned() -> None:
    bare = TaskDefinitionSnapshot(SNAPSHOT.definition, (), {})
    outcome = track_run(
        two_passes(), steady(31), True, T0 + timedelta(minutes=2), 3, snapshot=SnapshotCapture(rev(31), bare)
    )
    assert outcome.promoted is not None
    assert "no running task reported an image digest" in outcome.promoted.reason
