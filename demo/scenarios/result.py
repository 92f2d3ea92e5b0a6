"""What a scenario found, as values (the tests read these) and as the summary `make demo` prints."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from canary_rollback.watch.run import WatchRound
from demo.scenarios.picture import Chart
from demo.scenarios.timeline import TimelineEntry


@dataclass(frozen=True)
class Decision:
    """One answer of RollbackFunction to an alarm, revisions as the timeline names them (`:31`)."""

    at: datetime
    action: str
    current: str
    target: str
    reason: str


@dataclass(frozen=True)
class Notification:
    subject: str
    message: str


@dataclass(frozen=True)
class Pinning:
    """mutable-tag: what the rollback restored, and what the tag the known-good names resolves to now."""

    restored_image: str  # the image the service's task definition names after the rollback
    tasks_run: tuple[str, ...]  # the image digests its tasks run
    tag_resolves_to: str | None
    tag_breaks_the_route: bool  # an UpdateService to the known-good itself would have pulled the broken image


@dataclass(frozen=True)
class HookAnswer:
    stage: str
    status: str
    evidence: str


@dataclass(frozen=True)
class Gate:
    """blue-green: the simulated deployment, the hook's answers, and what production and the test listener saw."""

    deployment: str  # completed | rolled_back
    hook_answers: tuple[HookAnswer, ...]
    production_saw: tuple[str, ...]  # revisions serving production at each observation, sorted, distinct
    test_listener: tuple[tuple[str, bool], ...]  # (revision, MLflow route answering) each time it was switched
    rollback_alarm: str  # its state after the deployment


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    ok: bool
    verdict: str
    service_now_on: str
    timeline: tuple[TimelineEntry, ...]
    notifications: tuple[Notification, ...]
    decisions: tuple[Decision, ...] = ()
    promoted: tuple[str, ...] = ()  # revisions promoted to known-good, in order
    watch_rounds: tuple[WatchRound, ...] = ()  # every deployment watch round, as the watch logged it
    fault_at: datetime | None = None  # when the fault reached production
    detected_seconds: int | None = None  # fault -> the first alarm in ALARM
    decided_seconds: int | None = None  # fault -> the first decision
    recovery_seconds: float | None = None  # the RecoverySeconds metric: decision -> first all-pass steady run
    function_warnings: tuple[str, ...] = ()  # the functions' records at WARNING and above
    pinning: Pinning | None = None
    gate: Gate | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)  # what `make demo` prints under "Summary"
    chart: Chart | None = field(default=None, compare=False)  # the timeline as a picture (`make demo` draws it)

    def events(self) -> list[str]:
        return [entry.event for entry in self.timeline]


def format_report(result: ScenarioResult, printer: Callable[[str], None] = print) -> None:
    printer("")
    printer("Summary")
    for key, value in result.summary.items():
        if isinstance(value, list):
            printer(f"  {key + ':':<16}")
            for item in value or ["(nothing)"]:
                printer(f"    - {item}")
        else:
            printer(f"  {key + ':':<16} {value}")
    printer("")
    printer(("LOOP CLOSED: " if result.ok else "LOOP NOT CLOSED: ") + result.verdict)
