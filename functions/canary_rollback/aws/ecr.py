"""ECR adapter for the readiness check: is an image a rollback would deploy still in its repository?

`ecr:DescribeImages` reads image metadata only (never layers), so the template can grant it on a whole account's
repositories safely (docs/readiness.md). Written to the ECR API reference: asking for an image ID that does not
exist raises `ImageNotFoundException`; a repository that does not exist raises `RepositoryNotFoundException`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import error_code
from canary_rollback.core.errors import ReadinessLookupError
from canary_rollback.core.images import EcrRepository

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

ImagePresence = Literal["present", "image_missing", "repository_missing"]


class EcrGateway:
    def __init__(self, client_for_region: Callable[[str], ECRClient]) -> None:
        self._client_for_region = client_for_region

    def image_presence(self, repository: EcrRepository, *, digest: str | None, tag: str | None) -> ImagePresence:
        """Look the image up by digest (what a pinned restore pulls) or else by tag; ReadinessLookupError when
        ECR cannot say (access denied, throttled past retries, unreachable)."""
        image_id: Any = {"imageDigest": digest} if digest else {"imageTag": tag or "latest"}
        try:
            response = self._client_for_region(repository.region).describe_images(
                registryId=repository.registry_id, repositoryName=repository.name, imageIds=[image_id]
            )
        except ClientError as exc:
            code = error_code(exc)
            if code == "ImageNotFoundException":
                return "image_missing"
            if code == "RepositoryNotFoundException":
                return "repository_missing"
            raise ReadinessLookupError(f"ecr:DescribeImages on {repository.name} failed: {code}") from exc
        except BotoCoreError as exc:
            raise ReadinessLookupError(f"ecr:DescribeImages on {repository.name} failed: {exc}") from exc
        return "present" if response.get("imageDetails") else "image_missing"
