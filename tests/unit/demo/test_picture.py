"""The demo's picture: PNG and SVG from a timeline, headless (demo/picture.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from demo.picture import Timeline, draw
from tests.unit.builders import T0


def test_a_timeline_is_drawn_as_png_and_svg_with_its_probes_alarms_revisions_and_marks(tmp_path: Path) -> None:
    timeline = Timeline("incident")
    timeline.revision(T0, ":31")
    timeline.alarm(T0, "FastRollbackAlarm", "OK")
    timeline.probe(T0, "mlflow-proxy", True)
    timeline.mark(T0 + timedelta(minutes=1), "deployment", "deploy :34")
    timeline.revision(T0 + timedelta(minutes=1), ":34")
    timeline.probe(T0 + timedelta(minutes=1, seconds=10), "mlflow-proxy", False, round=True)
    timeline.alarm(T0 + timedelta(minutes=1, seconds=30), "FastRollbackAlarm", "ALARM")
    timeline.mark(T0 + timedelta(minutes=1, seconds=30), "rollback", ":34 -> :35")

    png, svg = draw(timeline, tmp_path)

    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    text = svg.read_text()
    for label in ("mlflow-proxy", "FastRollbackAlarm", ":31", ":34", "deploy :34", ":34 -&gt; :35"):
        assert label in text, label


def test_repeated_states_are_one_change() -> None:
    timeline = Timeline("t")
    timeline.alarm(T0, "RollbackAlarm", "OK")
    timeline.alarm(T0 + timedelta(minutes=1), "RollbackAlarm", "OK")
    timeline.revision(T0, ":31")
    timeline.revision(T0 + timedelta(minutes=1), ":31")
    assert timeline.alarm_states == {"RollbackAlarm": [(T0, "OK")]}
    assert timeline.revisions == [(T0, ":31")]


def test_an_empty_timeline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to draw"):
        draw(Timeline("empty"), tmp_path)
