"""RL.PEEK (RL.CHECK's reply without charging) and RL.INSPECT (the operator view of
one key): exact fields on a manual clock, RESP2/RESP3 shapes, nothing changed, nothing
propagated, read-only replicas, errors."""

import re

import time

import pytest

from helpers import (
    attach,
    ALGORITHM_ERROR,
    ALL_ALGORITHMS,
    FW,
    GCRA,
    INSPECT_COMMON,
    INSPECT_STATE,
    MISMATCH_ERROR,
    SL,
    SW,
    T0,
    TB,
    WINDOW_BURST_ERROR,
    WRONGTYPE_ERROR,
    sl_limit_error,
    sl_period_error,
    arity_error,
    call_error,
    check,
    digest,
    digest_value,
    inspect,
    peek,
    same_error,
    wait_until,
)
from test_bad_args import BAD

HOUR = 3_600_000
# A few quotas per algorithm: (limit, period, burst, cost); burst None for windows.
QUOTAS = {
    TB: [(5, 5 * HOUR, None, None), (5, 5 * HOUR, 8, 2), (2, 2 * HOUR, None, 3)],
    GCRA: [(5, 5 * HOUR, None, None), (5, 5 * HOUR, 8, 2), (2, 2 * HOUR, None, 3)],
    FW: [(5, 10 * HOUR, None, None), (5, 10 * HOUR, None, 2), (7, 10 * HOUR, None, 8)],
    SW: [(5, 10 * HOUR, None, None), (5, 10 * HOUR, None, 2), (7, 10 * HOUR, None, 8)],
    SL: [(5, 10 * HOUR, None, None), (5, 10 * HOUR, None, 2), (7, 10 * HOUR, None, 8)],
}


def stalled_ms(started):
    """1 ms, plus as long as the transaction took: a loaded machine can deschedule the
    server between two commands of one EXEC."""
    return 1 + int((time.monotonic() - started) * 1000)


def close(a, b, tol=1):
    """Equal replies, time-valued fields (retry, reset) within `tol` ms: on Redis 7.0
    each command reads the clock itself, even inside MULTI."""
    if isinstance(a, dict):
        a, b = list(a.values()), list(b.values())
    return (
        a[:3] == b[:3]
        and (a[3] == b[3] or (a[3] >= 0 and b[3] >= 0 and abs(a[3] - b[3]) <= tol))
        and abs(a[4] - b[4]) <= tol
    )


def stored_state(c, key):
    """What must not change: the value's digest, its expiry and its totals."""
    info = inspect(c, key) if c.exists(key) else None
    return (digest_value(c, key), c.pexpiretime(key), info and (info["admitted"], info["denied"]))


# -- RL.PEEK --------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_peek_replies_what_the_following_check_replies(r, algorithm):
    """PEEK then CHECK in one transaction, through admitted and denied checks."""
    for limit, period, burst, cost in QUOTAS[algorithm] * 4:
        tx = r.pipeline(transaction=True)
        peek(tx, "k", algorithm, limit, period, burst, cost)
        check(tx, "k", algorithm, limit, period, burst, cost)
        started = time.monotonic()
        p, c = tx.execute()
        assert close(p, c, stalled_ms(started)), (limit, period, burst, cost, p, c)


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_peek_changes_nothing(r, algorithm):
    for limit, period, burst, cost in QUOTAS[algorithm]:
        before = stored_state(r, "k")
        for _ in range(3):
            peek(r, "k", algorithm, limit, period, burst, cost)
        peek(r, "k", algorithm, 1, 1, None, 1000)  # cost above any capacity
        assert stored_state(r, "k") == before
        check(r, "k", algorithm, limit, period, burst, cost)
    # Exhausted: a denied peek changes no total either.
    while check(r, "k", algorithm, 5, 5 * HOUR)[0] == 1:
        pass
    before = stored_state(r, "k")
    assert peek(r, "k", algorithm, 5, 5 * HOUR)[0] == 0
    assert stored_state(r, "k") == before


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_peek_on_a_missing_key_creates_nothing(r, algorithm):
    tx = r.pipeline(transaction=True)
    peek(tx, "missing", algorithm, 5, HOUR)
    check(tx, "fresh", algorithm, 5, HOUR)
    started = time.monotonic()
    p, c = tx.execute()
    assert p[:4] == [1, 5, 4, -1] and close(p, c, stalled_ms(started))
    assert peek(r, "missing", algorithm, 5, HOUR, None, 6) == [0, 5, 5, -1, 0]
    assert r.exists("missing") == 0
    assert r.dbsize() == 1


