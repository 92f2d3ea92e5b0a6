"""Fixtures of the integration tier: loopback HTTP servers, the incident's world on the moto server, and the
`sam build` that runs beside the other tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from tests.support import servers
from tests.support.sam_build import SamBuild, start_sam_build
from tests.support.servers import LoopbackServer
from tests.support.template import find_sam_cli


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


@pytest.fixture(scope="session", autouse=True)
def sam_build_in_background(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SamBuild | None]:
    """When this session will run a test that needs `sam build`, start the build at the session's first
    integration test, in a process of its own: it needs nothing from the tests in between."""
    wanted = any("sam_build" in getattr(item, "fixturenames", ()) for item in request.session.items)
    build = start_sam_build(tmp_path_factory.mktemp("sam-build")) if wanted else None
    yield build
    if build is not None:
        build.stop()


@pytest.fixture(scope="session")
def sam_build(sam_build_in_background: SamBuild | None) -> SamBuild:
    """The session's `sam build`, started early; skipped where the SAM CLI or a python3.12 is missing."""
    if sam_build_in_background is None:
        if find_sam_cli() is None:
            if os.environ.get("CI"):
                pytest.fail("the SAM CLI is missing: `make test` installs it into .venv-sam")
            pytest.skip("SAM CLI not installed (make test installs it into .venv-sam)")
        pytest.skip("no python3.12 on this machine: sam build for the python3.12 runtime needs one")
    return sam_build_in_background
