"""Auth headers and the `error` reason, without any network."""

from __future__ import annotations

import base64

import pytest
import requests

from canary_rollback.core.errors import SecretUnavailable
from canary_rollback.core.probe_spec import parse_probes
from canary_rollback.http.prober import probe_once, request_headers


def _spec(**fields: object):  # type: ignore[no-untyped-def]
    return parse_probes([{"name": "p", "url": "http://127.0.0.1:9/", **fields}])[0]


def test_bearer_and_basic_headers() -> None:
    assert request_headers(_spec(auth_secret="s"), lambda ref: "tok")["Authorization"] == "Bearer tok"
    basic = request_headers(_spec(auth_secret="s", auth_scheme="Basic"), lambda ref: "admin:pw")
    assert basic["Authorization"] == "Basic " + base64.b64encode(b"admin:pw").decode()


def test_json_body_sets_content_type_unless_given() -> None:
    assert request_headers(_spec(body={"a": 1}), lambda ref: "")["Content-Type"] == "application/json"
    given = request_headers(_spec(body={"a": 1}, headers={"content-type": "text/x"}), lambda ref: "")
    assert "Content-Type" not in given


def test_basic_secret_without_colon_is_our_error_not_the_target() -> None:
    with pytest.raises(SecretUnavailable, match="does not hold 'user:password'"):
        request_headers(_spec(auth_secret="s", auth_scheme="Basic"), lambda ref: "no-colon-token")


def test_unreadable_secret_gives_reason_error_without_touching_the_network() -> None:
    def unreadable(ref: str) -> str:
        raise SecretUnavailable(f"auth_secret {ref!r} could not be read: AccessDenied")

    with requests.Session() as session:
        result = probe_once(_spec(auth_secret="canary-rollback/key"), session, unreadable)
    assert (result.ok, result.reason, result.status) == (False, "error", None)
    assert not result.target_failure
