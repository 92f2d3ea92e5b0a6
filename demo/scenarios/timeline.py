"""The story a scenario tells: what happened when, on the simulated clock, for people."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from demo.world.clock import SimClock


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    event: str
    evidence: str


class Timeline:
    """Entries in the order they happened; `on_entry` sees each as it is recorded (`make demo` prints it)."""

    def __init__(self, clock: SimClock, on_entry: Callable[[TimelineEntry], None] | None = None) -> None:
        self._clock = clock
        self.on_entry = on_entry
        self.entries: list[TimelineEntry] = []

    def record(self, event: str, evidence: str = "") -> None:
        entry = TimelineEntry(self._clock(), event, evidence)
        self.entries.append(entry)
        if self.on_entry is not None:
            self.on_entry(entry)

    def first(self, predicate: Callable[[TimelineEntry], bool]) -> TimelineEntry | None:
        return next((entry for entry in self.entries if predicate(entry)), None)
