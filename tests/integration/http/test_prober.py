"""The prober against real loopback servers: every failure reason of a probe spec, and real concurrency."""

from __future__ import annotations

import time

import pytest

from canary_rollback.core.probe_spec import parse_probes
from canary_rollback.http.prober import build_session, run_probes
from tests.support.servers import LoopbackServer


def _run(*specs: dict[str, object], secret: str = "tok"):  # type: ignore[no-untyped-def]
    parsed = parse_probes(list(specs))
    with build_session(len(parsed)) as session:
        return run_probes(parsed, session, lambda ref: secret)


def test_expected_401_passes_and_404_fails_with_reason_status(http_server: LoopbackServer) -> None:
    base = f"http://127.0.0.1:{http_server.port}"
    ok, broken = _run(
        {"name": "proxy", "url": f"{base}/status/401", "expect_status": [401]},
        {"name": "routing", "url": f"{base}/status/404", "expect_status": [401]},
    )
    assert (ok.ok, ok.status, ok.reason) == (True, 401, None)
    assert ok.latency_ms is not None
    assert ok.latency_ms > 0
    assert (broken.ok, broken.status, broken.reason) == (False, 404, "status")
    assert broken.target_failure


def test_slow_answer_over_max_latency_fails_with_reason_latency(http_server: LoopbackServer) -> None:
    (result,) = _run(
        {"name": "slow", "url": f"http://127.0.0.1:{http_server.port}/sleep?ms=300", "max_latency_ms": 100}
    )
    assert (result.ok, result.status, result.reason) == (False, 200, "latency")
    assert result.latency_ms is not None
    assert result.latency_ms >= 300


def test_hanging_server_fails_with_reason_timeout(http_server: LoopbackServer) -> None:
    (result,) = _run({"name": "hang", "url": f"http://127.0.0.1:{http_server.port}/hang", "timeout_ms": 300})
    assert (result.ok, result.status, result.reason) == (False, None, "timeout")


def test_slow_drip_body_is_bounded_by_the_whole_timeout(http_server: LoopbackServer) -> None:
    (result,) = _run({"name": "drip", "url": f"http://127.0.0.1:{http_server.port}/drip", "timeout_ms": 500})
    assert (result.ok, result.reason) == (False, "timeout")


def test_refused_connection_fails_with_reason_connection(refused_port: int) -> None:
    (result,) = _run({"name": "down", "url": f"http://127.0.0.1:{refused_port}/", "timeout_ms": 1000})
    assert (result.ok, result.status, result.reason) == (False, None, "connection")


def test_garbage_bytes_fail_with_reason_connection(garbage_server: int) -> None:
    (result,) = _run({"name": "garbage", "url": f"http://127.0.0.1:{garbage_server}/", "timeout_ms": 1000})
    assert (result.ok, result.reason) == (False, "connection")


def test_untrusted_certificate_fails_with_reason_tls(tls_server: LoopbackServer) -> None:
    (result,) = _run({"name": "tls", "url": f"https://127.0.0.1:{tls_server.port}/status/200", "timeout_ms": 2000})
    assert (result.ok, result.reason) == (False, "tls")


