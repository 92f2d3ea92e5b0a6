"""Rollback readiness rules: when to check, what a restore would need, and what each answer means.

Pure (docs/readiness.md). The probe run gathers the answers through aws/ (probe/readiness_check.py); these
functions turn them into findings, a verdict, and whom to tell. What a restore deploys mirrors
rollback/restore.py (a test keeps the two in step): every image the known-good names by digest, every tag it
names pinned to the digest its tasks ran when PIN_IMAGE_DIGESTS is on and a digest was recorded, the rest by tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from canary_rollback.core.arns import revision_label
from canary_rollback.core.images import EcrRepository, ImageReferenceError, ecr_repository, parse_image
from canary_rollback.core.models import TaskDefinitionSnapshot
from canary_rollback.core.readiness import ReadinessFinding, ReadinessRecord, Verdict

ROLE_FIELDS = (("taskRoleArn", "task role"), ("executionRoleArn", "execution role"))


def readiness_due(previous: ReadinessRecord | None, known_good_arn: str, now: datetime, interval_seconds: int) -> bool:
    """At most once per interval, and at once for a known-good not checked yet (a promotion, a mark, the pinned
    copy a rollback made). A record from the future (a clock stepped back) is due, so the check cannot stall."""
    if previous is None or previous.known_good != known_good_arn:
        return True
    elapsed = (now - previous.checked_at).total_seconds()
    return not 0 <= elapsed < interval_seconds


@dataclass(frozen=True)
class RestoredImage:
    """One container's image as a restore of the known-good would deploy it."""

    container: str
    image: str  # as the known-good names it
    digest: str | None  # what the restore pulls by digest (named, or pinned from the snapshot)
    tag: str | None  # what it pulls by tag otherwise
    repository: EcrRepository | None  # None: not a private ECR image (or not parseable)
    problem: str | None = None  # why it cannot be looked up at all

    @property
    def label(self) -> str:
        """`hokusai/api@sha256:...` (or `:tag`): the repository as ECR names it, and exactly what is pulled."""
        name = self.repository.name if self.repository else self.image.split("@")[0]
        return f"{name}@{self.digest}" if self.digest else f"{name}:{self.tag or 'latest'}"


def restored_images(snapshot: TaskDefinitionSnapshot, pin_digests: bool) -> tuple[RestoredImage, ...]:
    images: list[RestoredImage] = []
    for container in snapshot.definition.get("containerDefinitions", []):
        name, image = str(container.get("name", "")), str(container.get("image", ""))
        try:
            reference = parse_image(image)
        except ImageReferenceError as exc:
            images.append(RestoredImage(name, image, None, None, None, problem=str(exc)))
            continue
        digest = reference.digest
        if digest is None and pin_digests:
            digest = snapshot.digests.get(name)
        tag = None if digest else (reference.tag or "latest")
        images.append(RestoredImage(name, image, digest, tag, ecr_repository(reference)))
    return tuple(images)


def role_names(snapshot: TaskDefinitionSnapshot, known_good_arn: str) -> tuple[tuple[str, str, str | None], ...]:
    """(kind, as named, role name to look up): None when it is not this account's role (never looked up)."""
    account = _account(known_good_arn)
    roles: list[tuple[str, str, str | None]] = []
    for field, kind in ROLE_FIELDS:
        named = snapshot.definition.get(field)
        if not named:
            continue
        named = str(named)
        if named.startswith("arn:"):
            lookup = named.rsplit("/", 1)[-1] if _account(named) == account else None
        else:
            lookup = named  # ECS accepts a bare role name
        roles.append((kind, named, lookup))
    return tuple(roles)


