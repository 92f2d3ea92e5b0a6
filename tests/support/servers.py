"""Loopback HTTP servers that misbehave in every way a canary must classify, on 127.0.0.1 only.

Paths: `/status/N` answers N; `/sleep?ms=N&status=S` answers after N ms; `/hang` answers only when the test
calls `release()` (or after 5 s); `/gather?n=N` answers once N requests are in flight at once (or after 5 s);
`/drip` sends its body a byte every 200 ms; `/text?say=...`, `/big` (5 MB then a marker), `/redirect`.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

PATIENCE_SECONDS = 5.0  # how long /hang and /gather wait before answering anyway


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
            srv.changed.notify_all()
        try:
            self._dispatch()
        finally:
            with srv.lock:
                srv.in_flight -= 1
                srv.changed.notify_all()

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
            self.server.released.wait(PATIENCE_SECONDS)
            self._send(200, b"{}")
        elif parts.path == "/gather":
            wanted = int(query.get("n", "2"))
            with self.server.lock:
                self.server.changed.wait_for(lambda: self.server.max_in_flight >= wanted, PATIENCE_SECONDS)
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
        self.changed = threading.Condition(self.lock)
        self.released = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.seen: list[dict[str, Any]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str) -> str:
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def release(self) -> None:
        """Let every /hang request answer."""
        self.released.set()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A prober that stops reading (body cap, timeout) hangs up on purpose: not an error worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@contextmanager
def serving(server: LoopbackServer) -> Iterator[LoopbackServer]:
    """Serve on a daemon thread; on exit, release what hangs and close."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release()
        server.shutdown()
        server.server_close()


def with_tls(server: LoopbackServer, authority: trustme.CA) -> LoopbackServer:
    """HTTPS with a certificate for 127.0.0.1 from `authority`, a CA nobody trusts unless the test says so."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def refused_port() -> int:
    """A loopback port with nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def garbage_server() -> Iterator[int]:
    """A port that answers every connection with bytes that are not HTTP, then hangs up."""
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
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def probes_json(*specs: dict[str, Any]) -> str:
    """A PROBES value (the probe list as JSON)."""
    return json.dumps(list(specs))