def test_peek_is_exact_on_a_manual_clock(faketime_clocked):
    # The whole server's clock (libfaketime): key expiry follows it too.
    clocked = faketime_clocked
    c = clocked.client()
    check(c, "sw", SW, 7, 1000, cost=7)
    check(c, "sl", SL, 3, 1000, cost=3)
    check(c, "fw", FW, 3, 1000, cost=3)
    clocked.set_clock(T0 + 1142)
    assert peek(c, "sw", SW, 7, 1000) == [0, 7, 0, 1, 858]
    assert peek(c, "sl", SL, 3, 1000) == [1, 3, 2, -1, 1000]
    assert peek(c, "fw", FW, 3, 1000) == [1, 3, 2, -1, 858]
    clocked.set_clock(T0 + 1143)
    assert peek(c, "sw", SW, 7, 1000) == [1, 7, 0, -1, 1857]
    assert check(c, "sw", SW, 7, 1000) == [1, 7, 0, -1, 1857]
    assert peek(c, "sw", SW, 7, 1000) == [0, 7, 0, 143, 1857]
    assert inspect(c, "sw")["admitted"] == 8
    # The log and the window ended at T0 + 1000; peeking did not bring them back.
    assert c.exists("sl", "fw") == 0


def test_peek_resp3_reply_is_the_check_map(r3):
    reply = peek(r3, "k", SL, 4, HOUR)
    assert isinstance(reply, dict)
    assert [k.decode() for k in reply] == ["allowed", "limit", "remaining", "retry_after_ms",
                                           "reset_after_ms"]
    assert list(reply.values())[:4] == [1, 4, 3, -1]


def test_peek_is_flagged_readonly_and_declares_its_key(r):
    info = r.execute_command("COMMAND", "INFO", "rl.peek")
    entry = info.get("RL.PEEK") or info.get("rl.peek")
    assert entry, info
    assert "readonly" in entry["flags"] and "write" not in entry["flags"]
    assert (entry["first_key_pos"], entry["last_key_pos"], entry["step_count"]) == (1, 1, 1)
    assert r.command_getkeys("RL.PEEK", "k1", GCRA, 1, 1000, "BURST", 5) == ["k1"]


def test_peek_gives_the_same_errors_as_check(r):
    """test_bad_args.py's table, each vector sent to both commands (but `COST 0`, which
    RL.PEEK takes)."""
    wrong = []
    for args, _ in BAD:
        if any(a == "COST" and b in (0, "0") for a, b in zip(args, args[1:])):
            assert r.execute_command("RL.PEEK", *args)[0] == 1
            continue
        from_check = call_error(r, "RL.CHECK", *args)
        from_peek = call_error(r, "RL.PEEK", *args)
        if from_check.startswith("ERR wrong number of arguments"):
            ok = same_error(from_peek, arity_error("rl.peek"))
        else:
            ok = from_peek == from_check
        if not ok:
            wrong.append((args[:5], from_peek, from_check))
    assert not wrong, wrong
    assert call_error(r, "RL.PEEK", "k", "LEAKY", 5, 1000) == ALGORITHM_ERROR
    r.set("s", "v")
    assert call_error(r, "RL.PEEK", "s", GCRA, 5, 1000) == WRONGTYPE_ERROR
    check(r, "g", GCRA, 5, HOUR)
    assert call_error(r, "RL.PEEK", "g", SL, 5, HOUR) == MISMATCH_ERROR
    assert call_error(r, "RL.PEEK", "x", FW, 5, 1000, "BURST", 5) == WINDOW_BURST_ERROR
    assert call_error(r, "RL.PEEK", "x", SL, 5, 4_294_967_296) == sl_period_error(4)
    assert call_error(r, "RL.PEEK", "x", SL, 10_001, 1000) == sl_limit_error(3)
    assert r.exists("x") == 0


# -- RL.INSPECT -----------------------------------------------------------------------


def expect_inspect(c, key, **fields):
    info = inspect(c, key)
    assert info is not None, key
    got = {k: info[k] for k in fields}
    assert got == fields, info


