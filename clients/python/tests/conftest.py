"""Fixtures: one redis-server 7.0 and one valkey-server 9 with the module for the whole run,
a 3-master cluster, and clients on RESP2 and RESP3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from servers import Cluster, Server

_servers: dict[str, Server] = {}


def server_of(kind: str) -> Server:
    if kind not in _servers:
        _servers[kind] = Server(kind)
    return _servers[kind]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for s in _servers.values():
        s.close()


@pytest.fixture(scope="session", params=["redis", "valkey"])
def server(request: pytest.FixtureRequest) -> Server:
    return server_of(request.param)


@pytest.fixture(scope="session")
def redis_server() -> Server:
    return server_of("redis")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(server: Server, request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    client = server.client(protocol=request.param)
    yield client
    client.close()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    c = Cluster("redis")
    yield c
    c.close()


@pytest.fixture
def key() -> str:
    return f"t:{uuid.uuid4().hex[:12]}"
