"""Fixtures: real Redis 7.0 / Valkey 9 servers with the ratelimit module loaded.

Every server runs in its own temp dir on a free loopback port and is stopped by
PID in fixture teardown, even when the test fails. After each test the teardown
checks that every server still answers PING and that its log shows no panic or
crash. On a test failure the tail of every live server's log is attached to the
report.
"""

import pytest

import os

from helpers import KINDS, LIVE, MODULE, T0, ServerFactory


def pytest_sessionstart(session):
    if not os.path.isfile(MODULE):
        pytest.exit(f"module not found: {MODULE} (build it with `make build` or set RL_MODULE)", 2)


@pytest.fixture
def server_factory():
    f = ServerFactory()
    yield f
    f.finish()


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def server(server_factory, kind):
    """A fresh server of each kind (redis 7.0, valkey 9) for one test."""
    return server_factory(kind)


@pytest.fixture(params=KINDS)
def clocked(server_factory, request):
    """A server of each kind whose module clock stands still at helpers.T0 until the test
    moves it (`clocked.set_clock(ms)` / `advance_clock(ms)`): exact millisecond
    arithmetic, through the test-hooks build's manual clock (RL.TESTHOOK CLOCK)."""
    return server_factory(request.param, manual_clock_ms=T0, name=f"{request.param}-clocked")


@pytest.fixture
def faketime_clocked(server_factory):
    """A Valkey server whose whole clock (libfaketime) stands still at helpers.T0: the
    server clock path itself, key expiry included."""
    return server_factory("valkey", clock_ms=T0, name="valkey-faketime-clocked")


@pytest.fixture
def r(server):
    c = server.client()
    yield c
    c.close()


@pytest.fixture
def r3(server):
    c = server.client(protocol=3)
    yield c
    c.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for s in list(LIVE):
            rep.sections.append((f"server log tail: {s!r}", s.log_tail()))




@pytest.fixture(scope="module", params=KINDS)
def module_server(request):
    """One server of each kind shared by a whole test file (for long tables)."""
    f = ServerFactory()
    yield f(request.param)
    f.finish()


@pytest.fixture
def shared(module_server):
    """The file's shared server, health-checked after each test."""
    yield module_server
    module_server.assert_healthy()
