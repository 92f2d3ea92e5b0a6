"""The tests' one simulated clock: the monotonic time and the wall clock a function reads, moved only when the
code under test sleeps, so a five-minute deployment watch runs in milliseconds and its timing is exact."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol


class WallClock(Protocol):
    """What a function's runtime reads as `clock` (a world's clock): now, and a way to move it."""

    def __call__(self) -> datetime: ...

    def set(self, moment: datetime) -> None: ...


class SimulatedTime:
    """`sleep` moves both clocks; `at(seconds, action)` runs `action` when the sleeping reaches that moment
    (an event arriving mid-watch, a rollout finishing), as if it happened in another invocation meanwhile."""

    def __init__(self, wall: WallClock, monotonic_start: float = 5000.0) -> None:
        self.wall = wall
        self.now = monotonic_start
        self.started = monotonic_start
        self.slept: list[float] = []
        self._actions: list[tuple[float, Callable[[], None]]] = []

    def install(self, runtime: Any) -> SimulatedTime:
        """Make a Runtime sleep and read monotonic time here (its wall clock is `wall` already)."""
        runtime.monotonic = self.monotonic
        runtime.sleep = self.sleep
        return self

    def elapsed(self) -> float:
        """Simulated seconds since this clock was made."""
        return self.now - self.started

    def at(self, seconds_from_now: float, action: Callable[[], None]) -> None:
        self._actions.append((self.now + seconds_from_now, action))

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        target = self.now + seconds
        while True:
            due = sorted((when, i) for i, (when, _) in enumerate(self._actions) if when <= target)
            if not due:
                break
            when, index = due[0]
            _, action = self._actions.pop(index)
            self._advance(when - self.now)
            action()
        self._advance(target - self.now)

    def _advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall.set(self.wall() + timedelta(seconds=seconds))
