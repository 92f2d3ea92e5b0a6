"""What a promotion records about the images that answered (docs/design.md, "Snapshot at promotion").

Pure rules: one digest per container or the reason there is none, and whether a revision's images could be
restored as they were seen. *When* to capture is the probe run's business (probe/run.py); "no snapshot, no
promotion" is tracking's (probe/tracking.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from canary_rollback.core.arns import revision_label
from canary_rollback.core.errors import CanaryRollbackError
from canary_rollback.core.images import ImageReferenceError, parse_image
from canary_rollback.core.models import TaskDefinitionSnapshot


def agreed_digests(reported: Mapping[str, set[str]]) -> tuple[dict[str, str], str | None]:
    """One digest per container, or the reason there is none: the tasks disagree."""
    disagreeing = {name: sorted(digests) for name, digests in reported.items() if len(digests) > 1}
    if disagreeing:
        text = "; ".join(f"container {name} ran {', '.join(ds)}" for name, ds in sorted(disagreeing.items()))
        return {}, f"running tasks disagree on image digests ({text})"
    return {name: next(iter(digests)) for name, digests in reported.items() if digests}, None


class SnapshotRefused(CanaryRollbackError):
    """An operator asked to record a known-good whose images could not be restored as they were seen."""


def operator_snapshot(
    snapshot: TaskDefinitionSnapshot, arn: str, reported: Mapping[str, set[str]], allow_unpinned: bool
) -> TaskDefinitionSnapshot:
    """`mark-known-good`: the revision as registered, plus its tasks' digests when the service runs it now.

    A revision that names images by tag with no running task to say which digest they are is refused unless
    the operator allows it: its rollback would deploy whatever the tags point at by then."""
    digests, disagreement = agreed_digests(reported)
    if disagreement is not None:
        raise SnapshotRefused(f"{disagreement}: no single image was seen, so none can be recorded")
    unpinned = [
        f"{container.get('name')} {container.get('image')}"
        for container in snapshot.definition.get("containerDefinitions", [])
        if str(container.get("name")) not in digests and not _names_a_digest(str(container.get("image", "")))
    ]
    if unpinned and not allow_unpinned:
        raise SnapshotRefused(
            f"{revision_label(arn)} names images by tag ({', '.join(unpinned)}) and no running task of it "
            "reports their digests, so a rollback would deploy whatever those tags point at then; "
            "pass --allow-unpinned to record it anyway"
        )
    return replace(snapshot, digests=digests)


def _names_a_digest(image: str) -> bool:
    try:
        return parse_image(image).pinned
    except ImageReferenceError:
        return False
