"""Penalty blocks: `BLOCK ms` on a check (a denial blocks the key for ms) and
`RL.BLOCK key ms` (an explicit ban). While blocked, every check of the key is denied
with `retry_after_ms` the time left, whatever it asks; RL.RESET lifts the block;
RL.INSPECT shows it. Exact times on the module's manual clock (both servers),
replication and AOF as effects, and 50 clients that never get through a block."""

import threading

import pytest
import redis

from helpers import (
    ALL_ALGORITHMS,
    GCRA,
    INSPECT_COMMON,
    INSPECT_STATE,
    SL,
    T0,
    TB,
    arg_error,
    arity_error,
    attach,
    call_error,
    check,
    digest,
    digest_value,
    inspect,
    same_error,
    stats,
    stats_all,
    EXPECTED_DURATION,
)


def block(c, key, ms):
    return c.execute_command("RL.BLOCK", key, ms)


def check_b(c, key, algorithm, limit, period, block_ms, cost=None):
    args = ["RL.CHECK", key, algorithm, limit, period]
    if cost is not None:
        args += ["COST", cost]
    return c.execute_command(*args, "BLOCK", block_ms)


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_a_denial_with_block_blocks_the_key_for_exactly_ms(clocked, algorithm):
    c = clocked.client()
    assert check_b(c, "k", algorithm, 2, 1000, 5000, cost=2)[0] == 1
    d = check_b(c, "k", algorithm, 2, 1000, 5000)
    # The denial that sets the block waits for the block, not for the next unit.
    assert d[0] == 0 and d[3] == 5000 and d[4] >= 5000
    # Long after the window would have refilled, the key is still blocked.
    clocked.advance_clock(4999)
    assert list(check(c, "k", algorithm, 2, 1000)) == [0, 2, 0, 1, 1]
    clocked.advance_clock(1)
    assert check(c, "k", algorithm, 2, 1000)[0] == 1
    assert inspect(c, "k")["blocked_ms"] == 0


def test_checks_during_a_block_do_not_extend_it_and_count_as_denied(clocked):
    c = clocked.client()
    check_b(c, "k", GCRA, 1, 1000, 3000)
    assert check_b(c, "k", GCRA, 1, 1000, 3000)[3] == 3000
    clocked.advance_clock(1000)
    # Still blocked: denied with the time left; this denial does not block anew.
    assert check_b(c, "k", GCRA, 1, 1000, 3000)[3] == 2000
    clocked.advance_clock(2000)
    assert check(c, "k", GCRA, 1, 1000)[0] == 1
    assert inspect(c, "k")["denied"] == 2


def test_without_block_a_denial_blocks_nothing(clocked):
    c = clocked.client()
    check(c, "k", TB, 1, 1000)
    assert check(c, "k", TB, 1, 1000)[3] == 1000
    clocked.advance_clock(1000)
    assert check(c, "k", TB, 1, 1000)[0] == 1


def test_a_blocked_key_denies_any_algorithm_and_cost_at_a_lookup(clocked):
    c = clocked.client()
    check(c, "k", SL, 5, 1000)
    assert block(c, "k", "10s") == b"OK"
    # Even another algorithm's check is denied, not a mismatch error, while blocked.
    assert list(check(c, "k", GCRA, 100, 1000, cost=1)) == [0, 100, 0, 10_000, 10_000]
    assert c.execute_command("RL.PEEK", "k", SL, 5, 1000)[0] == 0
    clocked.advance_clock(10_000)
    with pytest.raises(redis.ResponseError, match="another algorithm"):
        check(c, "k", GCRA, 100, 1000)
    assert check(c, "k", SL, 5, 1000)[0] == 1


def test_rl_block_on_a_missing_key_creates_a_block_only_key_that_expires_with_it(clocked):
    c = clocked.client()
    assert block(c, "ban", 60_000) == b"OK"
    info = inspect(c, "ban")
    assert list(info) == INSPECT_COMMON + INSPECT_STATE["NONE"]
    assert (info["algorithm"], info["limit"], info["blocked_ms"]) == ("NONE", 0, 60_000)
    # The key expires when its block ends (absolute, on the module's clock).
    assert c.pexpiretime("ban") == T0 + 60_000
    assert check(c, "ban", TB, 3, 1000)[3] == 60_000
    assert c.execute_command("RL.ACQUIRE", "ban", 3, 1000)[:4] == [0, 3, 0, 60_000]
    clocked.advance_clock(60_000)
    # Ended: the key starts holding the first algorithm checked.
    assert check(c, "ban", TB, 3, 1000)[0] == 1
    assert inspect(c, "ban")["algorithm"] == "TOKEN_BUCKET"
    s = stats(c)
    assert s["keys"] == s["token_bucket_keys"] == 1


def test_rl_block_replaces_a_block_so_a_ban_can_be_shortened(clocked):
    c = clocked.client()
    block(c, "k", "1h")
    block(c, "k", "2s")
    assert inspect(c, "k")["blocked_ms"] == 2000
    clocked.advance_clock(2000)
    assert check(c, "k", GCRA, 1, 1000)[0] == 1


