"""RL.CHECK / RL.RESET / RL.STATS behaviour on a real server (Redis 7.0 and Valkey 9)."""

import math
import random
import time

import pytest
import redis

from helpers import (
    MISMATCH_ERROR,
    LATENCY_NAMES,
    STATS_FIELDS,
    ALGORITHMS,
    DECISION_FIELDS,
    FW,
    GCRA,
    SL,
    SW,
    STATS_NAMES,
    COMMANDS,
    DECIDING,
    stats_all,
    TB,
    arity_error,
    call_error,
    check,
    digest_value,
    inspect,
    mcheck,
    peek,
    same_error,
    server_time_ms,
    stats,
)

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
MISMATCH = MISMATCH_ERROR


class Stopwatch:
    """Upper bound of the server milliseconds elapsed since start (local clock, +1 for
    millisecond truncation on the server)."""

    def __init__(self):
        self.t0 = time.monotonic()

    def ms(self):
        return math.ceil((time.monotonic() - self.t0) * 1000) + 1


def assert_between(value, lo, hi, what="value"):
    assert lo <= value <= hi, f"{what}={value} not in [{lo}, {hi}]"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_fresh_key_admits_limit_then_denies(r, algorithm):
    """The contract's example: limit 3 per 1000 ms."""
    sw = Stopwatch()
    assert check(r, "k", algorithm, 3, 1000) == [1, 3, 2, -1, 334]
    a, b, c = (check(r, "k", algorithm, 3, 1000) for _ in range(3))
    e = sw.ms()
    assert a[:4] == [1, 3, 1, -1]
    assert_between(a[4], 667 - e, 667, "reset_after #2")
    assert b[:4] == [1, 3, 0, -1]
    assert_between(b[4], 1000 - e, 1000, "reset_after #3")
    assert c[:3] == [0, 3, 0]
    assert_between(c[3], 334 - e, 334, "retry_after when denied")
    assert_between(c[4], 1000 - e, 1000, "reset_after when denied")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_remaining_counts_down_and_reset_after_grows_per_unit(r, algorithm):
    # 10 per 10 hours: 1 hour per unit, so elapsed milliseconds never refill a unit.
    unit = 3_600_000
    sw = Stopwatch()
    for n in range(1, 11):
        reply = check(r, "k", algorithm, 10, 10 * unit)
        assert reply[:4] == [1, 10, 10 - n, -1]
        assert_between(reply[4], n * unit - sw.ms(), n * unit, f"reset_after #{n}")
    denied = check(r, "k", algorithm, 10, 10 * unit)
    assert denied[:3] == [0, 10, 0]
    assert_between(denied[3], unit - sw.ms(), unit, "retry_after")
    assert_between(denied[4], 10 * unit - sw.ms(), 10 * unit, "reset_after")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_burst_sets_capacity_independently_of_limit(r, algorithm):
    unit = 60_000  # limit 1 per minute
    sw = Stopwatch()
    for n in range(1, 6):
        reply = check(r, "k", algorithm, 1, unit, burst=5)
        assert reply[:4] == [1, 1, 5 - n, -1]
        assert_between(reply[4], n * unit - sw.ms(), n * unit)
    denied = check(r, "k", algorithm, 1, unit, burst=5)
    assert denied[:3] == [0, 1, 0]
    assert_between(denied[3], unit - sw.ms(), unit, "retry_after")
    assert_between(denied[4], 5 * unit - sw.ms(), 5 * unit, "reset_after")
    # A burst below the limit caps what a rested key admits at once.
    assert check(r, "small", algorithm, 10, unit, burst=2)[:3] == [1, 10, 1]
    assert check(r, "small", algorithm, 10, unit, burst=2)[:3] == [1, 10, 0]
    assert check(r, "small", algorithm, 10, unit, burst=2)[:3] == [0, 10, 0]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_cost_consumes_several_units(r, algorithm):
    unit = 6_000_000  # 10 per 60_000_000 ms
    sw = Stopwatch()
    assert check(r, "k", algorithm, 10, 10 * unit, cost=4) == [1, 10, 6, -1, 4 * unit]
    assert check(r, "k", algorithm, 10, 10 * unit, cost=4)[:4] == [1, 10, 2, -1]
    denied = check(r, "k", algorithm, 10, 10 * unit, cost=4)
    assert denied[:3] == [0, 10, 2]
    # 2 units left, 4 needed: two units must refill.
    assert_between(denied[3], 2 * unit - sw.ms(), 2 * unit, "retry_after")
    assert_between(denied[4], 8 * unit - sw.ms(), 8 * unit, "reset_after")
    assert check(r, "k", algorithm, 10, 10 * unit, cost=2)[:4] == [1, 10, 0, -1]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_cost_above_burst_is_never_admitted_and_creates_no_key(r, algorithm):
    assert check(r, "k", algorithm, 5, 1000, cost=6) == [0, 5, 5, -1, 0]
    assert r.exists("k") == 0
    assert check(r, "k", algorithm, 5, 1000, burst=7, cost=8) == [0, 5, 7, -1, 0]
    assert r.exists("k") == 0
    # On an existing key it only adds COST to the key's denied total.
    check(r, "k", algorithm, 5, 600_000)
    expiry = r.pexpiretime("k")
    reply = check(r, "k", algorithm, 5, 600_000, cost=6)
    assert reply[:4] == [0, 5, 4, -1]
    assert r.pexpiretime("k") == expiry
    info = inspect(r, "k")
    assert (info["admitted"], info["denied"]) == (1, 6)
    assert check(r, "k", algorithm, 5, 600_000)[:3] == [1, 5, 3]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_key_expiry_is_server_time_plus_reset_after(r, algorithm):
    for i, (limit, period, burst, cost) in enumerate(
        [(3, 1000, None, None), (5, 3_600_000, 10, 3), (1, 86_400_000, None, None), (7, 999, 3, 2)]
    ):
        key = f"k{i}"
        t0 = server_time_ms(r)
        reply = check(r, key, algorithm, limit, period, burst=burst, cost=cost)
        t1 = server_time_ms(r)
        assert reply[0] == 1
        expiry = r.pexpiretime(key)
        assert_between(expiry, t0 + reply[4], t1 + reply[4], f"PEXPIRETIME of {key}")
    # A second admitted check moves the expiry to the new rested instant.
    t0 = server_time_ms(r)
    reply = check(r, "k1", algorithm, 5, 3_600_000, burst=10, cost=3)
    t1 = server_time_ms(r)
    assert reply[:3] == [1, 5, 4]
    assert_between(r.pexpiretime("k1"), t0 + reply[4], t1 + reply[4], "PEXPIRETIME after 2nd check")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_denied_check_on_a_missing_key_changes_nothing(r, algorithm):
    for args in [(2, 3_600_000, None, 3), (2, 3_600_000, 2, 3), (1, 1000, None, 2)]:
        assert check(r, "k", algorithm, *args)[0] == 0
    assert r.exists("k") == 0 and r.dbsize() == 0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_denied_check_on_an_existing_key_changes_only_the_denied_total(r, algorithm):
    check(r, "k", algorithm, 2, 3_600_000)
    check(r, "k", algorithm, 2, 3_600_000)
    expiry = r.pexpiretime("k")
    state = {k: v for k, v in inspect(r, "k").items()
             if k not in ("remaining", "reset_after_ms", "ttl_ms", "denied")}
    probe = peek(r, "k", algorithm, 2, 3_600_000)
    denied = 0
    for args in [
        (2, 3_600_000, None, None),
        (2, 3_600_000, None, 2),
        (2, 3_600_000, 2, 1),
        (1, 1_800_000, None, None),  # another quota, still denied: no conversion stored
        (4, 7_200_000, 2, 1),
    ]:
        time.sleep(0.003)
        reply = check(r, "k", algorithm, *args)
        assert reply[0] == 0, args
        assert reply[3] > 0
        denied += args[3] or 1
        assert r.pexpiretime("k") == expiry, args
        info = inspect(r, "k")
        assert info["denied"] == denied, args
        assert {k: v for k, v in info.items() if k in state} == state, args
    again = peek(r, "k", algorithm, 2, 3_600_000)
    assert again[:3] == probe[:3] and 0 < probe[3] - again[3] < 1000, (probe, again)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_retry_after_is_the_instant_of_admission(r, algorithm):
    """limit 1, burst 1: the denied reply's retry_after points exactly at the key's
    expiry; a check before it is denied, one at/after it is admitted."""
    period = 600
    assert check(r, "k", algorithm, 1, period)[:4] == [1, 1, 0, -1]
    expiry = r.pexpiretime("k")
    t0 = server_time_ms(r)
    denied = check(r, "k", algorithm, 1, period)
    t1 = server_time_ms(r)
    assert denied[0] == 0
    assert denied[3] == denied[4], "limit 1 burst 1: retry_after equals reset_after"
    assert_between(expiry - denied[3], t0, t1, "check time implied by retry_after")
    # Well before the instant: still denied, and the retry shrank by the time passed.
    time.sleep(max(0, expiry - server_time_ms(r) - 250) / 1000)
    t0 = server_time_ms(r)
    again = check(r, "k", algorithm, 1, period)
    t1 = server_time_ms(r)
    assert again[0] == 0, again
    assert_between(expiry - again[3], t0, t1, "check time implied by the second retry_after")
    assert r.pexpiretime("k") == expiry
    # Sleep until the server clock reaches the instant retry_after named.
    while server_time_ms(r) < expiry:
        time.sleep(max(0.001, (expiry - server_time_ms(r)) / 1000))
    assert check(r, "k", algorithm, 1, period)[:4] == [1, 1, 0, -1]


