"""The demo's picture: PNG and SVG from a chart, headless (demo/picture.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from demo.scenarios.picture import Chart, draw
from tests.support.builders import T0


def test_a_chart_is_drawn_as_png_and_svg_with_its_probes_alarms_revisions_and_marks(tmp_path: Path) -> None:
    chart = Chart("incident")
    chart.revision(T0, ":31")
    chart.alarm(T0, "FastRollbackAlarm", "OK")
    chart.probe(T0, "mlflow-proxy", True)
    chart.mark(T0 + timedelta(minutes=1), "deployment", "deploy :34")
    chart.revision(T0 + timedelta(minutes=1), ":34")
    chart.probe(T0 + timedelta(minutes=1, seconds=10), "mlflow-proxy", False, round=True)
    chart.alarm(T0 + timedelta(minutes=1, seconds=30), "FastRollbackAlarm", "ALARM")
    chart.mark(T0 + timedelta(minutes=1, seconds=30), "rollback", ":34 -> :35")

    png, svg = draw(chart, tmp_path)

    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    text = svg.read_text()
    for label in ("mlflow-proxy", "FastRollbackAlarm", ":31", ":34", "deploy :34", ":34 -&gt; :35"):
        assert label in text, label


def test_repeated_states_are_one_change() -> None:
    chart = Chart("t")
    chart.alarm(T0, "RollbackAlarm", "OK")
    chart.alarm(T0 + timedelta(minutes=1), "RollbackAlarm", "OK")
    chart.revision(T0, ":31")
    chart.revision(T0 + timedelta(minutes=1), ":31")
    assert chart.alarm_states == {"RollbackAlarm": [(T0, "OK")]}
    assert chart.revisions == [(T0, ":31")]


def test_an_empty_chart_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to draw"):
        draw(Chart("empty"), tmp_path)
