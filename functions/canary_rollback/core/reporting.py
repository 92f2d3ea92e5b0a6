"""Reporting after an answer, bounded by the invocation's deadline (docs/design.md, "Answers on time").

Once the hook or the rollback has its answer, the audit record, the metrics and the notification follow. They must
not hold the answer past the function's timeout: a hook that times out is read by ECS as FAILED (and a healthy
deployment is rolled back), and a rollback that times out is retried as if it had not happened. So they run in a
thread that is waited for only until the deadline; whatever is still unfinished then is logged and left to finish
(or not) in the background, and the answer is returned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from canary_rollback.core.errors import ReportingError
from canary_rollback.core.observability import logger

Step = tuple[str, Callable[[], object]]  # (what it does, for the log; the call)
T = TypeVar("T")


def invocation_deadline(context: object, margin_seconds: float) -> float | None:
    """The monotonic instant `margin_seconds` before the invocation ends; None outside Lambda (the CLI, a test
    without a context): then reporting runs inline, as long as it takes."""
    if not hasattr(context, "get_remaining_time_in_millis"):
        return None
    remaining = int(context.get_remaining_time_in_millis()) / 1000
    return time.monotonic() + max(remaining - margin_seconds, 0.0)


def report_within(
    deadline: float | None, steps: Sequence[Step], *, best_effort: bool, prefix: str = "", **context: Any
) -> None:
    """Run `steps` in order, waiting for them no later than `deadline` (monotonic; None: inline, no limit).

    best_effort: a step's failure is logged and the next step runs; an answer already acted on stands whatever
    happens here. Otherwise (nothing has been acted on yet, so a retry loses nothing) the first failure is
    raised, and steps unfinished at the deadline raise ReportingError: Lambda retries before its timeout would.
    `prefix` starts the log line of a failed step ("rollback reached ECS but could not ...").
    """
    progress = _Progress(steps, best_effort, prefix, context)
    if deadline is None:
        progress.run()
    else:
        worker = threading.Thread(target=progress.run, name="reporting", daemon=True)
        worker.start()
        worker.join(timeout=max(deadline - time.monotonic(), 0.0))
        if worker.is_alive():
            logger.warning(
                "reporting did not finish before the deadline; the answer is returned without waiting for it",
                extra={"unfinished": progress.current, **context},
            )
            if not best_effort:
                raise ReportingError(f"could not {progress.current} before the invocation's deadline")
            return
    if progress.error is not None:
        raise progress.error


class _Progress:
    """The reporting thread's work and what it got to: the step under way, and a failure to raise."""

    def __init__(self, steps: Sequence[Step], best_effort: bool, prefix: str, context: dict[str, Any]) -> None:
        self._steps = steps
        self._best_effort = best_effort
        self._prefix = prefix
        self._context = context
        self.current = "start reporting"
        self.error: Exception | None = None

    def run(self) -> None:
        for what, step in self._steps:
            self.current = what
            try:
                step()
            except Exception as exc:
                if not self._best_effort:
                    self.error = exc
                    return
                # The answer stands; the log keeps the evidence.
                logger.exception(f"{self._prefix}could not {what}; the answer stands", extra=self._context)
        self.current = "finish reporting"


def result_within(deadline: float | None, what: str, call: Callable[[], T]) -> T:
    """`call()`'s result, waited for no later than `deadline` (None: inline); ReportingError when it has not
    answered by then (the call goes on in the background). For a read an answer can do without (the hook's
    pause flag): the caller decides what no answer means."""
    if deadline is None:
        return call()
    outcome: list[T] = []
    failure: list[Exception] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # handed to the caller below
            failure.append(exc)

    worker = threading.Thread(target=run, name=what, daemon=True)
    worker.start()
    worker.join(timeout=max(deadline - time.monotonic(), 0.0))
    if failure:
        raise failure[0]
    if not outcome:
        raise ReportingError(f"could not {what} before the deadline")
    return outcome[0]
