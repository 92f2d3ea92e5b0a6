"""Loopback HTTP servers that misbehave in every way a canary must classify."""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme


class Behaviour(BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        srv = self.server
        with srv.lock:
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            self._dispatch()
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(
            {"path": parts.path, "method": self.command, "headers": dict(self.headers), "body": body}
        )
        if parts.path.startswith("/status/"):
            self._send(int(parts.path.rsplit("/", 1)[1]), b'{"detail": "x"}')
        elif parts.path == "/sleep":
            time.sleep(int(query.get("ms", "500")) / 1000)
            self._send(int(query.get("status", "200")), b"{}")
        elif parts.path == "/hang":
            time.sleep(5)
            self._send(200, b"{}")
        elif parts.path == "/drip":
            # headers at once, then a byte every 200 ms: no single read ever times out
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        elif parts.path == "/text":
            self._send(200, query.get("say", "").encode(), "text/plain")
        elif parts.path == "/big":
            self._send(200, b"a" * 5_000_000 + b"MARKER", "text/plain")
        elif parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/status/200")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b'{"detail": "Not Found"}')

    do_GET = _handle
    do_POST = _handle
    do_HEAD = _handle


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64  # the default backlog of 5 would make 20 simultaneous probes queue

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Behaviour)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.seen: list[dict[str, Any]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A prober that stops reading (body cap, timeout) hangs up on purpose: not an error worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    yield from _serve(server)  # type: ignore[misc]


@pytest.fixture(scope="session")
def tls_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(tls_authority: trustme.CA, tmp_path: Path) -> Iterator[LoopbackServer]:
    """HTTPS on 127.0.0.1 with a certificate from a CA nobody trusts unless the test says so."""
    server = LoopbackServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_authority.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)  # type: ignore[misc]


@pytest.fixture
def refused_port() -> int:
    """A loopback port with nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def garbage_server() -> Iterator[int]:
    """Answers every connection with bytes that are not HTTP, then hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(b"\x16\x03\x01\x00\xffSSH-2.0-garbage\r\n\x00\x01\x02")
                except OSError:
                    pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    listener.close()


def probes_json(*specs: dict[str, Any]) -> str:
    return json.dumps(list(specs))


@pytest.fixture
def world(aws: Any, handlers_reset: None) -> Iterator[Any]:
    """The incident's ECS world on moto with the stack's resources, :31 running steady, handlers wired."""
    from demo.world import World
    from demo.world.services import LoopbackAlb

    with LoopbackAlb() as alb:
        created = World.create(alb)
        yield created
        created.close()


def make_known_good(world: Any, runs: int = 3) -> None:
    for _ in range(runs):
        world.minute()
        world.probe_run()


def break_with_34(world: Any) -> None:
    """The seed: :32 and :33 fail to roll out, :34 rolls out with the MLflow route broken."""
    for revision in (32, 33):
        world.simulator.mark_unstartable(world.revisions[revision])
        world.deploy(revision)
        world.minute()
        world.probe_run()
        world.advance_rollout()
    world.broken_route_revisions.add(world.revisions[34])
    world.deploy(34)
    world.minute()
    world.advance_rollout()
    world.probe_run()


def alarm_event(world: Any, shape: str = "alarm-state-change", seconds_ago: float = 0, firing: bool = True) -> Any:
    """A sample alarm event (events/SHAPE.json) stamped `seconds_ago` before the world's clock: one distinct
    alarm state change per stamp. `firing` also puts the alarm in ALARM in moto, as CloudWatch would be."""
    import copy
    from datetime import timedelta

    import boto3

    from tests.conftest import load_event

    event = copy.deepcopy(load_event(shape))
    stamp = (world.clock() - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    if shape == "alarm-sns":
        message = json.loads(event["Records"][0]["Sns"]["Message"])
        message["StateChangeTime"] = stamp
        event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    elif shape == "alarm-lambda-action":
        event["alarmData"]["state"]["timestamp"] = stamp
    else:
        event["detail"]["state"]["timestamp"] = stamp
    if firing:
        boto3.client("cloudwatch").set_alarm_state(
            AlarmName=world.stack.alarm_names["RollbackAlarm"], StateValue="ALARM", StateReason="test: firing"
        )
    return event
