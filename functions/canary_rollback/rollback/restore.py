"""What a rollback deploys (docs/design.md, "What a rollback restores"): the known-good as it is, or a copy
registered from its snapshot with every tag-referenced image pinned to the digest its tasks ran. Pure: no AWS here.

Why a copy: ECS resolves an image tag again on every new deployment, so `UpdateService` to the old ARN can pull
whatever the tag points at now (the very image that broke the new revision), and ECS will not deploy an
INACTIVE revision at all. Why from the snapshot: an INACTIVE revision can be described only while something
references it, a deleted one never.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from canary_rollback.core.arns import revision_label
from canary_rollback.core.evidence import TargetImage, deployed_images
from canary_rollback.core.images import ImageReferenceError, parse_image, pin
from canary_rollback.core.models import KnownGood, TaskDefinitionSnapshot
from canary_rollback.core.rollback_record import RollbackRecord

COPIED_FROM_TAG = "canary-rollback:copied-from"


@dataclass(frozen=True)
class PinnedImage:
    container: str
    image: str  # as the known-good names it (a tag)
    digest: str  # what its tasks ran

    @property
    def reference(self) -> str:
        return pin(self.image, self.digest)

    def describe(self) -> str:
        return f"{self.container} {self.image} -> {self.digest}"


@dataclass(frozen=True)
class TargetPlan:
    source_arn: str  # the known-good
    register: bool  # False: deploy `source_arn` as it is
    request: dict[str, Any] | None  # RegisterTaskDefinition arguments of the copy, tags apart
    tags: tuple[tuple[str, str], ...]
    pinned: tuple[PinnedImage, ...]
    unpinned: tuple[str, ...]  # `container image` named by tag with no recorded digest: deployed as tagged
    active: bool
    pin_digests: bool

    def reason(self, target_arn: str | None = None) -> str:
        """What is restored and why, for the decision, the audit trail and the notification."""
        source = revision_label(self.source_arn)
        if not self.register:
            text = f"deploying {source} as it is"
        else:
            into = f" as {revision_label(target_arn)}" if target_arn else ""
            text = f"registering a copy of {source}{into} from its snapshot"
            if not self.active:
                text += f" ({source} is no longer ACTIVE (INACTIVE or deleted) and ECS will not deploy it)"
        parts = [text]
        if self.pinned:
            parts.append("images pinned to the digests seen healthy: " + ", ".join(p.describe() for p in self.pinned))
        if self.unpinned:
            why = "PIN_IMAGE_DIGESTS=false" if not self.pin_digests else "no digest was recorded"
            parts.append(f"images not pinned ({why}): " + ", ".join(self.unpinned))
        return "; ".join(parts)

    def images(self, known_good: KnownGood) -> tuple[TargetImage, ...] | None:
        """What this plan deploys, container by container, with the digest each image is pinned to (None: the
        known-good was recorded before snapshots, its images are whatever its revision names)."""
        if known_good.snapshot is None:
            return None
        named = known_good.snapshot.definition
        return deployed_images(self.request, named) if self.request is not None else deployed_images(named)

    def copied_known_good(self, copy_arn: str, known_good: KnownGood) -> KnownGood:
        """The copy becomes the known-good with its own snapshot: its images are digests now, so the next
        rollback deploys it as it is."""
        assert self.request is not None
        digests = known_good.snapshot.digests if known_good.snapshot else {}
        snapshot = TaskDefinitionSnapshot(copy.deepcopy(self.request), self.tags, dict(digests))
        return KnownGood(copy_arn, known_good.since, known_good.reason, copied_from=self.source_arn, snapshot=snapshot)


def plan_rollback_target(known_good: KnownGood, known_good_active: bool, pin_digests: bool) -> TargetPlan:
    """Deploy the known-good as it is when it is ACTIVE and nothing needs pinning; otherwise register a copy.

    A known-good without a snapshot (recorded by an older version) that is still ACTIVE is deployed as it is;
    the caller gives an INACTIVE one a snapshot first (by describing it, the only time we depend on that).
    """
    snapshot = known_good.snapshot
    if snapshot is None:
        if not known_good_active:
            raise ValueError(f"{known_good.arn} is not ACTIVE and has no snapshot to copy from")
        return TargetPlan(known_good.arn, False, None, (), (), (), True, pin_digests)

    pinned: list[PinnedImage] = []
    unpinned: list[str] = []
    for container in snapshot.definition.get("containerDefinitions", []):
        name, image = str(container.get("name", "")), str(container.get("image", ""))
        try:
            already_digest = parse_image(image).pinned
        except ImageReferenceError:
            unpinned.append(f"{name} {image}")  # cannot rewrite what we cannot parse: leave it exactly as it was
            continue
        if already_digest:
            continue
        digest = snapshot.digests.get(name)
        if digest is None or not pin_digests:
            unpinned.append(f"{name} {image}")
        else:
            pinned.append(PinnedImage(name, image, digest))

    if known_good_active and not pinned:
        return TargetPlan(known_good.arn, False, None, (), (), tuple(unpinned), True, pin_digests)

    request = copy.deepcopy(snapshot.definition)
    by_name = {p.container: p for p in pinned}
    for container in request.get("containerDefinitions", []):
        if container.get("name") in by_name:
            container["image"] = by_name[container["name"]].reference
    tags = (*tuple(t for t in snapshot.tags if t[0] != COPIED_FROM_TAG), (COPIED_FROM_TAG, known_good.arn))
    return TargetPlan(
        known_good.arn, True, request, tags, tuple(pinned), tuple(unpinned), known_good_active, pin_digests
    )


def target_images(
    known_good: KnownGood | None, target_arn: str | None, lock: RollbackRecord | None, pin_digests: bool
) -> tuple[TargetImage, ...] | None:
    """The images a decision's target deploys, for its evidence card, without calling ECS: the restore plan is a
    pure function of the known-good's snapshot, so it is rebuilt (as if ACTIVE: an INACTIVE one gets a copy with
    the same images). A lock's copy of the known-good is that plan's copy."""
    if known_good is None or known_good.snapshot is None or target_arn is None:
        return None
    if target_arn == known_good.arn:
        return plan_rollback_target(known_good, True, pin_digests).images(known_good)
    if lock is not None and lock.to_arn == target_arn and lock.copied_from == known_good.arn:
        return plan_rollback_target(known_good, False, pin_digests).images(known_good)
    return None
