"""Images in moto's ECR: moto computes each digest from the manifest `put_image` is given, as ECR does, and
`batch_delete_image` by digest deletes it (what an ECR lifecycle rule does to an untagged image)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from demo.world.ecr import EcrRegistry, ecr_image
from tests.support.hanging import hanging_endpoint

__all__ = ["ecr_image", "expire", "push_image", "register_with_image", "silent_socket"]


def push_image(repository: str, tag: str, build: str | None = None) -> str:
    """Push (creating the repository if needed) and return the digest ECR computed."""
    return EcrRegistry(boto3.client("ecr"), repository).push(tag, build)


def expire(repository: str, digest: str) -> None:
    """What a lifecycle rule ("expire untagged images after N days") does to a pinned digest."""
    EcrRegistry(boto3.client("ecr"), repository).expire(digest)


@contextmanager
def silent_socket() -> Iterator[int]:
    """A loopback port that accepts connections and never answers: an API that hangs (the port of
    `hanging_endpoint`)."""
    with hanging_endpoint() as url:
        yield int(url.rsplit(":", 1)[1])


def register_with_image(base_arn: str, image: str) -> str:
    """A new revision of `base_arn`'s family that names `image` (what CI registers for a new build)."""
    ecs = boto3.client("ecs")
    base: dict[str, Any] = dict(ecs.describe_task_definition(taskDefinition=base_arn)["taskDefinition"])
    fields = ("family", "containerDefinitions", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu")
    request = {key: base[key] for key in (*fields, "memory") if key in base}
    for container in request["containerDefinitions"]:
        container["image"] = image
    return str(ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"])
