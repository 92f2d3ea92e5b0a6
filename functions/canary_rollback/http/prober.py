"""Probe every endpoint of a run concurrently over one pooled HTTP session.

An endpoint failure is a result, never an exception: the caller always gets one result per probe.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from canary_rollback.core.errors import SecretUnavailable
from canary_rollback.core.models import FailureReason, ProbeResult
from canary_rollback.core.probe_spec import ProbeSpec

SecretResolver = Callable[[str], str]

# Enough of a body to find a marker in; a probe must not buffer a multi-megabyte page at 128 MB.
MAX_BODY_BYTES = 64 * 1024
USER_AGENT = "canary-rollback-probe/1"


def build_session(pool_size: int) -> requests.Session:
    """One session per container: keep-alive connections survive between scheduled runs.

    Retries are off on purpose: a retried request would hide exactly the flakiness a canary exists to see.
    """
    session = requests.Session()
    adapter = HTTPAdapter(
        pool_connections=max(pool_size, 1),
        pool_maxsize=max(pool_size, 1),
        # read=False re-raises urllib3's own ReadTimeoutError instead of wrapping it in MaxRetryError,
        # which requests would report as a ConnectionError rather than a timeout.
        max_retries=Retry(total=0, connect=0, read=False, redirect=0, status=0, raise_on_status=False),
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def run_probes(
    specs: Sequence[ProbeSpec],
    session: requests.Session,
    resolve_secret: SecretResolver,
    deadline: float | None = None,
) -> list[ProbeResult]:
    """All probes at once, results in spec order, one result per spec whatever happens.

    `deadline` (a `time.monotonic()` value) bounds the whole run: a probe still unanswered then is a
    `timeout` (DNS that hangs is not bounded by requests' own timeouts). The run must end before the Lambda
    does, or no metric at all is published and the alarm reads missing data as "not breaching".
    """
    pool = ThreadPoolExecutor(max_workers=max(len(specs), 1), thread_name_prefix="probe")
    try:
        futures = [pool.submit(probe_once, spec, session, resolve_secret) for spec in specs]
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        wait(futures, timeout=remaining)
        return [_settled(spec, future) for spec, future in zip(specs, futures, strict=True)]
    finally:
        # Never wait for a hung probe thread: Lambda freezes it with the container once the handler returns.
        pool.shutdown(wait=False, cancel_futures=True)


def _settled(spec: ProbeSpec, future: Future[ProbeResult]) -> ProbeResult:
    if not future.done():
        return ProbeResult(spec.name, False, None, None, "timeout", "no answer before the run's deadline")
    error = future.exception()
    if error is not None:  # a bug or an unforeseen library error: this probe's `error`, never the run's
        return ProbeResult(spec.name, False, None, None, "error", f"probe crashed: {type(error).__name__}")
    return future.result()


def probe_once(spec: ProbeSpec, session: requests.Session, resolve_secret: SecretResolver) -> ProbeResult:
    try:
        headers = request_headers(spec, resolve_secret)
    except SecretUnavailable as exc:
        return ProbeResult(spec.name, False, None, None, "error", str(exc))

    timeout_s = spec.timeout_ms / 1000
    started = time.perf_counter()
    try:
        with session.request(
            spec.method,
            spec.url,
            headers=headers,
            data=spec.body.encode() if spec.body is not None else None,
            timeout=(timeout_s, timeout_s),
            allow_redirects=False,
            stream=True,
        ) as response:
            body = _read_capped(response, started, timeout_s)
            latency_ms = round((time.perf_counter() - started) * 1000, 1)
            status = response.status_code
    except _BodyDeadline:
        return ProbeResult(spec.name, False, None, None, "timeout", f"body not received within {spec.timeout_ms} ms")
    except requests.exceptions.RequestException as exc:
        return _failure_from_exception(spec, exc)

    if status not in spec.expect_status:
        return ProbeResult(spec.name, False, status, latency_ms, "status", f"expected {list(spec.expect_status)}")
    if spec.body_contains is not None and spec.body_contains not in body.decode("utf-8", "replace"):
        return ProbeResult(spec.name, False, status, latency_ms, "body", "expected text not in body")
    if spec.max_latency_ms is not None and latency_ms > spec.max_latency_ms:
        return ProbeResult(spec.name, False, status, latency_ms, "latency", f"over {spec.max_latency_ms} ms")
    return ProbeResult(spec.name, True, status, latency_ms, None)


def request_headers(spec: ProbeSpec, resolve_secret: SecretResolver) -> dict[str, str]:
    headers = dict(spec.headers)
    if spec.body_is_json and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    if spec.auth_secret is not None:
        secret = resolve_secret(spec.auth_secret)
        if spec.auth_scheme == "Basic":
            if ":" not in secret:
                raise SecretUnavailable(f"auth_secret {spec.auth_secret!r} does not hold 'user:password'")
            headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
        else:
            headers["Authorization"] = f"Bearer {secret}"
    return headers


class _BodyDeadline(Exception):
    """The whole response did not arrive within the probe's timeout (a slow drip, not a silent socket)."""


def _read_capped(response: requests.Response, started: float, timeout_s: float) -> bytes:
    """requests' read timeout is per socket read; a canary needs a deadline for the whole answer.

    `read1` returns whatever has arrived (iter_content would block until a full chunk or the whole
    Content-Length came in), so a server dripping a byte at a time meets the deadline.
    """
    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    try:
        while size < MAX_BODY_BYTES:
            if time.perf_counter() - started > timeout_s:
                raise _BodyDeadline
            chunk = raw.read1(8192, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except ReadTimeoutError:
        raise _BodyDeadline from None
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None
    except urllib3.exceptions.HTTPError as exc:  # ProtocolError, DecodeError...: the answer broke off
        raise requests.exceptions.ConnectionError(exc) from None
    if time.perf_counter() - started > timeout_s:
        raise _BodyDeadline
    return b"".join(chunks)[:MAX_BODY_BYTES]


def _failure_from_exception(spec: ProbeSpec, exc: requests.exceptions.RequestException) -> ProbeResult:
    reason: FailureReason
    # Order matters: ConnectTimeout is also a ConnectionError, SSLError is also a ConnectionError.
    if isinstance(exc, requests.exceptions.Timeout):
        reason = "timeout"
    elif isinstance(exc, requests.exceptions.SSLError):
        reason = "tls"
    else:
        reason = "connection"
    return ProbeResult(spec.name, False, None, None, reason, type(exc).__name__)