def test_resp2_reply_is_a_list_and_resp3_reply_is_a_map(r, r3):
    a = check(r, "k", GCRA, 10, 3_600_000)
    assert isinstance(a, list) and len(a) == 5 and all(type(v) is int for v in a)
    b = check(r3, "k", GCRA, 10, 3_600_000)
    assert isinstance(b, dict)
    assert [k.decode() for k in b] == DECISION_FIELDS
    assert all(type(v) is int for v in b.values())
    assert (b[b"allowed"], b[b"limit"], b[b"remaining"], b[b"retry_after_ms"]) == (1, 10, 8, -1)
    for _ in range(8):
        check(r3, "k", GCRA, 10, 3_600_000)
    denied = check(r3, "k", GCRA, 10, 3_600_000)
    assert denied[b"allowed"] == 0 and denied[b"remaining"] == 0
    assert 0 < denied[b"retry_after_ms"] <= 360_000
    assert check(r, "k", GCRA, 10, 3_600_000)[:3] == [0, 10, 0]


def test_keywords_and_command_name_are_case_insensitive(r):
    assert r.execute_command("rl.check", "a", "token_bucket", 5, 1000)[:3] == [1, 5, 4]
    assert r.execute_command("Rl.ChEcK", "a", "ToKeN_bUcKeT", 5, 1000, "cost", 2)[:3] == [1, 5, 2]
    reply = r.execute_command("RL.CHECK", "b", "gcra", 5, 1000, "bUrSt", 7, "CoSt", 3)
    assert reply[:3] == [1, 5, 4]
    assert r.execute_command("RL.CHECK", "c", "Gcra", 5, 1000, "burst", 2)[:3] == [1, 5, 1]
    assert r.execute_command("rl.reset", "a", "b", "c") == 3