def test_inspect_token_bucket_fields_are_exact(clocked):
    c = clocked.client()
    # 1 per 3 ms, burst 3: fractional tokens after every check.
    assert check(c, "k", TB, 1, 3, burst=3) == [1, 1, 2, -1, 3]
    clocked.set_clock(T0 + 1)
    assert check(c, "k", TB, 1, 3, burst=3) == [1, 1, 1, -1, 5]
    assert list(inspect(c, "k")) == INSPECT_COMMON + INSPECT_STATE[TB]
    expect_inspect(c, "k", algorithm=TB, limit=1, period_ms=3, burst=3, remaining=1,
                   reset_after_ms=5, ttl_ms=5, admitted=2, denied=0, tokens="1.333",
                   updated_ms=T0 + 1)
    clocked.set_clock(T0 + 2)
    assert check(c, "k", TB, 1, 3, burst=3) == [1, 1, 0, -1, 7]
    # 0.6666...: floored, never rounded up.
    expect_inspect(c, "k", remaining=0, reset_after_ms=7, ttl_ms=7, admitted=3, denied=0,
                   tokens="0.666", updated_ms=T0 + 2)
    assert check(c, "k", TB, 1, 3, burst=3, cost=2) == [0, 1, 0, 4, 7]
    expect_inspect(c, "k", admitted=3, denied=2, tokens="0.666", updated_ms=T0 + 2)
    # Later: remaining, reset and ttl are "right now".
    clocked.set_clock(T0 + 4)
    expect_inspect(c, "k", remaining=1, reset_after_ms=5, ttl_ms=5, admitted=3, denied=2)
    assert check(c, "whole", TB, 1000, 1000) == [1, 1000, 999, -1, 1]
    expect_inspect(c, "whole", tokens="999.000", burst=1000)


def test_inspect_gcra_fields_are_exact(clocked):
    c = clocked.client()
    check(c, "k", GCRA, 10, 1000)
    check(c, "k", GCRA, 10, 1000)
    assert list(inspect(c, "k")) == INSPECT_COMMON + INSPECT_STATE[GCRA]
    expect_inspect(c, "k", algorithm=GCRA, limit=10, period_ms=1000, burst=10, remaining=8,
                   reset_after_ms=200, ttl_ms=200, admitted=2, denied=0, tat_ms=T0 + 200)
    clocked.set_clock(T0 + 50)
    expect_inspect(c, "k", remaining=8, reset_after_ms=150, ttl_ms=150, tat_ms=T0 + 200)
    check(c, "b", GCRA, 1, 60_000, burst=5, cost=3)
    expect_inspect(c, "b", limit=1, period_ms=60_000, burst=5, remaining=2,
                   reset_after_ms=180_000, tat_ms=T0 + 50 + 180_000)


def test_inspect_fixed_window_fields_are_exact(clocked):
    c = clocked.client()
    clocked.set_clock(T0 + 200)
    check(c, "k", FW, 5, 1000, cost=2)
    assert list(inspect(c, "k")) == INSPECT_COMMON + INSPECT_STATE[FW]
    expect_inspect(c, "k", algorithm=FW, limit=5, period_ms=1000, burst=5, remaining=3,
                   reset_after_ms=800, ttl_ms=800, admitted=2, denied=0,
                   window_start_ms=T0, count=2)
    clocked.set_clock(T0 + 600)
    assert check(c, "k", FW, 5, 1000, cost=4)[0] == 0
    expect_inspect(c, "k", remaining=3, reset_after_ms=400, ttl_ms=400, admitted=2, denied=4,
                   window_start_ms=T0, count=2)


def test_inspect_sliding_window_fields_are_exact(clocked):
    c = clocked.client()
    clocked.set_clock(T0 + 100)
    check(c, "k", SW, 10, 1000, cost=4)
    expect_inspect(c, "k", window_start_ms=T0, previous_count=0, current_count=4,
                   remaining=6, reset_after_ms=1900)
    clocked.set_clock(T0 + 1200)
    check(c, "k", SW, 10, 1000)
    assert list(inspect(c, "k")) == INSPECT_COMMON + INSPECT_STATE[SW]
    # 10 - 4 * 800/1000 - 1 = 5.8
    expect_inspect(c, "k", algorithm=SW, limit=10, period_ms=1000, burst=10, remaining=5,
                   reset_after_ms=1800, ttl_ms=1800, admitted=5, denied=0,
                   window_start_ms=T0 + 1000, previous_count=4, current_count=1)


