"""CL.THROTTLE, the redis-cell compatible command, registered only when the module is
loaded with `cell-compat yes`: GCRA with limit = count_per_period,
period_ms = period_seconds * 1000 and burst = max_burst + 1, replies in seconds."""

import pytest

from helpers import (
    CELL_COMPAT,
    KINDS,
    ServerFactory,
    GCRA,
    MAX,
    MISMATCH_ERROR,
    T0,
    TB,
    WRONGTYPE_ERROR,
    call_error,
    check,
    digest_value,
    inspect,
    raw_command,
    RawReplyError,
    throttle,
)

CELL_CONFIG = "ratelimit.cell-compat"


@pytest.fixture
def cell(server_factory, kind):
    s = server_factory(kind, module_args=CELL_COMPAT, name=f"{kind}-cell")
    c = s.client()
    yield c
    c.close()


@pytest.fixture(scope="module", params=KINDS)
def cell_module_server(request):
    """One cell-compat server of each kind for this file's argument tables."""
    f = ServerFactory()
    yield f(request.param, module_args=CELL_COMPAT, name=f"{request.param}-cell-shared")
    f.finish()


@pytest.fixture
def cell_shared(cell_module_server):
    yield cell_module_server
    cell_module_server.assert_healthy()


@pytest.fixture
def cell_clocked(server_factory):
    return server_factory("valkey", module_args=CELL_COMPAT, clock_ms=T0, name="valkey-cell-clocked")


def test_cl_throttle_is_an_unknown_command_without_cell_compat(r):
    err = call_error(r, "CL.THROTTLE", "k", 4, 1, 1)
    assert err.lower().startswith("err unknown command"), err
    assert r.config_get(CELL_CONFIG) == {CELL_CONFIG: "no"}
    assert r.exists("k") == 0


def test_cell_compat_is_reported_and_immutable(cell):
    assert cell.config_get(CELL_CONFIG) == {CELL_CONFIG: "yes"}
    err = call_error(cell, "CONFIG", "SET", CELL_CONFIG, "no")
    assert err.startswith("ERR"), err
    assert cell.config_get(CELL_CONFIG) == {CELL_CONFIG: "yes"}
    assert throttle(cell, "k", 0, 1, 1)[0] == 0


def test_redis_cell_readme_example(cell):
    assert throttle(cell, "user123", 15, 30, 60, 1) == [0, 16, 15, -1, 2]


def test_max_burst_plus_one_admitted_then_limited(cell):
    for n in range(1, 6):
        assert throttle(cell, "k", 4, 1, 1) == [0, 5, 5 - n, -1, n]
    assert throttle(cell, "k", 4, 1, 1) == [1, 5, 0, 1, 5]
    info = inspect(cell, "k")
    assert (info["algorithm"], info["limit"], info["period_ms"], info["burst"]) == (GCRA, 1, 1000, 5)
    assert (info["admitted"], info["denied"]) == (5, 1)


def test_cl_throttle_shares_state_with_rl_check(cell):
    for _ in range(3):
        throttle(cell, "k", 4, 1, 1)
    assert check(cell, "k", GCRA, 1, 1000, burst=5)[:3] == [1, 1, 1]
    assert check(cell, "k", GCRA, 1, 1000, burst=5)[:3] == [1, 1, 0]
    assert throttle(cell, "k", 4, 1, 1)[:3] == [1, 5, 0]
    assert cell.execute_command("RL.RESET", "k") == 1
    check(cell, "k", GCRA, 1, 1000, burst=5, cost=2)
    assert throttle(cell, "k", 4, 1, 1)[:4] == [0, 5, 2, -1]
    # A limiter of another algorithm is not GCRA.
    check(cell, "tb", TB, 1, 1000, burst=5)
    assert call_error(cell, "CL.THROTTLE", "tb", 4, 1, 1) == MISMATCH_ERROR


def test_quantity_zero_reports_and_changes_nothing(cell):
    assert throttle(cell, "missing", 4, 1, 60, 0) == [0, 5, 5, -1, 0]
    assert cell.exists("missing") == 0
    throttle(cell, "k", 4, 1, 60, 2)
    before = (digest_value(cell, "k"), cell.pexpiretime("k"), inspect(cell, "k")["admitted"])
    reply = throttle(cell, "k", 4, 1, 60, 0)
    assert reply[:4] == [0, 5, 3, -1] and reply[4] == 120
    assert (digest_value(cell, "k"), cell.pexpiretime("k"), inspect(cell, "k")["admitted"]) == before
    assert inspect(cell, "k")["denied"] == 0


def test_quantity_above_the_burst_is_never_allowed(cell):
    assert throttle(cell, "k", 4, 1, 60, 6) == [1, 5, 5, -1, 0]
    assert cell.exists("k") == 0
    assert throttle(cell, "k", 4, 1, 60, 5) == [0, 5, 0, -1, 300]
    reply = throttle(cell, "k", 4, 1, 60, 6)
    assert reply[:4] == [1, 5, 0, -1]
    assert inspect(cell, "k")["denied"] == 6