def test_binary_key_bytes_work(r):
    key = b"\xff\xfe\x00k"
    other = b"\xff\xfe\x00j"
    assert check(r, key, TB, 1, 3_600_000)[:3] == [1, 1, 0]
    assert check(r, key, TB, 1, 3_600_000)[0] == 0
    assert check(r, other, TB, 1, 3_600_000)[0] == 1, "a key differing after NUL is distinct"
    assert r.type(key) == b"ratelimit"
    assert r.pexpiretime(key) > 0
    assert r.keys("*") and set(r.keys("*")) == {key, other}
    assert r.execute_command("RL.RESET", key) == 1
    assert r.exists(key) == 0 and r.exists(other) == 1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_type_is_ratelimit(r, algorithm):
    check(r, "k", algorithm, 5, 1000)
    assert r.type("k") == b"ratelimit"
    assert r.memory_usage("k") > 0


@pytest.mark.parametrize("setup, read", [
    (lambda c: c.set("x", "hello"), lambda c: c.get("x")),
    (lambda c: c.rpush("x", "a", "b"), lambda c: c.lrange("x", 0, -1)),
    (lambda c: c.hset("x", mapping={"f": "v"}), lambda c: c.hgetall("x")),
    (lambda c: c.sadd("x", "m"), lambda c: c.smembers("x")),
], ids=["string", "list", "hash", "set"])
def test_wrongtype_on_keys_of_other_types(r, setup, read):
    setup(r)
    r.pexpire("x", 3_600_000)
    before = (read(r), r.pexpiretime("x"), r.type("x"))
    for algorithm in ALGORITHMS:
        assert call_error(r, "RL.CHECK", "x", algorithm, 5, 1000) == WRONGTYPE
        assert call_error(r, "RL.CHECK", "x", algorithm, 5, 1000, "COST", 9) == WRONGTYPE
    assert (read(r), r.pexpiretime("x"), r.type("x")) == before


