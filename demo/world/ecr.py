"""The account's private ECR registry, on moto: a push gets the digest ECR computes from the image manifest, and
an expired image is deleted by digest, as an ECR lifecycle rule deletes it. The ECS simulator's tag table
(`ImageRegistry`) follows every push, so tasks report the digests ECR would have served."""

from __future__ import annotations

import hashlib
import json
from contextlib import suppress
from typing import Any

from demo.world.ecs_simulator import ImageRegistry
from demo.world.local_aws import ACCOUNT, REGION

ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def ecr_image(repository: str, tag: str) -> str:
    """`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG`, as a task definition names it."""
    return f"{ECR_HOST}/{repository}:{tag}"


def manifest(build: str) -> str:
    """A Docker image manifest (schema 2) whose layers differ per build, so every build has its own digest."""
    layer = "sha256:" + hashlib.sha256(build.encode()).hexdigest()
    config = "sha256:" + hashlib.sha256(f"config {build}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1470, "digest": config},
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2811478, "digest": layer}
            ],
        }
    )


class EcrRegistry:
    """One repository's pushes and expiries, in moto's ECR and in the simulator's tag table."""

    def __init__(self, ecr: Any, repository: str, tags: ImageRegistry | None = None) -> None:
        self.ecr = ecr
        self.repository = repository
        self.tags = tags if tags is not None else ImageRegistry()
        with suppress(ecr.exceptions.RepositoryAlreadyExistsException):
            ecr.create_repository(repositoryName=repository)

    def push(self, tag: str, build: str | None = None) -> str:
        """CI pushes a build under `tag`; returns the digest ECR computed for it."""
        response = self.ecr.put_image(
            repositoryName=self.repository, imageManifest=manifest(build or tag), imageTag=tag
        )
        digest = str(response["image"]["imageId"]["imageDigest"])
        self.tags.push(ecr_image(self.repository, tag), digest)
        return digest

    def expire(self, digest: str) -> None:
        """What a lifecycle rule does to an image it selects: gone, by digest."""
        response = self.ecr.batch_delete_image(repositoryName=self.repository, imageIds=[{"imageDigest": digest}])
        if not response.get("imageIds"):
            raise RuntimeError(f"{self.repository}@{digest} was not deleted: {response.get('failures')}")

    def exists(self, digest: str) -> bool:
        images = self.ecr.list_images(repositoryName=self.repository)["imageIds"]
        return any(image.get("imageDigest") == digest for image in images)
