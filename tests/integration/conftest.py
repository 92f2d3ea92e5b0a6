"""Fixtures of the integration tier: loopback HTTP servers, and the incident's world on the moto server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from tests.support import servers
from tests.support.servers import LoopbackServer


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    with servers.serving(LoopbackServer()) as server:
        yield server


@pytest.fixture
def test_listener() -> Iterator[LoopbackServer]:
    """A second loopback server: an ALB's test listener, routing to the new (green) revision only."""
    with servers.serving(LoopbackServer()) as server:
        yield server


@pytest.fixture(scope="session")
def tls_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(tls_authority: trustme.CA) -> Iterator[LoopbackServer]:
    """HTTPS on 127.0.0.1 with a certificate from a CA nobody trusts unless the test says so."""
    with servers.serving(servers.with_tls(LoopbackServer(), tls_authority)) as server:
        yield server


@pytest.fixture
def refused_port() -> int:
    """A loopback port with nothing listening."""
    return servers.refused_port()


@pytest.fixture
def garbage_server() -> Iterator[int]:
    """A loopback port answering every connection with bytes that are not HTTP."""
    with servers.garbage_server() as port:
        yield port


@pytest.fixture
def world(aws: Any, handlers_reset: None) -> Iterator[Any]:
    """The incident's ECS world on moto with the stack's resources, :31 running steady, handlers wired."""
    from demo.world import World
    from demo.world.services import LoopbackAlb

    with LoopbackAlb() as alb:
        created = World.create(alb)
        yield created
        created.close()
