"""Where the repository's own files are: the template, the sample events, the state items of old releases."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
STATE_ITEMS = REPO / "tests" / "fixtures" / "state_items"