def test_inspect_sliding_log_fields_are_exact(clocked):
    c = clocked.client()
    clocked.set_clock(T0 + 100)
    check(c, "k", SL, 5, 1000)
    clocked.set_clock(T0 + 300)
    check(c, "k", SL, 5, 1000, cost=2)
    assert list(inspect(c, "k")) == INSPECT_COMMON + INSPECT_STATE[SL]
    expect_inspect(c, "k", algorithm=SL, limit=5, period_ms=1000, burst=5, remaining=2,
                   reset_after_ms=1000, ttl_ms=1000, admitted=3, denied=0, entries=3,
                   oldest_ms=T0 + 100, newest_ms=T0 + 300)
    clocked.set_clock(T0 + 1150)  # the unit at 100 no longer counts
    expect_inspect(c, "k", remaining=3, reset_after_ms=150, ttl_ms=150, newest_ms=T0 + 300)


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_inspect_resp2_list_and_resp3_map_carry_the_same_fields(server, r, r3, algorithm):
    check(r, "k", algorithm, 5, 10 * HOUR, cost=2)
    check(r, "k", algorithm, 5, 10 * HOUR, cost=9)  # denied
    raw2 = r.execute_command("RL.INSPECT", "k")
    raw3 = r3.execute_command("RL.INSPECT", "k")
    names = INSPECT_COMMON + INSPECT_STATE[algorithm]
    assert isinstance(raw2, list) and [raw2[i].decode() for i in range(0, len(raw2), 2)] == names
    assert isinstance(raw3, dict) and [k.decode() for k in raw3] == names
    assert raw2[1] == raw3[b"algorithm"] == algorithm.encode()
    v2, v3 = inspect(r, "k"), inspect(r3, "k")
    for name in names:
        if name in ("remaining", "reset_after_ms", "ttl_ms"):
            assert abs(v2[name] - v3[name]) <= 50, name
        else:
            assert v2[name] == v3[name], name
    assert (v2["limit"], v2["period_ms"], v2["burst"], v2["remaining"]) == (5, 10 * HOUR, 5, 3)
    assert (v2["admitted"], v2["denied"]) == (2, 9)
    assert abs(v2["ttl_ms"] - r.pttl("k")) <= 50
    if algorithm == TB:
        assert re.fullmatch(r"\d+\.\d{3}", v2["tokens"]), v2["tokens"]
        assert v2["tokens"] == "3.000"


def test_inspect_changes_nothing_and_a_missing_key_is_nil(r, r3):
    assert r.execute_command("RL.INSPECT", "missing") is None
    assert r3.execute_command("RL.INSPECT", "missing") is None
    assert r.exists("missing") == 0
    for algorithm in ALL_ALGORITHMS:
        check(r, algorithm, algorithm, 3, HOUR)
        before = (digest_value(r, algorithm), r.pexpiretime(algorithm))
        for _ in range(3):
            inspect(r, algorithm)
        assert (digest_value(r, algorithm), r.pexpiretime(algorithm)) == before
        assert inspect(r, algorithm)["admitted"] == 1


def test_inspect_errors(r):
    r.set("s", "v")
    r.hset("h", "f", "v")
    assert call_error(r, "RL.INSPECT", "s") == WRONGTYPE_ERROR
    assert call_error(r, "RL.INSPECT", "h") == WRONGTYPE_ERROR
    assert same_error(call_error(r, "RL.INSPECT"), arity_error("rl.inspect"))
    assert same_error(call_error(r, "RL.INSPECT", "a", "b"), arity_error("rl.inspect"))
    assert r.command_getkeys("RL.INSPECT", "k1") == ["k1"]


# -- replication ----------------------------------------------------------------------


def test_peek_and_inspect_propagate_nothing_and_work_on_a_read_only_replica(server_factory, kind):
    primary = server_factory(kind, options={"repl-ping-replica-period": "3600"},
                             name=f"{kind}-primary")
    replica = server_factory(kind, name=f"{kind}-replica")
    pc = primary.client()
    rc = attach(primary, replica)
    for algorithm in ALL_ALGORITHMS:
        check(pc, algorithm, algorithm, 5, 10 * HOUR, cost=2)
    assert pc.execute_command("WAIT", 1, 10_000) == 1
    offset = pc.info("replication")["master_repl_offset"]
    for algorithm in ALL_ALGORITHMS:
        for key in (algorithm, "missing"):
            peek(pc, key, algorithm, 5, 10 * HOUR)
            peek(pc, key, algorithm, 5, 10 * HOUR, None, 6)
        inspect(pc, algorithm)
    assert pc.info("replication")["master_repl_offset"] == offset, "RL.PEEK/INSPECT propagated"
    assert rc.execute_command("CONFIG", "GET", "replica-read-only")[1] == b"yes"
    for algorithm in ALL_ALGORITHMS:
        a = peek(pc, algorithm, algorithm, 5, 10 * HOUR)
        b = peek(rc, algorithm, algorithm, 5, 10 * HOUR)
        assert a[:4] == b[:4] == [1, 5, 2, -1]
        ip, ir = inspect(pc, algorithm), inspect(rc, algorithm)
        for name in INSPECT_COMMON + INSPECT_STATE[algorithm]:
            if name not in ("remaining", "reset_after_ms", "ttl_ms"):
                assert ip[name] == ir[name], (algorithm, name)
        assert ir["remaining"] == 3
    assert digest(rc) == digest(pc)