def _account(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else None


# ---- what each answer means ------------------------------------------------------------------------


def task_definition_finding(arn: str, active: bool | None, has_snapshot: bool, error: str | None) -> ReadinessFinding:
    label = revision_label(arn)
    if error is not None:
        why = f"could not learn whether {label} is ACTIVE ({error})"
        return ReadinessFinding("task definition", label, "error", why)
    if active:
        return ReadinessFinding("task definition", label, "ok", f"{label} is ACTIVE")
    if has_snapshot:
        return ReadinessFinding(
            "task definition", label, "ok", f"{label} is no longer ACTIVE; a copy will be registered from its snapshot"
        )
    return ReadinessFinding(
        "task definition",
        label,
        "missing",
        f"known-good {label} is no longer ACTIVE (deregistered or deleted) and has no snapshot to register a copy from",
    )


def snapshot_error_finding(arn: str, error: str) -> ReadinessFinding:
    label = revision_label(arn)
    why = f"could not describe {label} to learn its images ({error})"
    return ReadinessFinding("task definition", label, "error", why)


def image_finding(image: RestoredImage, presence: str | None, error: str | None) -> ReadinessFinding:
    """`presence`: what aws/ecr.py answered (present, image_missing, repository_missing); None with `error`."""
    label, repo = image.label, image.repository
    if image.problem is not None:
        return ReadinessFinding("image", image.image, "unchecked", f"container {image.container}: {image.problem}")
    if repo is None:
        return ReadinessFinding(
            "image",
            image.image,
            "unchecked",
            f"image {image.image} (container {image.container}) is not in a private ECR registry: not checked",
        )
    where = f"container {image.container}, account {repo.registry_id}, {repo.region}"
    if error is not None:
        return ReadinessFinding(
            "image", label, "error", f"could not look up image {label} in ECR repository {repo.name}: {error}"
        )
    if presence == "present":
        return ReadinessFinding("image", label, "ok", f"image {label} is in ECR repository {repo.name}")
    if presence == "repository_missing":
        return ReadinessFinding(
            "image", label, "missing", f"ECR repository {repo.name} no longer exists (image {label}; {where})"
        )
    gone = f"image {label} no longer in ECR repository {repo.name} ({where})"
    return ReadinessFinding("image", label, "missing", gone)


def role_finding(kind: str, named: str, exists: bool | None, error: str | None) -> ReadinessFinding:
    if exists is None and error is None:
        return ReadinessFinding("role", named, "unchecked", f"{kind} {named} is another account's: not checked")
    if error is not None:
        return ReadinessFinding("role", named, "error", f"could not look up {kind} {named}: {error}")
    if exists:
        return ReadinessFinding("role", named, "ok", f"{kind} {named} exists")
    return ReadinessFinding("role", named, "missing", f"{kind} {named} no longer exists")


def unfinished_finding(budget_seconds: float) -> ReadinessFinding:
    return ReadinessFinding(
        "check",
        "readiness check",
        "error",
        f"the check did not finish within {budget_seconds:.1f} s (ECS, ECR or IAM slow or unreachable)",
    )


def verdict(findings: Sequence[ReadinessFinding]) -> Verdict:
    """Anything missing: not ready, whatever else could not be checked. Otherwise an error of the check's own
    makes it unchecked; what is out of reach by design (another registry) does not."""
    if any(f.status == "missing" for f in findings):
        return "not_ready"
    if any(f.status == "error" for f in findings):
        return "unchecked"
    return "ready"


def should_audit(previous: ReadinessRecord | None, record: ReadinessRecord) -> bool:
    """Each change of readiness: the first check of a known-good, or another verdict or set of missing things."""
    return not record.same_answer(previous)


def should_notify(previous: ReadinessRecord | None, record: ReadinessRecord) -> bool:
    """Tell people when the known-good becomes not ready, when what is missing changes, and when it is ready
    again. A check that could not finish tells no one (audited, shown by `status`): the alarm keeps its state."""
    if record.verdict == "unchecked" or record.same_answer(previous):
        return False
    return record.verdict == "not_ready" or (previous is not None and previous.verdict == "not_ready")
