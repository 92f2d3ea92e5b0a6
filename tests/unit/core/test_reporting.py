"""Reporting after an answer is waited for only until the deadline (docs/design.md, "Answers on time")."""

from __future__ import annotations

import threading
import time

import pytest

from canary_rollback.core.errors import ReportingError, StateStoreError
from canary_rollback.core.reporting import invocation_deadline, report_within


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_best_effort_logs_a_failed_step_and_runs_the_next() -> None:
    done: list[str] = []

    def fails() -> None:
        raise StateStoreError("table gone")

    report_within(None, [("audit", fails), ("notify", lambda: done.append("notify"))], best_effort=True)
    assert done == ["notify"]


def test_before_any_action_the_first_failure_is_raised_and_nothing_after_it_runs() -> None:
    done: list[str] = []

    def fails() -> None:
        raise StateStoreError("table gone")

    with pytest.raises(StateStoreError, match="table gone"):
        report_within(
            time.monotonic() + 60, [("audit", fails), ("notify", lambda: done.append("x"))], best_effort=False
        )
    assert done == []


def test_a_hanging_step_is_not_waited_for_past_the_deadline() -> None:
    # Given a step that blocks until released (a socket that never answers)
    started, release = threading.Event(), threading.Event()

    def hangs() -> None:
        started.set()
        release.wait()

    # When the deadline has already passed: the answer's reporting returns at once, best effort
    report_within(time.monotonic(), [("send the notification", hangs)], best_effort=True)
    assert not release.is_set()

    # and, before any action, says which step did not finish
    with pytest.raises(ReportingError, match="could not send the notification before the invocation's deadline"):
        report_within(time.monotonic() + 0.05, [("send the notification", hangs)], best_effort=False)
    assert started.is_set()
    release.set()


def test_finished_steps_are_waited_for() -> None:
    done: list[str] = []
    report_within(time.monotonic() + 60, [("audit", lambda: done.append("audit"))], best_effort=True)
    assert done == ["audit"]


def test_the_deadline_is_the_remaining_time_less_the_margin_and_none_outside_lambda() -> None:
    assert invocation_deadline(object(), 2.0) is None
    before = time.monotonic()
    deadline = invocation_deadline(Context(10_000), 2.0)
    assert deadline is not None
    assert before + 8.0 <= deadline <= time.monotonic() + 8.0
    late = invocation_deadline(Context(1_000), 2.0)  # less left than the margin: no wait at all
    assert late is not None
    assert late <= time.monotonic()
