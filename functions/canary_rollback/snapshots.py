"""Snapshot at promotion (README "How decisions are made"): record what was seen healthy before the write that
promotes a revision: its registrable task definition and the image digest each container actually ran.

The capture runs before the tracking write, and `track_run(..., snapshot=capture)` refuses to promote on a
capture that found the running tasks disagreeing on a digest: two different images answered the probes, so
neither can be called "the one seen healthy". The next run tries again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from canary_rollback.aws.ecs import EcsGateway
from canary_rollback.errors import CanaryRollbackError, EcsError
from canary_rollback.images import ImageReferenceError, parse_image
from canary_rollback.models import GuardedService, KnownGood, ServiceObservation, ServiceState, TaskDefinitionSnapshot
from canary_rollback.observability import logger
from canary_rollback.tracking import track_run


@dataclass(frozen=True)
class SnapshotCapture:
    arn: str
    snapshot: TaskDefinitionSnapshot | None  # None when it cannot be promoted (see `refusal`)
    refusal: str | None = None

    def attach(
        self, previous: KnownGood | None, promoted: KnownGood, note: str
    ) -> tuple[KnownGood | None, KnownGood | None, str]:
        """Promote with the snapshot, or keep the previous known-good and say why not."""
        if self.arn != promoted.arn or self.snapshot is None:
            why = self.refusal or "no snapshot of this revision was captured in this run"
            return previous, None, f"not promoted: {why}"
        if self.snapshot.digests:
            digests = ", ".join(f"{name} {digest}" for name, digest in sorted(self.snapshot.digests.items()))
            detail = f"; images ran as {digests}"
        else:
            detail = "; no running task reported an image digest: its images cannot be pinned"
        with_snapshot = replace(promoted, reason=promoted.reason + detail, snapshot=self.snapshot)
        return with_snapshot, with_snapshot, note


def agreed_digests(reported: Mapping[str, set[str]]) -> tuple[dict[str, str], str | None]:
    """One digest per container, or the reason there is none: the tasks disagree."""
    disagreeing = {name: sorted(digests) for name, digests in reported.items() if len(digests) > 1}
    if disagreeing:
        text = "; ".join(f"container {name} ran {', '.join(ds)}" for name, ds in sorted(disagreeing.items()))
        return {}, f"running tasks disagree on image digests ({text})"
    return {name: next(iter(digests)) for name, digests in reported.items() if digests}, None


def capture_snapshot(ecs: EcsGateway, guarded: GuardedService, arn: str) -> SnapshotCapture:
    """The revision as registered plus the digests its running tasks report (EcsError if ECS cannot say)."""
    snapshot = ecs.registrable_snapshot(arn)
    digests, disagreement = agreed_digests(ecs.running_digests(guarded, arn))
    if disagreement is not None:
        logger.warning("known-good not promoted", extra={"arn": arn, "reason": disagreement})
        return SnapshotCapture(arn, None, disagreement)
    return SnapshotCapture(arn, replace(snapshot, digests=digests))


def capture_for_run(
    ecs: EcsGateway,
    state: ServiceState,
    guarded: GuardedService,
    service: ServiceObservation,
    run_ok: bool,
    now: datetime,
    known_good_after: int,
    *,
    before: ServiceObservation | None = None,
    run_id: str | None = None,
) -> SnapshotCapture:
    """Predict this run with the same pure tracking function; capture only when it would promote, so the other
    runs make no extra ECS calls. A run that was not predicted to promote (the state moved meanwhile) gets a
    capture without snapshot, which `attach` refuses: no revision is ever promoted without its snapshot."""
    arn = service.task_definition_arn
    predicted = track_run(state, service, run_ok, now, known_good_after, before=before, run_id=run_id)
    if predicted.promoted is None:
        return SnapshotCapture(arn, None, "no snapshot was captured in this run (it was not expected to promote)")
    try:
        return capture_snapshot(ecs, guarded, arn)
    except EcsError as exc:
        logger.warning("snapshot not captured", extra={"arn": arn, "error": str(exc)})
        return SnapshotCapture(arn, None, f"its snapshot could not be captured ({exc})")


class SnapshotRefused(CanaryRollbackError):
    """An operator asked to record a known-good whose images could not be restored as they were seen."""


def snapshot_for_operator(
    ecs: EcsGateway, guarded: GuardedService, arn: str, allow_unpinned: bool
) -> TaskDefinitionSnapshot:
    """`mark-known-good`: the revision as registered, plus its tasks' digests when the service runs it now.

    A revision that names images by tag with no running task to say which digest they are is refused unless
    the operator allows it: its rollback would deploy whatever the tags point at by then."""
    snapshot = ecs.registrable_snapshot(arn)
    digests, disagreement = agreed_digests(ecs.running_digests(guarded, arn))
    if disagreement is not None:
        raise SnapshotRefused(f"{disagreement}: no single image was seen, so none can be recorded")
    unpinned = [
        f"{container.get('name')} {container.get('image')}"
        for container in snapshot.definition.get("containerDefinitions", [])
        if str(container.get("name")) not in digests and not _names_a_digest(str(container.get("image", "")))
    ]
    if unpinned and not allow_unpinned:
        raise SnapshotRefused(
            f"{arn.rsplit('/', 1)[-1]} names images by tag ({', '.join(unpinned)}) and no running task of it "
            "reports their digests, so a rollback would deploy whatever those tags point at then; "
            "pass --allow-unpinned to record it anyway"
        )
    return replace(snapshot, digests=digests)


def _names_a_digest(image: str) -> bool:
    try:
        return parse_image(image).pinned
    except ImageReferenceError:
        return False
