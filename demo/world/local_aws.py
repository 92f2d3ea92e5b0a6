"""The embedded AWS: a moto server in this process, reached through AWS_ENDPOINT_URL like any endpoint.

In-process on purpose: the ECS rollout simulator edits moto's backend directly (moto models no ECS rollouts).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCOUNT = "123456789012"

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any credentials
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


_WRITES_LOCK = threading.Lock()


def _atomic(write: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(write)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _WRITES_LOCK:
            return write(*args, **kwargs)

    locked.__dict__["atomic"] = True
    return locked


def make_dynamodb_writes_atomic() -> None:
    """DynamoDB evaluates a write's condition and applies it atomically; moto's threaded server does not (two
    concurrent conditional UpdateItems can both pass). One lock around moto's item writes restores the rule the
    code's optimistic versions rely on."""
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        write = getattr(DynamoDBBackend, name)
        if not getattr(write, "atomic", False):
            setattr(DynamoDBBackend, name, _atomic(write))


class LocalAws:
    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        make_dynamodb_writes_atomic()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""

    def start(self) -> LocalAws:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def environment(self) -> dict[str, str]:
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310  # loopback moto server
            pass

    def stop(self) -> None:
        self._server.stop()


@contextmanager
def local_aws_environment() -> Iterator[LocalAws]:
    """Start moto and point every boto3 client of this process at it; restore the environment afterwards."""
    aws = LocalAws().start()
    saved = {key: os.environ.get(key) for key in aws.environment()}
    os.environ.update(aws.environment())
    try:
        yield aws
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        aws.stop()
