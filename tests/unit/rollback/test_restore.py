"""The rollback target (README "How decisions are made"): as it is, or a digest-pinned copy from the snapshot."""

from __future__ import annotations

from typing import Any

import pytest

from canary_rollback.core.models import KnownGood, TaskDefinitionSnapshot
from canary_rollback.rollback.restore import COPIED_FROM_TAG, plan_rollback_target
from tests.support.builders import T0, rev

D_API = "sha256:" + "1" * 64
D_SIDECAR = "sha256:" + "2" * 64
D_OTHER = "sha256:" + "3" * 64


def definition(*images: tuple[str, str]) -> dict[str, Any]:
    return {
        "family": "hokusai-api-development",
        "containerDefinitions": [{"name": name, "image": image, "essential": True} for name, image in images],
        "cpu": "256",
        "memory": "512",
    }


def known_good(*images: tuple[str, str], digests: dict[str, str] | None = None, tags: Any = ()) -> KnownGood:
    snapshot = TaskDefinitionSnapshot(definition(*images), tuple(tags), digests or {})
    return KnownGood(rev(31), T0, "seen healthy", snapshot=snapshot)


def images_of(request: dict[str, Any] | None) -> dict[str, str]:
    assert request is not None
    return {c["name"]: c["image"] for c in request["containerDefinitions"]}


def test_tag_referenced_images_are_pinned_to_the_recorded_digests_in_a_copy() -> None:
    kg = known_good(("api", "hokusai/api:main"), ("sidecar", "envoy:v1"), digests={"api": D_API, "sidecar": D_SIDECAR},
                    tags=[("team", "hokusai")])  # fmt: skip
    plan = plan_rollback_target(kg, known_good_active=True, pin_digests=True)
    assert plan.register
    assert images_of(plan.request) == {"api": f"hokusai/api@{D_API}", "sidecar": f"envoy@{D_SIDECAR}"}
    assert plan.tags == (("team", "hokusai"), (COPIED_FROM_TAG, rev(31)))
    assert [p.describe() for p in plan.pinned] == [
        f"api hokusai/api:main -> {D_API}",
        f"sidecar envoy:v1 -> {D_SIDECAR}",
    ]
    reason = plan.reason(rev(35))
    assert "copy of hokusai-api-development:31 as hokusai-api-development:35" in reason
    assert f"api hokusai/api:main -> {D_API}" in reason
    # the snapshot itself is untouched: it stays what was seen healthy
    assert kg.snapshot is not None
    assert images_of(kg.snapshot.definition)["api"] == "hokusai/api:main"


def test_already_pinned_and_active_deploys_as_it_is() -> None:
    kg = known_good(("api", f"hokusai/api@{D_API}"), ("sidecar", f"envoy:v1@{D_SIDECAR}"),
                    digests={"api": D_API, "sidecar": D_SIDECAR})  # fmt: skip
    plan = plan_rollback_target(kg, known_good_active=True, pin_digests=True)
    assert not plan.register
    assert plan.request is None
    assert plan.reason() == "deploying hokusai-api-development:31 as it is"


def test_a_digest_in_the_image_wins_over_a_recorded_one() -> None:
    kg = known_good(("api", f"hokusai/api@{D_API}"), digests={"api": D_OTHER})
    assert not plan_rollback_target(kg, True, True).register
    inactive = plan_rollback_target(kg, False, True)
    assert images_of(inactive.request) == {"api": f"hokusai/api@{D_API}"}


def test_no_recorded_digest_deploys_as_it_is_and_says_the_images_were_not_pinned() -> None:
    plan = plan_rollback_target(known_good(("api", "hokusai/api:main")), True, True)
    assert not plan.register
    assert "images not pinned (no digest was recorded): api hokusai/api:main" in plan.reason()


@pytest.mark.parametrize("pin_digests", [True, False])
def test_inactive_or_deleted_known_good_is_restored_from_the_snapshot(pin_digests: bool) -> None:
    kg = known_good(("api", "hokusai/api:main"), digests={"api": D_API})
    plan = plan_rollback_target(kg, known_good_active=False, pin_digests=pin_digests)
    assert plan.register
    expected = f"hokusai/api@{D_API}" if pin_digests else "hokusai/api:main"
    assert images_of(plan.request) == {"api": expected}
    assert "no longer ACTIVE (INACTIVE or deleted)" in plan.reason()


def test_pin_image_digests_false_keeps_tags_and_deploys_an_active_known_good_as_it_is() -> None:
    kg = known_good(("api", "hokusai/api:main"), digests={"api": D_API})
    plan = plan_rollback_target(kg, known_good_active=True, pin_digests=False)
    assert not plan.register
    assert plan.pinned == ()
    assert "images not pinned (PIN_IMAGE_DIGESTS=false): api hokusai/api:main" in plan.reason()


def test_partly_pinned_pins_the_rest() -> None:
    kg = known_good(("api", f"hokusai/api@{D_API}"), ("sidecar", "envoy:v1"), digests={"sidecar": D_SIDECAR})
    plan = plan_rollback_target(kg, True, True)
    assert images_of(plan.request) == {"api": f"hokusai/api@{D_API}", "sidecar": f"envoy@{D_SIDECAR}"}


def test_unparseable_image_is_left_exactly_as_it_was() -> None:
    kg = known_good(("api", "not an image"), ("sidecar", "envoy:v1"), digests={"api": D_API, "sidecar": D_SIDECAR})
    plan = plan_rollback_target(kg, True, True)
    assert images_of(plan.request) == {"api": "not an image", "sidecar": f"envoy@{D_SIDECAR}"}


def test_old_format_known_good_deploys_as_it_is_when_active_and_needs_a_snapshot_otherwise() -> None:
    kg = KnownGood(rev(31), T0, "recorded before snapshots")
    plan = plan_rollback_target(kg, known_good_active=True, pin_digests=True)
    assert (plan.register, plan.source_arn) == (False, rev(31))
    with pytest.raises(ValueError, match="no snapshot"):
        plan_rollback_target(kg, known_good_active=False, pin_digests=True)


def test_a_copy_replaces_an_old_copied_from_tag_and_becomes_the_known_good_with_its_own_snapshot() -> None:
    kg = known_good(("api", "hokusai/api:main"), digests={"api": D_API}, tags=[(COPIED_FROM_TAG, rev(20))])
    plan = plan_rollback_target(kg, True, True)
    assert plan.tags == ((COPIED_FROM_TAG, rev(31)),)
    copied = plan.copied_known_good(rev(35), kg)
    assert (copied.arn, copied.copied_from, copied.since) == (rev(35), rev(31), kg.since)
    assert copied.snapshot is not None
    assert images_of(copied.snapshot.definition) == {"api": f"hokusai/api@{D_API}"}
    # the next rollback to the copy deploys it as it is
    assert not plan_rollback_target(copied, True, True).register
