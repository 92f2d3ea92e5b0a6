"""Images in moto's ECR: moto computes each digest from the manifest `put_image` is given, as ECR does, and
`batch_delete_image` by digest deletes it (what an ECR lifecycle rule does to an untagged image)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import boto3

from demo.local_aws import ACCOUNT, REGION

ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


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


def push_image(repository: str, tag: str, build: str | None = None) -> str:
    """Push (creating the repository if needed) and return the digest ECR computed."""
    ecr = boto3.client("ecr")
    with suppress(ecr.exceptions.RepositoryAlreadyExistsException):
        ecr.create_repository(repositoryName=repository)
    response = ecr.put_image(repositoryName=repository, imageManifest=manifest(build or tag), imageTag=tag)
    return str(response["image"]["imageId"]["imageDigest"])


def expire(repository: str, digest: str) -> None:
    """What a lifecycle rule ("expire untagged images after N days") does to a pinned digest."""
    response = boto3.client("ecr").batch_delete_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    assert response["imageIds"], response["failures"]


def ecr_image(repository: str, tag: str) -> str:
    return f"{ECR_HOST}/{repository}:{tag}"


@contextmanager
def silent_socket() -> Iterator[int]:
    """A loopback port that accepts connections and never answers: an API that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # the kernel completes handshakes into the backlog; nobody ever reads
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


def register_with_image(base_arn: str, image: str) -> str:
    """A new revision of `base_arn`'s family that names `image` (what CI registers for a new build)."""
    ecs = boto3.client("ecs")
    base = ecs.describe_task_definition(taskDefinition=base_arn)["taskDefinition"]
    fields = ("family", "containerDefinitions", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu")
    request = {key: base[key] for key in (*fields, "memory") if key in base}
    for container in request["containerDefinitions"]:
        container["image"] = image
    return str(ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"])
