"""Loopback HTTP services that behave like the incident's MLflow proxy and auth service behind an ALB.

Healthy, both answer 401 to an unauthenticated request (some authenticating layer answered). With the
route broken (the incident's ALB rule change), the proxy answers 404 while its own health check stays 200.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VALID_TOKEN = "demo-api-key"  # noqa: S105  # the loopback services' own test credential


@dataclass
class RouteTable:
    """What the 'ALB' currently routes. Flip `mlflow_routed` to break the proxy like the incident did."""

    mlflow_routed: bool = True
    auth_routed: bool = True
    requests_seen: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Test controls: the proxy answers this much later (a hung target), and `on_request` runs as each request
    # arrives (e.g. a rollout completing while a probe run is in flight).
    mlflow_delay_seconds: float = 0.0
    on_request: Callable[[], None] | None = None


class _AlbHandler(BaseHTTPRequestHandler):
    server: _AlbServer

    def log_message(self, format: str, *args: Any) -> None:  # keep demo and test output clean
        return

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self) -> None:
        routes = self.server.routes
        with routes.lock:
            routes.requests_seen += 1
            hook, routes.on_request = routes.on_request, None
        if hook is not None:
            hook()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        authorized = self.headers.get("Authorization") == f"Bearer {VALID_TOKEN}"
        if path == "/health":
            self._reply(200, {"status": "ok"})  # the container health check never notices the routing
        elif path.startswith("/api/mlflow/"):
            if routes.mlflow_delay_seconds:
                time.sleep(routes.mlflow_delay_seconds)
            if not routes.mlflow_routed:
                self._reply(404, {"detail": "Not Found"})
            elif not authorized:
                self._reply(401, {"detail": "Unauthorized"})
            else:
                self._reply(200, {"version": "2.9.2"})
        elif path == "/api/v1/keys/validate" and routes.auth_routed:
            self._reply(200 if authorized else 401, {"valid": authorized})
        else:
            self._reply(404, {"detail": "Not Found"})

    do_GET = _route
    do_POST = _route


class _AlbServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, routes: RouteTable) -> None:
        super().__init__(("127.0.0.1", 0), _AlbHandler)
        self.routes = routes


class LoopbackAlb:
    """Start with `with LoopbackAlb() as alb:`; `alb.url` is http://127.0.0.1:PORT."""

    def __init__(self) -> None:
        self.routes = RouteTable()
        self._server = _AlbServer(self.routes)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def probes(self) -> list[dict[str, Any]]:
        """The seed's two probes, pointed at this server."""
        specs: list[dict[str, Any]] = [
            {"name": "mlflow-proxy", "url": f"{self.url}/api/mlflow/version", "expect_status": [401]},
            {
                "name": "auth-service",
                "url": f"{self.url}/api/v1/keys/validate",
                "method": "POST",
                "expect_status": [401],
            },
        ]
        return specs

    def __enter__(self) -> LoopbackAlb:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
