"""The functions' structured logs, read the way an operator reads them in CloudWatch Logs.

The product tells nobody in-process about a deployment watch's rounds: it logs each one ("watch round", with
its index, slot time, verdict and failures) and publishes its metrics. The world learns of rounds from that
record, so the demo's timeline shows what a deployed watch would show in its log group, and keeps every record
at WARNING or above (a demo run that logs none prints no log line without --verbose).

Listening needs INFO records. When the logger was set higher, the listener lowers it and raises the handler
that prints to the old level: what is printed does not change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from canary_rollback.core.observability import logger
from canary_rollback.watch.run import WatchRound

WATCH_ROUND_MESSAGE = "watch round"  # watch/run.py's record of one round


def watch_round_from(record: logging.LogRecord) -> WatchRound:
    fields: dict[str, Any] = record.__dict__
    return WatchRound(
        index=int(fields["round"]),
        at=datetime.fromisoformat(str(fields["at"])),
        ok=bool(fields["ok"]),
        failures=tuple(str(failure) for failure in fields["failures"]),
    )


class FunctionLogs(logging.Handler):
    """Attach with `listen()`, detach with `close()`; `on_watch_round` is told of each round as it is logged."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.on_watch_round: Callable[[WatchRound], None] | None = None
        self.warnings: list[str] = []  # "LEVEL message" of each record at WARNING or above
        self._restore: tuple[int, int] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # Never swallowed: a failing observer fails the invocation that logged, as a bug in the demo should.
        if record.levelno >= logging.WARNING:
            self.warnings.append(f"{record.levelname} {record.getMessage()}")
        if record.getMessage() == WATCH_ROUND_MESSAGE and self.on_watch_round is not None:
            self.on_watch_round(watch_round_from(record))

    def listen(self) -> FunctionLogs:
        functions = logging.getLogger(logger.name)
        printing = logger.registered_handler
        self._restore = (functions.level, printing.level)
        effective = functions.getEffectiveLevel()
        if effective > logging.INFO:
            printing.setLevel(max(printing.level, effective))
            functions.setLevel(logging.INFO)
        functions.addHandler(self)
        return self

    def close(self) -> None:
        functions = logging.getLogger(logger.name)
        functions.removeHandler(self)
        if self._restore is not None:
            functions.setLevel(self._restore[0])
            logger.registered_handler.setLevel(self._restore[1])
            self._restore = None
        super().close()
