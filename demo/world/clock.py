"""The world's simulated time: one wall clock every function reads, and the deployment watch's timer on it.

A deployment watch runs inside ProbeFunction's invocation and sleeps between rounds. Here its sleep advances the
simulated clock in 10-second ticks and calls `on_tick` at each, so whoever drives the world can move the rest of
it meanwhile (rollouts, scheduled runs, alarm evaluation), exactly as if the watch ran in a Lambda of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

TICK_SECONDS = 10  # the watch's interval and the fast alarm's period: the world moves on this grid


class SimClock:
    """A wall clock that only moves when told to; functions read it as `clock()`."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def yesterday_evening() -> datetime:
    """18:30 UTC yesterday: the incident's evening, in the past so that the simulated hour never runs ahead of
    the real one."""
    return (datetime.now(UTC) - timedelta(days=1)).replace(hour=18, minute=30, second=0, microsecond=0)


class SimTimer:
    """The watch's `monotonic` and `sleep`, on the simulated clock: a sleep walks the 10-second grid."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.on_tick: Callable[[], None] | None = None

    def monotonic(self) -> float:
        """Seconds on the simulated clock."""
        return self.clock().timestamp()

    def sleep(self, seconds: float) -> None:
        """The world goes on, one tick at a time; a tick may deliver an event whose own watch moves the clock
        further, so the sleep ends at its target or later, never earlier."""
        target = self.clock() + timedelta(seconds=seconds)
        while True:
            now = self.clock()
            step = TICK_SECONDS - (now.second % TICK_SECONDS) - now.microsecond / 1e6
            tick = now + timedelta(seconds=step)
            if tick > target:
                break
            self.clock.set(tick)
            if self.on_tick is not None:
                self.on_tick()
        if self.clock() < target:
            self.clock.set(target)