@pytest.mark.parametrize("first, second", [(TB, GCRA), (GCRA, TB)])
def test_other_algorithm_on_existing_key_is_an_error(r, first, second):
    check(r, "k", first, 5, 60_000)
    before = (r.pexpiretime("k"), digest_value(r, "k"))
    assert call_error(r, "RL.CHECK", "k", second, 5, 60_000) == MISMATCH
    assert call_error(r, "RL.CHECK", "k", second, 9, 1000, "BURST", 2) == MISMATCH
    assert (r.pexpiretime("k"), digest_value(r, "k")) == before
    assert check(r, "k", first, 5, 60_000)[:3] == [1, 5, 3]
    assert r.execute_command("RL.RESET", "k") == 1
    assert check(r, "k", second, 5, 60_000)[:3] == [1, 5, 4]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_quota_change_keeps_used_units_used(r, algorithm):
    hour = 3_600_000
    for _ in range(3):
        check(r, "k", algorithm, 5, 5 * hour)
    # Raise the quota: the 3 used units stay used (10 - 3 - 1 = 6 remaining).
    assert check(r, "k", algorithm, 10, 10 * hour)[:4] == [1, 10, 6, -1]
    # Lower it below what is used: 4 used > burst 2, so denied with nothing left.
    denied = check(r, "k", algorithm, 2, 2 * hour)
    assert denied[:3] == [0, 2, 0]
    # The denied conversion was not stored: the old quota still sees 6 remaining.
    assert check(r, "k", algorithm, 10, 10 * hour)[:3] == [1, 10, 5]


def test_both_algorithms_give_identical_decisions(r):
    """Same request sequence on a token bucket and a GCRA key, each pair sent back to
    back; long periods make the milliseconds between the two negligible."""
    rng = random.Random(7)
    hour = 3_600_000
    for i in range(300):
        limit = rng.choice([1, 2, 5, 10])
        per_unit = rng.choice([1, 2, 3]) * hour
        burst = rng.choice([None, 1, 3, 10, 20])
        cost = rng.choice([None, 1, 1, 2, 4, 25])
        p = r.pipeline(transaction=True)
        check(p, "tb", TB, limit, limit * per_unit, burst, cost)
        check(p, "gcra", GCRA, limit, limit * per_unit, burst, cost)
        started = time.monotonic()
        a, b = p.execute()
        # Redis 7.0 reads the clock per command, even inside MULTI: 2 ms, or as long as
        # the transaction took on a loaded machine.
        tol = 2 + int((time.monotonic() - started) * 1000)
        assert a[:3] == b[:3], (i, limit, per_unit, burst, cost, a, b)
        assert abs(a[3] - b[3]) <= tol and abs(a[4] - b[4]) <= tol, (i, a, b)
        if rng.random() < 0.03:
            present = r.exists("tb", "gcra")
            assert present in (0, 2), "one algorithm admitted what the other did not"
            assert r.execute_command("RL.RESET", "tb", "gcra") == present


def test_reset_counts_only_limiters_and_leaves_other_types(r):
    check(r, "a", TB, 5, 1000)
    check(r, "b", GCRA, 5, 1000)
    r.set("s", "keep")
    r.rpush("l", "x")
    assert r.execute_command("RL.RESET", "a", "s", "missing", "b", "l", "a") == 2
    assert r.exists("a", "b") == 0
    assert r.get("s") == b"keep" and r.lrange("l", 0, -1) == [b"x"]
    assert r.execute_command("RL.RESET", "a", "b") == 0
    assert r.execute_command("RL.RESET", "s") == 0 and r.get("s") == b"keep"
    assert same_error(call_error(r, "RL.RESET"), arity_error("rl.reset"))
    # A reset key starts over as a rested limiter.
    check(r, "a", TB, 1, 3_600_000)
    assert check(r, "a", TB, 1, 3_600_000)[0] == 0
    assert r.execute_command("RL.RESET", "a") == 1
    assert check(r, "a", TB, 1, 3_600_000)[:3] == [1, 1, 0]


