"""Shared fixtures. Nothing here can reach real AWS: credentials are fake and every client is pointed at a
loopback address (a discard port until a test asks for the moto server)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
os.environ.pop("POWERTOOLS_DEV", None)  # it silences EMF output, which metric tests read
for _var in ("PROBES", "PROBES_PARAMETER", "CLUSTER_NAME", "SERVICE_NAME", "STATE_TABLE", "DRY_RUN"):
    os.environ.pop(_var, None)

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "events"


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Any]:
    from demo.world.local_aws import LocalAws

    aws = LocalAws().start()
    previous = os.environ["AWS_ENDPOINT_URL"]
    os.environ["AWS_ENDPOINT_URL"] = aws.endpoint
    yield aws
    os.environ["AWS_ENDPOINT_URL"] = previous
    aws.stop()


@pytest.fixture
def aws(moto_server: Any) -> Iterator[Any]:
    """A clean moto world for one test."""
    moto_server.reset()
    yield moto_server
    moto_server.reset()


@pytest.fixture
def handlers_reset() -> Iterator[None]:
    """Handlers cache their Runtime per container; give each test a cold start."""
    from canary_rollback.handlers import hook, probe, rollback

    probe.runtime.set(None)
    hook.runtime.set(None)
    rollback.application.set(None)
    yield
    probe.runtime.set(None)
    hook.runtime.set(None)
    rollback.application.set(None)


def emf_lines(text: str) -> list[dict[str, Any]]:
    """The EMF blobs among captured stdout lines."""
    blobs = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


class _JsonLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def json_logs() -> Iterator[list[dict[str, Any]]]:
    """The package's structured log lines, formatted by powertools' own JSON formatter."""
    from canary_rollback.core.observability import logger

    collector = _JsonLines()
    collector.setFormatter(logger.registered_formatter)
    std_logger = logging.getLogger(logger.name)
    std_logger.addHandler(collector)
    yield collector.lines
    std_logger.removeHandler(collector)
