"""The rollback lock's lifecycle (docs/design.md): phases derived from the clock, claims, transitions."""

from __future__ import annotations

from datetime import timedelta

from canary_rollback.core.rollback_record import LEGACY_LEASE, RollbackRecord, take_lock
from tests.support.builders import T0, rev

LEASE = timedelta(seconds=150)


def fresh(owner: str = "alarm|ALARM|t1") -> RollbackRecord:
    return take_lock(
        rollback_id="r1",
        now=T0,
        alarm="alarm",
        state_change=owner,
        from_arn=rev(34),
        to_arn=rev(31),
        lease=LEASE,
        replacing=None,
    )


def test_pending_expires_by_the_clock_and_is_never_written_as_expired() -> None:
    lock = fresh()
    assert lock.status == "pending"
    assert lock.phase(T0 + LEASE - timedelta(seconds=1)) == "pending"
    assert lock.phase(T0 + LEASE) == "expired"
    assert lock.status == "pending"  # expiry is derived, the stored status is unchanged


def test_claims_for_each_kind_of_caller() -> None:
    lock = fresh("alarm|ALARM|t1")
    assert lock.claim("alarm|ALARM|t1", T0 + timedelta(seconds=5)) == "resume"
    assert lock.claim("alarm|ALARM|t2", T0 + timedelta(seconds=5)) == "held"
    assert lock.claim("alarm|ALARM|t2", T0 + LEASE) == "takeover"
    done = lock.accepted(rev(31))
    assert done.claim("alarm|ALARM|t1", T0) == "replay"
    assert done.claim("alarm|ALARM|t2", T0) == "free"
    assert lock.refused().claim("alarm|ALARM|t1", T0) == "free"


def test_lifecycle_to_recovery_verdicts() -> None:
    done = fresh().accepted(rev(31))
    assert done.phase(T0) == "done"
    recovered = done.judged("recovered", T0 + timedelta(minutes=2))
    assert (recovered.phase(T0), recovered.recovered_at) == ("recovered", T0 + timedelta(minutes=2))
    assert done.judged("not_recovered", T0).phase(T0) == "not_recovered"
    assert fresh().refused().phase(T0) == "failed"


def test_takeover_names_the_abandoned_lock_only_when_it_was_pending() -> None:
    abandoned = fresh()
    new = take_lock(
        rollback_id="r2",
        now=T0 + LEASE,
        alarm="alarm",
        state_change="alarm|ALARM|t2",
        from_arn=rev(34),
        to_arn=rev(31),
        lease=LEASE,
        replacing=abandoned,
    )
    assert new.takeover_of == "r1"
    after_done = take_lock(
        rollback_id="r3",
        now=T0,
        alarm="alarm",
        state_change="x",
        from_arn=rev(35),
        to_arn=rev(31),
        lease=LEASE,
        replacing=abandoned.accepted(rev(31)),
    )
    assert after_done.takeover_of is None


def test_own_rollback_window_and_cooldown() -> None:
    done = fresh().accepted(rev(31))
    cooldown = timedelta(seconds=900)
    assert done.rolled_here(rev(31), T0 + timedelta(seconds=100), cooldown)
    assert not done.rolled_here(rev(30), T0 + timedelta(seconds=100), cooldown)
    assert not done.rolled_here(rev(31), T0 + cooldown, cooldown)
    assert not done.judged("recovered", T0).rolled_here(rev(31), T0, cooldown)
    assert done.cooling_down(T0 + timedelta(seconds=899), cooldown)
    assert not fresh().cooling_down(T0, cooldown)  # pending is the lease's business, not the cooldown's


def test_records_from_before_leases_get_the_default_lease() -> None:
    legacy = RollbackRecord("old", T0, "alarm", rev(34), rev(31), "pending")
    assert legacy.lease_end == T0 + LEGACY_LEASE
    assert legacy.claim("any|ALARM|t", T0 + LEGACY_LEASE) == "takeover"


def test_a_copy_is_recorded_with_its_origin() -> None:
    copied = fresh().copied(rev(35))
    assert (copied.to_arn, copied.copied_from) == (rev(35), rev(31))