@pytest.mark.parametrize("protocol", [2, 3])
def test_stats_count_exactly(server, protocol):
    c = server.client(protocol=protocol)
    base = stats(c)
    base_all = stats_all(c)
    assert list(base) == STATS_NAMES
    # token bucket: 2 allowed, 1 denied, 1 denied because COST > BURST
    check(c, "tb", TB, 2, 3_600_000)
    check(c, "tb", TB, 2, 3_600_000)
    check(c, "tb", TB, 2, 3_600_000)
    check(c, "tb2", TB, 2, 3_600_000, cost=3)
    # gcra: 1 allowed, 2 denied
    check(c, "g", GCRA, 1, 3_600_000)
    check(c, "g", GCRA, 1, 3_600_000)
    check(c, "g", GCRA, 1, 3_600_000)
    # fixed window: 1 allowed, 1 denied
    check(c, "fw", FW, 1, 3_600_000)
    check(c, "fw", FW, 1, 3_600_000)
    # RL.MCHECK counts one check per key: sliding window and log, 1 allowed, 1 denied each
    mcheck(c, [("sw", SW, 1, 3_600_000), ("sl", SL, 1, 3_600_000)])
    mcheck(c, [("sw", SW, 1, 3_600_000), ("sl", SL, 1, 3_600_000)])
    # RL.PEEK is not counted
    peek(c, "fw", FW, 1, 3_600_000)
    peek(c, "new", SL, 1, 3_600_000)
    c.set("s", "x")
    errors = [
        ("RL.CHECK", "s", TB, 1, 1000),            # WRONGTYPE: token_bucket_errors
        ("RL.CHECK", "tb", GCRA, 1, 1000),         # mismatch: gcra_errors
        ("RL.CHECK", "g", TB, 1, 1000),            # mismatch: token_bucket_errors
        ("RL.CHECK", "g", GCRA, 0, 1000),          # parse error: no algorithm counter
        ("RL.CHECK", "g", "LEAKY", 1, 1000),       # parse error
        ("RL.CHECK", "g"),                         # arity: refused by the server
        ("RL.RESET",),                             # arity: refused by the server
        ("RL.APPLY", "g", b"junk"),                # bad payload
        ("RL.STATS", "extra"),                     # unknown subcommand
        ("RL.CHECK", "fw", SL, 1, 1000),           # mismatch: sliding_log_errors
    ]
    for args in errors:
        call_error(c, *args)
    after = stats(c)
    after_all = stats_all(c)
    delta = {k: after[k] - base[k] for k in STATS_NAMES}
    # Arity errors never reach the module (the server checks the arity that COMMAND
    # INFO declares): they count in INFO errorstats and commandstats' rejected_calls.
    assert delta == {
        "checks": 13, "allowed": 6, "denied": 7, "errors": 8,
        "token_bucket_checks": 4, "token_bucket_allowed": 2,
        "token_bucket_denied": 2, "token_bucket_errors": 2,
        "gcra_checks": 3, "gcra_allowed": 1, "gcra_denied": 2, "gcra_errors": 1,
        "fixed_window_checks": 2, "fixed_window_allowed": 1,
        "fixed_window_denied": 1, "fixed_window_errors": 0,
        "sliding_window_checks": 2, "sliding_window_allowed": 1,
        "sliding_window_denied": 1, "sliding_window_errors": 0,
        "sliding_log_checks": 2, "sliding_log_allowed": 1,
        "sliding_log_denied": 1, "sliding_log_errors": 1,
        # live keys: tb, g, fw, sw, sl (tb2 was never created)
        "keys": 5, "token_bucket_keys": 1, "gcra_keys": 1, "fixed_window_keys": 1,
        "sliding_window_keys": 1, "sliding_log_keys": 1,
        "leases_checks": 0, "leases_allowed": 0, "leases_denied": 0, "leases_errors": 0,
        "leases_keys": 0,
        "calendar_checks": 0, "calendar_allowed": 0, "calendar_denied": 0,
        "calendar_errors": 0, "calendar_keys": 0,
        "policies_checks": 0, "policies_allowed": 0, "policies_denied": 0, "policies_errors": 0,
        "policies_keys": 0, "shadow_denied": 0,
    }
    per_command = {
        f"{cmd}_{field}": after_all[f"{cmd}_{field}"] - base_all[f"{cmd}_{field}"]
        for cmd in COMMANDS
        for field in ("calls", "errors") + (("allowed", "denied") if cmd in DECIDING else ())
    }
    assert per_command == {
        # 9 decided checks (4 allowed, 5 denied) and 6 errors
        "check_calls": 15, "check_errors": 6, "check_allowed": 4, "check_denied": 5,
        "peek_calls": 2, "peek_errors": 0, "peek_allowed": 1, "peek_denied": 1,
        # RL.MCHECK counts its overall decision once per call
        "mcheck_calls": 2, "mcheck_errors": 0, "mcheck_allowed": 1, "mcheck_denied": 1,
        "inspect_calls": 0, "inspect_errors": 0,
        "reset_calls": 0, "reset_errors": 0,
        # stats_all(c) after `base` and RL.STATS extra; a call counts after its reply
        "stats_calls": 3, "stats_errors": 1,
        "apply_calls": 1, "apply_errors": 1,
        "throttle_calls": 0, "throttle_errors": 0, "throttle_allowed": 0, "throttle_denied": 0,
        "metrics_calls": 0, "metrics_errors": 0,
        "refund_calls": 0, "refund_errors": 0,
        "acquire_calls": 0, "acquire_errors": 0, "acquire_allowed": 0, "acquire_denied": 0,
        "release_calls": 0, "release_errors": 0, "renew_calls": 0, "renew_errors": 0,
        "block_calls": 0, "block_errors": 0,
        "policy_calls": 0, "policy_errors": 0,
    }
    assert sum(after_all[f"{cmd}_errors"] for cmd in COMMANDS) == after["errors"]
    # RL.RESET and RL.APPLY successes are not checks; RL.STATS itself counts nothing.
    # Only the live key gauges move.
    c.execute_command("RL.RESET", "tb", "g")
    now = stats(c)
    assert {k: v for k, v in now.items() if not k.endswith("keys")} == {
        k: v for k, v in after.items() if not k.endswith("keys")
    }
    assert now["keys"] == after["keys"] - 2
    assert now["token_bucket_keys"] == after["token_bucket_keys"] - 1