def test_retry_and_reset_are_whole_seconds_rounded_up(cell_clocked):
    c = cell_clocked.client()
    for _ in range(5):
        throttle(c, "k", 4, 1, 1)
    assert throttle(c, "k", 4, 1, 1) == [1, 5, 0, 1, 5]
    cell_clocked.set_clock(T0 + 999)
    assert throttle(c, "k", 4, 1, 1) == [1, 5, 0, 1, 5]     # 1 ms -> 1 s, 4001 ms -> 5 s
    cell_clocked.set_clock(T0 + 1000)
    assert throttle(c, "k", 4, 1, 1) == [0, 5, 0, -1, 5]
    cell_clocked.set_clock(T0 + 3500)
    # 2.5 s of debt: 2 remaining; 3 more need 500 ms.
    assert throttle(c, "k", 4, 1, 1, 0) == [0, 5, 2, -1, 3]
    assert throttle(c, "k", 4, 1, 1, 3) == [1, 5, 2, 1, 3]
    assert throttle(c, "k", 4, 1, 1, 6) == [1, 5, 2, -1, 3]
    # 1 per 10 s, no burst.
    assert throttle(c, "slow", 0, 1, 10) == [0, 1, 0, -1, 10]
    cell_clocked.set_clock(T0 + 3501)
    assert throttle(c, "slow", 0, 1, 10) == [1, 1, 0, 10, 10]   # 9999 ms -> 10 s
    assert inspect(c, "slow")["tat_ms"] == T0 + 3500 + 10_000


def test_reply_is_an_array_in_resp3_too(server_factory, kind):
    s = server_factory(kind, module_args=CELL_COMPAT)
    c3 = s.client(protocol=3)
    assert throttle(c3, "k", 1, 1, 1) == [0, 2, 1, -1, 1]


BAD = [
    ("k", -1, 1, 1), ("k", 1, 0, 1), ("k", 1, -1, 1), ("k", 1, 1, 0), ("k", 1, 1, -5),
    ("k", 1, 1, 1, -1), ("k", "x", 1, 1), ("k", 1, "1.5", 1), ("k", 1, 1, "1e3"),
    ("k", 1, 1, 1, "q"), ("k", "", 1, 1), ("k", 1, 1, "99999999999999999999"),
    (), ("k",), ("k", 1), ("k", 1, 1), ("k", 1, 1, 1, 1, 1),
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(map(str, a)) or "none" for a in BAD])
def test_bad_input_is_an_error_reply(cell_shared, args):
    c = cell_shared.client()
    err = call_error(c, "CL.THROTTLE", *args)
    assert err.startswith("ERR"), err
    assert c.exists("k") == 0


def test_wrongtype_on_other_types(cell):
    cell.set("s", "v")
    assert call_error(cell, "CL.THROTTLE", "s", 4, 1, 1) == WRONGTYPE_ERROR
    assert cell.get("s") == b"v"


@pytest.mark.parametrize("args", [
    (MAX, 1, 1), (MAX - 1, 1, 1), (1, MAX, 1), (1, 1, MAX), (MAX, MAX, MAX, MAX),
    (0, 1, MAX // 1000), (0, 1, MAX // 1000 + 1), (5, 1, 1, MAX),
])
def test_extreme_numbers_never_crash(cell_shared, args):
    c = cell_shared.client()
    c.delete("k")
    reply = raw_command(c, "CL.THROTTLE", "k", *args)
    if isinstance(reply, RawReplyError):
        assert str(reply).startswith("ERR"), reply
    else:
        assert isinstance(reply, list) and len(reply) == 5, reply
        assert all(type(v) is int for v in reply), reply
        assert reply[0] in (0, 1) and reply[1] >= 1 and reply[2] >= 0
    assert throttle(c, "other", 1, 1, 3600)[0] in (0, 1)
    c.delete("k")


def test_command_info_and_keys(cell):
    info = cell.execute_command("COMMAND", "INFO", "cl.throttle")
    entry = info.get("CL.THROTTLE") or info.get("cl.throttle")
    assert entry and "write" in entry["flags"]
    assert cell.command_getkeys("CL.THROTTLE", "user1", 1, 1, 1) == ["user1"]


def test_cl_throttle_counts_as_a_gcra_check_in_stats(cell):
    from helpers import stats

    before = stats(cell)
    throttle(cell, "k", 0, 1, 3600)
    throttle(cell, "k", 0, 1, 3600)
    after = stats(cell)
    delta = {k: after[k] - before[k] for k in after}
    assert (delta["checks"], delta["allowed"], delta["denied"]) == (2, 1, 1)
    assert (delta["gcra_checks"], delta["gcra_allowed"], delta["gcra_denied"]) == (2, 1, 1)
