"""Container image references: parse `[registry[:port]/]path[:tag][@digest]` and pin a tag to a digest.

Pure string handling, no registry calls. ECS resolves a tag again on every new deployment, so a rollback can
only bring back the image that was seen healthy by naming it by digest (docs/design.md, "What a rollback restores").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A digest is `algorithm:encoded` (OCI image spec); ECS reports `sha256:<64 hex>`.
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class ImageReferenceError(ValueError):
    """Not a container image reference this module can pin."""


@dataclass(frozen=True)
class ImageReference:
    repository: str  # with its registry host (and port) when there is one: `localhost:5000/api`, `1234.dkr.ecr...`
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        """Named by digest: every deployment pulls the same bytes, whatever happens to its tag."""
        return self.digest is not None

    def __str__(self) -> str:
        text = self.repository
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse_image(reference: str) -> ImageReference:
    """Split an image reference. A colon before the last `/` belongs to the registry host (its port)."""
    text = reference.strip()
    if not text or any(c.isspace() for c in text):
        raise ImageReferenceError(f"not an image reference: {reference!r}")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise ImageReferenceError(f"{reference!r}: {digest!r} is not a digest (algorithm:hex)")
    tag = None
    last_segment = text.rsplit("/", 1)[-1]
    if ":" in last_segment:
        text, tag = text.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise ImageReferenceError(f"{reference!r}: {tag!r} is not a valid tag")
    if not text or text.endswith("/") or text.startswith("/"):
        raise ImageReferenceError(f"{reference!r}: no repository")
    return ImageReference(text, tag, digest)


def is_digest(value: str) -> bool:
    return _DIGEST.fullmatch(value) is not None


def pin(reference: str, digest: str) -> str:
    """`repo:tag` -> `repo@digest`. An image already named by digest is returned unchanged: it already is
    exactly one image, and rewriting it to another digest would deploy something never seen healthy."""
    if not is_digest(digest):
        raise ImageReferenceError(f"{digest!r} is not a digest (algorithm:hex)")
    image = parse_image(reference)
    if image.pinned:
        return reference
    return f"{image.repository}@{digest}"


# A private ECR registry host (AWS docs, "Amazon ECR private registry"): ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com
# (.com.cn in China), or the dual-stack ACCOUNT.dkr-ecr.REGION.on.aws.
_ECR_HOST = re.compile(
    r"(?P<account>\d{12})\.(?:dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"|dkr-ecr\.(?P<dual_region>[a-z0-9-]+)\.on\.aws)"
)


@dataclass(frozen=True)
class EcrRepository:
    """Where an image lives in a private ECR registry: what `ecr:DescribeImages` needs to find it."""

    registry_id: str  # the account that owns the registry
    region: str
    name: str  # the repository name, without the registry host: `hokusai/api`


def ecr_repository(image: ImageReference) -> EcrRepository | None:
    """The private ECR repository an image is pulled from, or None for any other registry (Docker Hub, ECR
    Public, GHCR, a host with a port...)."""
    host, _, name = image.repository.partition("/")
    match = _ECR_HOST.fullmatch(host)
    if match is None or not name:
        return None
    return EcrRepository(match["account"], match["region"] or match["dual_region"], name)