def test_stats_resp2_and_resp3_agree(server):
    c2, c3 = server.client(protocol=2), server.client(protocol=3)
    check(c2, "k", GCRA, 1, 1000)
    check(c2, "k", GCRA, 1, 1000)
    raw2 = c2.execute_command("RL.STATS")
    raw3 = c3.execute_command("RL.STATS")
    names = STATS_FIELDS
    assert isinstance(raw2, list) and len(raw2) == 2 * len(names)
    assert [raw2[i].decode() for i in range(0, len(raw2), 2)] == names
    assert isinstance(raw3, dict)
    resp3 = {k.decode(): v for k, v in raw3.items()}
    assert list(resp3) == names
    assert {k: resp3[k] for k in STATS_NAMES} == stats(c2)
    # Latencies: a 3-decimal string on RESP2, a double on RESP3, the same value
    # (but RL.STATS's own, which the first call moved).
    resp2 = {raw2[i].decode(): raw2[i + 1] for i in range(0, len(raw2), 2)}
    assert resp3["check_calls"] == resp2["check_calls"] == 2
    for k in LATENCY_NAMES:
        if k.endswith("_us") and not k.startswith("stats_"):
            assert abs(float(resp2[k]) - resp3[k]) < 0.001, k
    assert 0 < resp3["check_p50_us"] <= resp3["check_p99_us"] <= resp3["check_max_us"]
    assert stats(c2)["gcra_denied"] == 1