def test_reset_lifts_a_block(clocked):
    c = clocked.client()
    check(c, "k", GCRA, 5, 1000)
    block(c, "k", "1h")
    assert c.execute_command("RL.RESET", "k") == 1
    assert check(c, "k", GCRA, 5, 1000)[0] == 1


def test_the_expiry_covers_the_block_and_never_shortens(server):
    c = server.client()
    check(c, "long", GCRA, 1, 3_600_000)  # rested in an hour
    block(c, "long", "1s")
    assert c.pttl("long") > 3_000_000
    check(c, "short", GCRA, 1, 1000)
    block(c, "short", "1h")
    assert c.pttl("short") > 3_000_000
    c.set("plain", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        block(c, "plain", "1s")
    assert c.get("plain") == b"x"


def test_bad_block_arguments_are_clear_errors(clocked):
    c = clocked.client()
    for bad in ("0", "-1", "1w", "x", "9223372036854775808"):
        assert call_error(c, "RL.BLOCK", "k", bad) == arg_error(2, "BLOCK", EXPECTED_DURATION)
        assert (call_error(c, "RL.CHECK", "k", GCRA, 1, 1000, "BLOCK", bad)
                == arg_error(6, "BLOCK", EXPECTED_DURATION))
    assert (call_error(c, "RL.CHECK", "k", GCRA, 1, 1000, "BLOCK")
            == arg_error(5, "BLOCK", "needs a value"))
    assert (call_error(c, "RL.CHECK", "k", GCRA, 1, 1000, "BLOCK", 1, "BLOCK", 2)
            == arg_error(7, "BLOCK", "given more than once"))
    assert same_error(call_error(c, "RL.BLOCK", "k"), arity_error("rl.block"))
    assert c.exists("k") == 0


def test_block_in_mcheck_blocks_only_the_denying_key(clocked):
    c = clocked.client()
    spec = lambda limit: [GCRA, limit, 1000, "BLOCK", 5000]  # noqa: E731
    assert c.execute_command("RL.MCHECK", 2, "a", "b", *spec(5), *spec(1))[0] == 1
    d = c.execute_command("RL.MCHECK", 2, "a", "b", *spec(5), *spec(1))
    assert d[0] == 0 and d[1] == 5000 and d[3][3] == 5000
    assert inspect(c, "b")["blocked_ms"] == 5000 and inspect(c, "a")["blocked_ms"] == 0
    assert check(c, "a", GCRA, 5, 1000)[0] == 1


def test_at_most_on_a_blocked_key_grants_nothing(clocked):
    c = clocked.client()
    block(c, "k", 1000)
    d = c.execute_command("RL.CHECK", "k", TB, 10, 1000, "COST", 5, "AT_MOST")
    assert (d[0], d[3], d[5]) == (0, 1000, 0)


def test_dump_restore_keeps_the_block(clocked):
    c = clocked.client()
    check(c, "k", TB, 5, 1000)
    block(c, "k", 7000)
    block(c, "only", 7000)
    for key in ("k", "only"):
        payload = c.dump(key)
        c.restore(key + ":copy", 0, payload)
        assert inspect(c, key + ":copy")["blocked_ms"] == 7000
        assert c.dump(key + ":copy") == payload


def test_replicas_and_the_aof_hold_the_same_blocks(server_factory, kind):
    opts = {"appendonly": "yes", "aof-use-rdb-preamble": "no", "appendfsync": "always"}
    primary = server_factory(kind, options=opts)
    replica = server_factory(kind, name=f"{kind}-replica")
    pc = primary.client()
    rc = attach(primary, replica)
    for i in range(20):
        check_b(pc, f"b:{i}", GCRA, 1, 1000, "1h", cost=1 + (i % 3 == 0))
        check_b(pc, f"b:{i}", GCRA, 1, 1000, "1h")
    block(pc, "ban", "1h")
    pc.execute_command("MULTI")
    pc.execute_command("RL.CHECK", "b:0", GCRA, 1, 1000, "BLOCK", "1h")
    pc.execute_command("EXEC")
    assert pc.execute_command("WAIT", 1, 10_000) == 1
    keys = sorted(k.decode() for k in pc.keys("*"))
    assert digest(pc) == digest(rc)
    before = {k: (pc.pexpiretime(k), digest_value(pc, k)) for k in keys}
    assert {k: (rc.pexpiretime(k), digest_value(rc, k)) for k in keys} == before
    assert all(inspect(rc, k)["blocked_ms"] > 3_000_000 for k in keys)
    primary.restart(save=None)
    pc = primary.client()
    assert {k: (pc.pexpiretime(k), digest_value(pc, k)) for k in keys} == before


def test_fifty_clients_never_get_through_a_block(server):
    c = server.client()
    block(c, "hot", "1h")
    admitted = []

    def worker():
        cc = server.client()
        n = 0
        for _ in range(100):
            n += check(cc, "hot", GCRA, 1_000_000, 1000)[0]
        admitted.append(n)
        cc.close()

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert admitted == [0] * 50
    assert inspect(c, "hot")["denied"] == 5000


def test_stats_count_block_calls(clocked):
    c = clocked.client()
    block(c, "k", 1000)
    assert stats_all(c)["block_calls"] == 1
    assert stats(c)["keys"] == 1
