"""Probe specs (docs/operate.md, "Probe spec"): strict parsing, so a typo fails at cold start, not at 3 a.m."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from canary_rollback.core.errors import ConfigError

AuthScheme = Literal["Bearer", "Basic"]

_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_FIELDS = frozenset(
    {
        "name",
        "url",
        "method",
        "headers",
        "body",
        "expect_status",
        "body_contains",
        "timeout_ms",
        "max_latency_ms",
        "auth_secret",
        "auth_scheme",
        "test_url",
    }
)
# Lambda's own limit bounds a probe: a single probe may not outlive the invocation.
MAX_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    body_is_json: bool = False
    expect_status: tuple[int, ...] = (200,)
    body_contains: str | None = None
    timeout_ms: int = 5000
    max_latency_ms: int | None = None
    auth_secret: str | None = None
    auth_scheme: AuthScheme = "Bearer"
    # The same route through the ALB's test listener: what the blue/green gate probes before production
    # traffic moves (docs/gate.md).
    test_url: str | None = None


def parse_probes_json(text: str, source: str = "PROBES") -> tuple[ProbeSpec, ...]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    return parse_probes(raw, source)


def parse_probes(raw: Any, source: str = "PROBES") -> tuple[ProbeSpec, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: must be a JSON array of probe specs, got {type(raw).__name__}")
    if not raw:
        raise ConfigError(f"{source}: the probe list is empty; configure at least one probe")
    specs: list[ProbeSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        spec = _parse_one(item, f"{source}[{index}]")
        if spec.name in seen:
            raise ConfigError(f"{source}[{index}] probe '{spec.name}': field 'name' duplicates an earlier probe")
        seen.add(spec.name)
        specs.append(spec)
    return tuple(specs)


def _parse_one(item: Any, where: str) -> ProbeSpec:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: a probe spec must be a JSON object, got {type(item).__name__}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"{where}: field 'name' is required and must match [A-Za-z0-9_.-]+, got {name!r}")
    label = f"{where} probe '{name}'"

    def fail(field_name: str, problem: str) -> ConfigError:
        return ConfigError(f"{label}: field '{field_name}' {problem}")

    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        raise fail(unknown[0], f"is not a known field (known: {', '.join(sorted(_FIELDS))})")

    url = item.get("url")
    if not isinstance(url, str):
        raise fail("url", "is required and must be a string")
    _check_url(url, fail, "url")
    test_url = item.get("test_url")
    if test_url is not None:
        if not isinstance(test_url, str):
            raise fail("test_url", "must be a string")
        _check_url(test_url, fail, "test_url")

    method = item.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise fail("method", f"must be one of {', '.join(sorted(_METHODS))}, got {method!r}")

    headers = item.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise fail("headers", "must be an object of header name to string value")
    if auth_header_set(headers) and "auth_secret" in item:
        raise fail("headers", "sets Authorization while auth_secret also does; keep one")

    body: str | None = None
    body_is_json = False
    if "body" in item and item["body"] is not None:
        if isinstance(item["body"], str):
            body = item["body"]
        else:
            body = json.dumps(item["body"], separators=(",", ":"))
            body_is_json = True

    expect = item.get("expect_status", [200])
    if (
        not isinstance(expect, list)
        or not expect
        or not all(isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in expect)
    ):
        raise fail("expect_status", f"must be a non-empty list of HTTP status codes (100-599), got {expect!r}")

    body_contains = item.get("body_contains")
    if body_contains is not None and (not isinstance(body_contains, str) or not body_contains):
        raise fail("body_contains", "must be a non-empty string")

    timeout_ms = _positive_int(item.get("timeout_ms", 5000), fail, "timeout_ms")
    if timeout_ms > MAX_TIMEOUT_MS:
        raise fail("timeout_ms", f"must be at most {MAX_TIMEOUT_MS}, got {timeout_ms}")
    max_latency_ms = None
    if item.get("max_latency_ms") is not None:
        max_latency_ms = _positive_int(item["max_latency_ms"], fail, "max_latency_ms")

    auth_secret = item.get("auth_secret")
    if auth_secret is not None and (not isinstance(auth_secret, str) or not auth_secret.strip()):
        raise fail("auth_secret", "must be a Secrets Manager secret id or 'ssm:/parameter/name'")
    if isinstance(auth_secret, str) and auth_secret.startswith("ssm:") and not auth_secret[4:].strip():
        raise fail("auth_secret", "names no SSM parameter after 'ssm:'")

    auth_scheme = item.get("auth_scheme", "Bearer")
    if auth_scheme not in ("Bearer", "Basic"):
        raise fail("auth_scheme", f"must be 'Bearer' or 'Basic', got {auth_scheme!r}")
    if "auth_scheme" in item and auth_secret is None:
        raise fail("auth_scheme", "is set but auth_secret is not")

    return ProbeSpec(
        name=name,
        url=url,
        method=method.upper(),
        headers=dict(headers),
        body=body,
        body_is_json=body_is_json,
        expect_status=tuple(expect),
        body_contains=body_contains,
        timeout_ms=timeout_ms,
        max_latency_ms=max_latency_ms,
        auth_secret=auth_secret,
        auth_scheme=auth_scheme,
        test_url=test_url,
    )


def _check_url(url: str, fail: Callable[[str, str], ConfigError], field_name: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail(field_name, f"must be an http or https URL with a host, got {url!r}")


def auth_header_set(headers: Mapping[str, str]) -> bool:
    return any(key.lower() == "authorization" for key in headers)


def _positive_int(value: Any, fail: Callable[[str, str], ConfigError], field_name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise fail(field_name, f"must be a positive integer (milliseconds), got {value!r}")
    return value
