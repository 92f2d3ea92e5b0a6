"""Benchmarks for the probe function (issue targets). Prints figures; asserts nothing about time.

  1. wall time of 20 concurrent probes of 500 ms vs one such probe (target: ratio <= 1.5)
  2. peak RSS of one invocation with 20 concurrent probes, in a fresh process (target: <= 100 MB)
  3. import time of the handler module vs a bare `import boto3`, fresh processes (target: ratio <= 1.5)

Usage: .venv/bin/python scripts/bench_probe.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DELAY_S = 0.5


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        time.sleep(DELAY_S)
        self.send_response(401)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def _probes(port: int, count: int) -> str:
    url = f"http://127.0.0.1:{port}/api/mlflow/version"
    return json.dumps([{"name": f"p{i}", "url": url, "expect_status": [401]} for i in range(count)])


INVOKE = """
import json, os, resource, sys, time
os.environ["PROBES"] = sys.argv[1]
os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
sys.path.insert(0, {repo!r})
from demo.world.lambda_context import FakeLambdaContext
from canary_rollback.handlers import probe
started = time.perf_counter()
response = probe.handler({{"id": "bench"}}, FakeLambdaContext())
elapsed = time.perf_counter() - started
assert response["ok"], response
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"elapsed": elapsed, "maxrss_kb": peak_kb}}), file=sys.stderr)
"""


def _invoke(probes: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", INVOKE.format(repo=str(REPO)), probes],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"},
    )
    data: dict[str, float] = json.loads(result.stderr.strip().splitlines()[-1])
    return data


def _import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"},
    )
    return float(result.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    server = _Server(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = int(server.server_address[1])
    try:
        one = [_invoke(_probes(port, 1)) for _ in range(args.repeats)]
        twenty = [_invoke(_probes(port, 20)) for _ in range(args.repeats)]
    finally:
        server.shutdown()

    one_s = statistics.median(r["elapsed"] for r in one)
    twenty_s = statistics.median(r["elapsed"] for r in twenty)
    peak_mb = max(r["maxrss_kb"] for r in twenty) / 1024
    print(f"1. one 500 ms probe: median {one_s * 1000:.0f} ms; 20 concurrent: median {twenty_s * 1000:.0f} ms; "
          f"ratio {twenty_s / one_s:.2f} (target <= 1.5)")  # fmt: skip
    print(f"2. peak RSS, one invocation with 20 concurrent probes: {peak_mb:.1f} MB "
          f"(max of {args.repeats}; target <= 100)")  # fmt: skip

    boto3_s = [_import_seconds("import boto3") for _ in range(args.repeats * 2)]
    handler_s = [_import_seconds("import canary_rollback.handlers.probe") for _ in range(args.repeats * 2)]
    ratio = statistics.median(handler_s) / statistics.median(boto3_s)
    print(f"3. import boto3: median {statistics.median(boto3_s) * 1000:.0f} ms; handler module: median "
          f"{statistics.median(handler_s) * 1000:.0f} ms; ratio {ratio:.2f} (target <= 1.5)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