def test_command_getkeys_names_the_keys(r):
    assert r.command_getkeys("RL.CHECK", "k1", GCRA, 1, 1000) == ["k1"]
    assert r.command_getkeys("RL.CHECK", "k1", GCRA, 1, 1000, "BURST", 5, "COST", 2) == ["k1"]
    assert r.command_getkeys("RL.RESET", "a", "b", "c") == ["a", "b", "c"]
    assert r.command_getkeys("RL.RESET", "only") == ["only"]
    assert r.command_getkeys("RL.APPLY", "k2", "payload") == ["k2"]


def test_command_info_flags(r):
    info = r.execute_command("COMMAND", "INFO", "rl.check", "rl.reset", "rl.stats", "rl.apply")
    chk = info["RL.CHECK"] if "RL.CHECK" in info else info["rl.check"]
    assert {"write", "denyoom", "fast"} <= set(chk["flags"])
    assert (chk["first_key_pos"], chk["last_key_pos"], chk["step_count"]) == (1, 1, 1)
    rst = info.get("RL.RESET") or info["rl.reset"]
    assert "write" in rst["flags"]
    assert (rst["first_key_pos"], rst["last_key_pos"], rst["step_count"]) == (1, -1, 1)
    sts = info.get("RL.STATS") or info["rl.stats"]
    assert "readonly" in sts["flags"] and "write" not in sts["flags"]
    app = info.get("RL.APPLY") or info["rl.apply"]
    assert "write" in app["flags"]


def test_module_is_listed(r):
    mods = r.module_list()
    names = [m[b"name"] if b"name" in m else m["name"] for m in mods]
    assert b"ratelimit" in names or "ratelimit" in names


def test_checks_are_refused_when_out_of_memory(r):
    """deny-oom: RL.CHECK and RL.APPLY are refused over maxmemory; RL.RESET and
    RL.STATS still run."""
    check(r, "k", GCRA, 5, 60_000)
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", 1)
    try:
        err = call_error(r, "RL.CHECK", "k2", GCRA, 5, 60_000)
        assert err.startswith("OOM "), err
        err = call_error(r, "RL.APPLY", "k3", b"x" * 58)
        assert err.startswith("OOM "), err
        assert r.exists("k2", "k3") == 0
        assert stats(r)["checks"] == 1
        assert r.execute_command("RL.RESET", "k") == 1
    finally:
        r.config_set("maxmemory", 0)
    assert check(r, "k2", GCRA, 5, 60_000)[0] == 1


def test_flushall_and_unlink_free_limiters(r):
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        check(pipe, f"k{i}", TB if i % 2 else GCRA, 5, 60_000)
    assert all(reply[0] == 1 for reply in pipe.execute())
    assert r.unlink("k0", "k1") == 2
    r.flushall(asynchronous=True)
    assert r.dbsize() == 0
    for i in range(2000):
        check(pipe, f"k{i}", TB, 5, 60_000)
    pipe.execute()
    r.flushall()
    assert r.dbsize() == 0
    assert check(r, "k0", TB, 5, 60_000)[:3] == [1, 5, 4]


def test_acl_key_patterns_and_command_rules_apply(server, r):
    """docs/commands.md: keys are declared, so ACL key patterns see them, and RL.APPLY
    can be denied to application users with -rl.apply."""
    r.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~rl:*", "+@all", "-rl.apply")
    app = server.client(username="app", password="pw")
    assert check(app, "rl:1", GCRA, 5, 1000)[0] == 1
    for args in (("RL.CHECK", "other", GCRA, 5, 1000), ("RL.RESET", "rl:1", "other")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            app.execute_command(*args)
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.execute_command("RL.APPLY", "rl:2", b"x")
    assert r.exists("other", "rl:2") == 0
    assert app.execute_command("RL.RESET", "rl:1") == 1
    assert len(app.execute_command("RL.STATS")) == 2 * len(STATS_FIELDS)


def test_other_types_commands_on_a_limiter_key_get_wrongtype(r):
    check(r, "k", TB, 5, 3_600_000)
    before = (r.pexpiretime("k"), digest_value(r, "k"))
    for args in (("GET", "k"), ("INCR", "k"), ("APPEND", "k", "x"), ("LPUSH", "k", "x"),
                 ("HSET", "k", "f", "v"), ("SADD", "k", "m"), ("ZADD", "k", 1, "m")):
        assert call_error(r, *args) == WRONGTYPE, args
    assert (r.pexpiretime("k"), digest_value(r, "k")) == before
    assert r.type("k") == b"ratelimit"
