"""The operator CLI against a moto server and loopback endpoints."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from canary_rollback.cli import main
from demo.world import CLUSTER, SERVICE
from tests.support.invoke import ROLLBACK, invoke
from tests.support.servers import LoopbackServer
from tests.support.world import GUARDED, alarm_event, break_with_34, make_known_good, run_cli, store


def test_status_shows_current_known_good_and_streak(world: Any) -> None:
    make_known_good(world)
    code, text = run_cli(world, "status")
    assert code == 0
    assert "current        hokusai-api-development:31  (steady)" in text
    assert "known-good     hokusai-api-development:31  since" in text
    assert "candidate      hokusai-api-development:31  streak 3" in text
    assert "last rollback  never" in text
    code, raw = run_cli(world, "--json", "status")
    data = json.loads(raw)
    assert data["known_good"]["arn"] == world.revisions[31]
    assert data["steady"] is True


def test_history_lists_decisions_newest_first(world: Any) -> None:
    make_known_good(world)
    break_with_34(world)
    invoke(ROLLBACK, alarm_event(world))
    code, text = run_cli(world, "history")
    assert code == 0
    lines = text.splitlines()
    assert "rolled_back  -> hokusai-api-development:31" in lines[0]
    assert "promotion  hokusai-api-development:31" in lines[-1]
    code, text = run_cli(world, "status")
    assert "last rollback  hokusai-api-development:34 -> hokusai-api-development:31" in text


def test_mark_known_good_bootstraps_and_is_audited_then_rollback_dry_run_targets_it(world: Any) -> None:
    break_with_34(world)  # nothing seen healthy yet
    code, text = run_cli(world, "rollback", "--dry-run")
    assert code == 1
    assert "if the alarm fired now: no_known_good" in text

    # :30 names its image by tag and does not run: refused unless the operator accepts an unpinned known-good
    code, text = run_cli(world, "mark-known-good", "hokusai-api-development:30")
    assert code == 2
    code, text = run_cli(
        world,
        "mark-known-good",
        "hokusai-api-development:30",
        "--reason",
        "last release before the change",
        "--allow-unpinned",
    )
    assert code == 0
    assert f"known-good of {CLUSTER}/{SERVICE} is now {world.revisions[30]}" in text
    state = store(world).load(GUARDED)
    assert state.known_good is not None
    assert state.known_good.arn == world.revisions[30]
    assert "last release before the change" in state.known_good.reason
    history = store(world).history(GUARDED)
    assert history[0]["kind"] == "manual-known-good"

    code, raw = run_cli(world, "--json", "rollback", "--dry-run")
    assert code == 0
    decision = json.loads(raw)
    assert (decision["action"], decision["current"], decision["target"]) == (
        "dry_run",
        world.revisions[34],
        world.revisions[30],
    )
    assert world.current_revision() == world.revisions[34]  # a dry run never acts


def test_mark_known_good_of_a_revision_that_does_not_exist_fails_clearly(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run_cli(world, "mark-known-good", "hokusai-api-development:99")
    assert code == 3
    assert "DescribeTaskDefinition hokusai-api-development:99 failed" in capsys.readouterr().err


def test_missing_guarded_service_options_are_a_usage_error(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("CLUSTER_NAME", "SERVICE_NAME", "STATE_TABLE"):
        monkeypatch.delenv(var, raising=False)
    assert main(["status"], out=io.StringIO()) == 2
    assert "--cluster, --service, --table required" in capsys.readouterr().err


def test_unknown_service_is_an_aws_error(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    code = main(["status", "--cluster", CLUSTER, "--service", "nope", "--table", world.stack.table_name], out=out)
    assert code == 3
    assert "ECS service hokusai-development/nope not found" in capsys.readouterr().err


def _config(tmp_path: Path, specs: list[dict[str, Any]]) -> Path:
    path = tmp_path / "probes.json"
    path.write_text(json.dumps(specs))
    return path


def test_probe_prints_a_table_and_exits_1_on_failure(http_server: LoopbackServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{http_server.port}"
    config = _config(
        tmp_path,
        [
            {"name": "mlflow-proxy", "url": f"{base}/status/404", "expect_status": [401]},
            {"name": "auth-service", "url": f"{base}/status/401", "method": "POST", "expect_status": [401]},
        ],
    )
    out = io.StringIO()
    assert main(["probe", "--config", str(config)], out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["probe", "ok", "status", "latency_ms", "reason"]
    assert lines[1].split()[:3] == ["mlflow-proxy", "NO", "404"]
    assert "status (expected [401])" in lines[1]
    assert lines[2].split()[:3] == ["auth-service", "yes", "401"]


def test_probe_with_a_broken_config_file_names_probe_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, [{"name": "p", "url": "http://127.0.0.1:1/", "timeout": 5}])
    assert main(["probe", "--config", str(config)]) == 2
    assert "probe 'p': field 'timeout' is not a known field" in capsys.readouterr().err
    assert main(["probe", "--config", str(tmp_path / "missing.json")]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_installed_console_script(http_server: LoopbackServer, tmp_path: Path) -> None:
    script = shutil.which("canary-rollback", path=str(Path(sys.executable).parent))
    assert script is not None, "the package installs a canary-rollback console script"
    config = _config(tmp_path, [{"name": "ok", "url": f"http://127.0.0.1:{http_server.port}/status/200"}])
    result = subprocess.run(
        [script, "--json", "probe", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["ok"] is True
