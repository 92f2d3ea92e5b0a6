"""The demo's timeline as a picture (PNG and SVG): per probe, pass or fail over simulated time (scheduled runs and
watch rounds); both rollback alarms' states; the revision ECS runs; deployments, decisions and rollbacks as marks.

matplotlib with its headless Agg backend, a development dependency only (never in functions/). The data model is
plain values the scenario fills in as the world moves; drawing it is one call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

MarkKind = Literal["deployment", "decision", "rollback"]
LineStyle = Literal["-", "--", ":"]

_STATE_COLOURS = {"OK": "#2e7d32", "ALARM": "#c62828", "INSUFFICIENT_DATA": "#bdbdbd"}
_MARK_STYLES: dict[str, tuple[str, LineStyle]] = {
    "deployment": ("#1565c0", "--"),
    "decision": ("#ef6c00", ":"),
    "rollback": ("#6a1b9a", "-"),
}
LEAD_IN = timedelta(minutes=4)
_REVISION_COLOURS = ("#90caf9", "#ffcc80", "#a5d6a7", "#ce93d8", "#fff59d", "#b0bec5", "#f48fb1")


@dataclass(frozen=True)
class ProbeSample:
    at: datetime
    probe: str
    ok: bool
    round: bool  # a deployment-watch round (10 s); False: a scheduled run (1 min)


@dataclass(frozen=True)
class Mark:
    at: datetime
    kind: MarkKind
    label: str


@dataclass
class Chart:
    """What the picture shows; the scenario appends as the world moves."""

    title: str
    samples: list[ProbeSample] = field(default_factory=list)
    alarm_states: dict[str, list[tuple[datetime, str]]] = field(default_factory=dict)  # alarm -> its changes
    revisions: list[tuple[datetime, str]] = field(default_factory=list)  # when ECS started running which revision
    marks: list[Mark] = field(default_factory=list)

    def probe(self, at: datetime, probe: str, ok: bool, *, round: bool = False) -> None:
        self.samples.append(ProbeSample(at, probe, ok, round))

    def alarm(self, at: datetime, name: str, state: str) -> None:
        changes = self.alarm_states.setdefault(name, [])
        if not changes or changes[-1][1] != state:
            changes.append((at, state))

    def revision(self, at: datetime, label: str) -> None:
        if not self.revisions or self.revisions[-1][1] != label:
            self.revisions.append((at, label))

    def mark(self, at: datetime, kind: MarkKind, label: str) -> None:
        self.marks.append(Mark(at, kind, label))

    def span(self) -> tuple[datetime, datetime]:
        moments = [s.at for s in self.samples] + [m.at for m in self.marks] + [at for at, _ in self.revisions]
        moments += [at for changes in self.alarm_states.values() for at, _ in changes]
        if not moments:
            raise ValueError("an empty timeline has nothing to draw")
        start, end = min(moments), max(moments)
        if self.marks:  # the quiet hour before the first deployment is one line: show its last minutes only
            start = max(start, min(m.at for m in self.marks) - LEAD_IN)
        return start - timedelta(seconds=30), end + timedelta(seconds=60)


def draw(chart: Chart, directory: Path, name: str = "timeline") -> tuple[Path, Path]:
    """Write `<name>.png` and `<name>.svg` into `directory`; returns both paths."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display, the same bytes everywhere
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    # matplotlib's date helpers carry no annotations: typed once here.
    num = cast(Callable[[datetime], float], mdates.date2num)
    date_formatter = cast(Callable[[str], Any], mdates.DateFormatter)
    start, end = chart.span()
    probes = sorted({s.probe for s in chart.samples})
    alarms = sorted(chart.alarm_states)
    heights = [0.9, max(len(probes), 1) * 0.55 + 0.6, max(len(alarms), 1) * 0.5 + 0.5, 0.9]
    figure, (mark_axes, probe_axes, alarm_axes, revision_axes) = plt.subplots(
        4, 1, figsize=(13, 1.8 + sum(heights)), sharex=True, gridspec_kw={"height_ratios": heights}
    )

    # Probes: a square per scheduled run, a dot per watch round; green pass, red fail.
    shown = [s for s in chart.samples if s.at >= start]
    for row, probe in enumerate(probes):
        for is_round, marker, size in ((False, "s", 70), (True, "o", 18)):
            chosen = [s for s in shown if s.probe == probe and s.round == is_round]
            if chosen:
                probe_axes.scatter(
                    [num(s.at) for s in chosen],
                    [row] * len(chosen),
                    c=["#2e7d32" if s.ok else "#c62828" for s in chosen],
                    marker=marker,
                    s=size,
                    zorder=3,
                )
    probe_axes.set_yticks(range(len(probes)), probes)
    probe_axes.set_ylim(-0.7, len(probes) - 0.3)
    probe_axes.set_title("probes: ■ scheduled run  ● watch round  (green pass, red fail)", loc="left", fontsize=9)

    # Alarms: their state over time.
    for row, alarm in enumerate(alarms):
        changes = chart.alarm_states[alarm]
        for index, (at, state) in enumerate(changes):
            until = changes[index + 1][0] if index + 1 < len(changes) else end
            alarm_axes.broken_barh(
                [(num(at), num(until) - num(at))],
                (row - 0.35, 0.7),
                facecolors=_STATE_COLOURS.get(state, "#9e9e9e"),
            )
    alarm_axes.set_yticks(range(len(alarms)), alarms)
    alarm_axes.set_ylim(-0.6, len(alarms) - 0.4)
    alarm_axes.set_title("rollback alarms", loc="left", fontsize=9)

    # The revision ECS runs.
    colours: dict[str, str] = {}
    for index, (at, label) in enumerate(chart.revisions):
        until = chart.revisions[index + 1][0] if index + 1 < len(chart.revisions) else end
        colour = colours.setdefault(label, _REVISION_COLOURS[len(colours) % len(_REVISION_COLOURS)])
        left, width = num(at), num(until) - num(at)
        revision_axes.broken_barh([(left, width)], (-0.4, 0.8), facecolors=colour, edgecolors="#455a64")
        seen_from = max(left, num(start))  # label the visible part of the bar
        middle = seen_from + (left + width - seen_from) / 2
        revision_axes.text(middle, 0, label, ha="center", va="center", fontsize=8, clip_on=True)
    revision_axes.set_yticks([0], ["ECS runs"])
    revision_axes.set_ylim(-0.6, 0.6)
    revision_axes.set_title("the revision the service runs", loc="left", fontsize=9)

    # Marks across every panel, labelled in a strip of their own above the probes.
    for number, mark in enumerate(sorted(chart.marks, key=lambda m: m.at)):
        colour, style = _MARK_STYLES[mark.kind]
        x = num(mark.at)
        for axes in (mark_axes, probe_axes, alarm_axes, revision_axes):
            axes.axvline(x, color=colour, linestyle=style, linewidth=1.2, zorder=1)
        mark_axes.text(x, 2 - number % 3, f" {mark.label}", fontsize=7.5, color=colour, va="center", clip_on=True)
    mark_axes.set_ylim(-0.6, 2.6)
    mark_axes.set_yticks([])
    for side in ("top", "right", "left"):
        mark_axes.spines[side].set_visible(False)
    kinds = [
        Line2D([0], [0], color=_MARK_STYLES[kind][0], linestyle=_MARK_STYLES[kind][1], label=kind)
        for kind in ("deployment", "decision", "rollback")
    ]
    states = [Patch(facecolor=colour, label=f"alarm {state}") for state, colour in _STATE_COLOURS.items()]
    figure.legend(handles=kinds + states, loc="lower center", ncols=6, fontsize=8, frameon=False)

    revision_axes.set_xlim(num(start), num(end))
    revision_axes.xaxis.set_major_formatter(date_formatter("%H:%M"))
    revision_axes.set_xlabel("simulated time (UTC)")
    for axes in (probe_axes, alarm_axes, revision_axes):
        axes.grid(axis="x", color="#eeeeee", zorder=0)
    figure.suptitle(chart.title, x=0.01, ha="left", fontsize=11)
    figure.tight_layout(rect=(0, 0.04, 1, 1))

    directory.mkdir(parents=True, exist_ok=True)
    png, svg = directory / f"{name}.png", directory / f"{name}.svg"
    figure.savefig(png, dpi=110)
    figure.savefig(svg, metadata={"Date": None})  # no timestamp: the same drawing gives the same file
    plt.close(figure)
    return png, svg
