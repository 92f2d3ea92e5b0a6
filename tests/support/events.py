"""The sample events users pass to `sam local invoke` (events/*.json), and the EMF a handler prints."""

from __future__ import annotations

import json
from typing import Any

from tests.support.paths import EVENTS


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of events/NAME.json: callers may edit theirs."""
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


def emf_lines(text: str) -> list[dict[str, Any]]:
    """The EMF blobs among captured stdout lines."""
    blobs = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs
