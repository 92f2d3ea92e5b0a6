"""Every notification the demo sends is a structured decision that validates against the published schema
(docs/schemas/decision-1.schema.json), and every scenario draws its timeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from canary_rollback.core.observability import logger
from demo.__main__ import main
from demo.scenarios import SCENARIOS, run
from demo.scenarios.picture import draw
from tests.support.decisions import assert_valid_decision

pytestmark = pytest.mark.usefixtures("aws", "handlers_reset")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_notification_the_demo_sends_validates_and_every_scenario_draws_its_timeline(
    name: str, tmp_path: Path
) -> None:
    result = run(name)

    # The demo's stack subscribes a queue to its topic: each message is the `sqs` rendering, the decision.
    assert result.notifications, f"{name} sent no notification"
    for notification in result.notifications:
        decision = json.loads(notification.message)
        assert_valid_decision(decision)
        assert "update-service" not in notification.message
    actions = {json.loads(n.message)["action"] for n in result.notifications}
    assert actions & {"rolled_back", "dry_run", "no_known_good", "already_known_good", "gate_failed"}

    assert result.chart is not None
    png, svg = draw(result.chart, tmp_path, name)
    assert png.stat().st_size > 10_000
    assert "mlflow-proxy" in svg.read_text()


def test_make_demo_prints_where_the_picture_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    level = logger.log_level
    try:
        assert main(["--scenario", "incident", "--output", str(tmp_path)]) == 0
    finally:
        logger.setLevel(level)  # `make demo` quiets the functions' logs; later tests read them
    printed = capsys.readouterr().out
    line = next(line for line in printed.splitlines() if line.startswith("timeline picture: "))
    png, svg = line.removeprefix("timeline picture: ").split()
    assert Path(png) == tmp_path / "incident-timeline.png"
    assert Path(png).read_bytes().startswith(b"\x89PNG")
    assert Path(svg).read_text().lstrip().startswith("<?xml")