def test_trusted_certificate_passes(tls_server: LoopbackServer, tls_authority, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "ca.pem"
    tls_authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    (result,) = _run({"name": "tls", "url": f"https://127.0.0.1:{tls_server.port}/status/200", "timeout_ms": 2000})
    assert (result.ok, result.status) == (True, 200)


def test_body_contains(http_server: LoopbackServer) -> None:
    base = f"http://127.0.0.1:{http_server.port}"
    good, bad = _run(
        {"name": "good", "url": f"{base}/text?say=mlflow-ready", "body_contains": "ready"},
        {"name": "bad", "url": f"{base}/text?say=maintenance", "body_contains": "ready"},
    )
    assert good.ok
    assert (bad.ok, bad.status, bad.reason) == (False, 200, "body")


def test_large_bodies_are_read_only_up_to_the_cap(http_server: LoopbackServer) -> None:
    (result,) = _run({"name": "big", "url": f"http://127.0.0.1:{http_server.port}/big", "body_contains": "MARKER"})
    assert (result.ok, result.reason) == (False, "body")  # the marker sits past the 64 KiB cap


def test_redirects_are_not_followed(http_server: LoopbackServer) -> None:
    (result,) = _run({"name": "r", "url": f"http://127.0.0.1:{http_server.port}/redirect", "expect_status": [302]})
    assert (result.ok, result.status) == (True, 302)


def test_method_headers_json_body_and_bearer_reach_the_server(http_server: LoopbackServer) -> None:
    (result,) = _run(
        {
            "name": "auth",
            "url": f"http://127.0.0.1:{http_server.port}/status/401",
            "method": "POST",
            "headers": {"X-Canary": "1"},
            "body": {"api_key": "probe"},
            "expect_status": [401],
            "auth_secret": "canary-rollback/key",
        },
        secret="s3cret",
    )
    assert result.ok
    (seen,) = http_server.seen
    assert seen["method"] == "POST"
    assert seen["headers"]["X-Canary"] == "1"
    assert seen["headers"]["Authorization"] == "Bearer s3cret"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["body"] == b'{"api_key":"probe"}'


def test_twenty_probes_are_in_flight_at_once_over_one_pool(http_server: LoopbackServer) -> None:
    # each request is answered only once all twenty are in flight at once (or after 5 s, too late for a probe)
    specs = [
        {"name": f"p{i}", "url": f"http://127.0.0.1:{http_server.port}/gather?n=20", "timeout_ms": 4000}
        for i in range(20)
    ]
    results = _run(*specs)
    assert all(r.ok for r in results)
    assert [r.name for r in results] == [f"p{i}" for i in range(20)]  # spec order kept
    assert http_server.max_in_flight == 20


@pytest.mark.parametrize("reason_url", ["hang", "refused"])
def test_one_bad_endpoint_never_hides_the_others(
    http_server: LoopbackServer, refused_port: int, reason_url: str
) -> None:
    bad = f"http://127.0.0.1:{http_server.port}/hang" if reason_url == "hang" else f"http://127.0.0.1:{refused_port}/"
    good, failed = _run(
        {"name": "good", "url": f"http://127.0.0.1:{http_server.port}/status/200"},
        {"name": "bad", "url": bad, "timeout_ms": 300},
    )
    assert good.ok
    assert not failed.ok


def test_an_unexpected_exception_in_one_probe_is_that_probes_error_never_the_runs(http_server: LoopbackServer) -> None:
    base = f"http://127.0.0.1:{http_server.port}"
    specs = parse_probes(
        [
            {"name": "crashes", "url": f"{base}/status/200", "auth_secret": "canary-rollback/token"},
            {"name": "fine", "url": f"{base}/status/200"},
        ]
    )

    def broken_resolver(reference: str) -> str:
        raise RuntimeError("a bug, not a secret problem")

    with build_session(2) as session:
        results = run_probes(specs, session, broken_resolver)
    assert [(r.name, r.ok, r.reason) for r in results] == [("crashes", False, "error"), ("fine", True, None)]
    assert results[0].detail == "probe crashed: RuntimeError"


def test_probes_unanswered_at_the_run_deadline_are_timeouts(http_server: LoopbackServer) -> None:
    base = f"http://127.0.0.1:{http_server.port}"
    specs = parse_probes(
        [{"name": "hangs", "url": f"{base}/hang", "timeout_ms": 10000}, {"name": "fine", "url": f"{base}/status/200"}]
    )
    with build_session(2) as session:
        results = run_probes(specs, session, lambda ref: "", deadline=time.monotonic() + 0.5)
        # the run answered while the hung request was still unanswered: at its deadline, not the target's pleasure
        assert http_server.in_flight == 1
        http_server.release()
    assert [(r.name, r.ok, r.reason) for r in results] == [("hangs", False, "timeout"), ("fine", True, None)]
    assert results[0].detail == "no answer before the run's deadline"
