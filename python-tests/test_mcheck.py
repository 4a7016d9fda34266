"""RL.MCHECK: all-or-nothing checks over several keys: replies, charging, totals,
errors, key declaration (GETKEYS, a single-node cluster's CROSSSLOT, ACL patterns)."""
import time

import pytest
import redis

from helpers import (
    ALGORITHM_ERROR,
    ALL_ALGORITHMS,
    DECISION_FIELDS,
    FW,
    GCRA,
    MISMATCH_ERROR,
    SL,
    SW,
    TB,
    WRONGTYPE_ERROR,
    arg_error,
    arity_error,
    burst_error,
    cost_error,
    limit_error,
    mcheck_option_error,
    missing_value_error,
    numkeys_mismatch_error,
    period_error,
    sl_limit_error,
    sl_period_error,
    twice_error,
    window_burst_error,
    call_error,
    check,
    inspect,
    mcheck,
    peek,
    same_error,
    wait_until,
)

HOUR = 3_600_000
NUMKEYS_ERROR = arg_error(1, "numkeys", "expected an integer between 1 and 1024")
DUPLICATE_ERROR = "ERR a key appears more than once in RL.MCHECK"


def near(a, b, tol=2):
    """Same decision; time-valued fields within `tol` ms (separate commands)."""
    return a[:3] == b[:3] and abs(a[3] - b[3]) <= tol and abs(a[4] - b[4]) <= tol


def frozen(c, keys):
    """Everything a denied MCHECK must leave alone, except the denied totals."""
    out = {}
    for k in keys:
        info = inspect(c, k) if c.exists(k) else None
        out[k] = (c.pexpiretime(k), info and {n: v for n, v in info.items()
                                              if n not in ("remaining", "reset_after_ms",
                                                           "ttl_ms", "denied")})
    return out


def denied_total(c, key):
    info = inspect(c, key) if c.exists(key) else None
    return None if info is None else info["denied"]


def since_ms(start):
    """A tolerance for times from separate commands: 2 ms, plus as long as the test has
    run (a loaded 2-core machine can stall between two commands)."""
    return 2 + int((time.monotonic() - start) * 1000)


def test_all_keys_admitted_are_all_charged(r):
    start = time.monotonic()
    specs = [("a", GCRA, 5, 5 * HOUR), ("b", TB, 3, 3 * HOUR, None, 2), ("c", SL, 4, 10 * HOUR)]
    reply = mcheck(r, specs)
    assert reply[:2] == [1, -1]
    assert len(reply) == 2 + len(specs)
    assert [inner[:4] for inner in reply[2:]] == [[1, 5, 4, -1], [1, 3, 1, -1], [1, 4, 3, -1]]
    assert [inspect(r, k)["admitted"] for k in "abc"] == [1, 2, 1]
    # Each key ends as if it had been checked alone.
    for (key, *spec), inner in zip(specs, reply[2:]):
        solo = check(r, f"solo:{key}", *spec)
        assert near(inner, solo, since_ms(start)), (key, inner, solo)
        assert abs(r.pexpiretime(key) - r.pexpiretime(f"solo:{key}")) <= 50, key


def test_one_denying_key_charges_none_and_counts_denied_on_existing_keys(r):
    start = time.monotonic()
    for _ in range(2):
        check(r, "full", GCRA, 2, 2 * HOUR)
    check(r, "used", TB, 5, 5 * HOUR)
    keys = ["used", "full", "new"]
    before = frozen(r, keys)
    expected_used = peek(r, "used", TB, 5, 5 * HOUR, None, 2)
    expected_full = peek(r, "full", GCRA, 2, 2 * HOUR)
    reply = mcheck(r, [("used", TB, 5, 5 * HOUR, None, 2), ("full", GCRA, 2, 2 * HOUR),
                       ("new", FW, 3, 10 * HOUR)])
    assert reply[0] == 0
    # Each inner reply is that key's own decision.
    tol = since_ms(start)
    assert reply[2][0] == 1 and near(reply[2], expected_used, tol)
    assert reply[3][0] == 0 and near(reply[3], expected_full, tol)
    assert reply[4][:4] == [1, 3, 2, -1]
    # Overall retry: the only denying key's.
    assert reply[1] == reply[3][3] > 0
    assert frozen(r, keys) == before, "a denied MCHECK charged something"
    assert r.exists("new") == 0
    assert denied_total(r, "used") == 2
    assert denied_total(r, "full") == 1


def test_retry_after_is_the_largest_among_denying_keys(r):
    check(r, "soon", GCRA, 1, HOUR)           # next unit in 1 hour
    check(r, "later", GCRA, 1, 3 * HOUR)      # next unit in 3 hours
    check(r, "free", SW, 5, 10 * HOUR)
    reply = mcheck(r, [("soon", GCRA, 1, HOUR), ("free", SW, 5, 10 * HOUR),
                       ("later", GCRA, 1, 3 * HOUR)])
    assert reply[0] == 0
    assert reply[2][0] == 0 and reply[4][0] == 0 and reply[3][0] == 1
    assert reply[1] == max(reply[2][3], reply[4][3]) == reply[4][3]
    assert 3 * HOUR - 1000 < reply[1] <= 3 * HOUR


def test_retry_after_is_minus_one_when_a_denying_key_can_never_admit(r):
    check(r, "slow", GCRA, 1, HOUR)
    reply = mcheck(r, [("slow", GCRA, 1, HOUR), ("big", FW, 5, HOUR, None, 6)])
    assert reply[0] == 0 and reply[1] == -1
    assert reply[2][0] == 0 and reply[2][3] > 0
    assert reply[3] == [0, 5, 5, -1, 0]
    assert r.exists("big") == 0
    assert denied_total(r, "slow") == 1


def test_resp3_reply_is_a_map_with_a_list_of_maps(r3):
    reply = mcheck(r3, [("a", GCRA, 5, HOUR), ("b", SW, 2, HOUR, None, 2)])
    assert isinstance(reply, dict)
    assert [k.decode() for k in reply] == ["allowed", "retry_after_ms", "results"]
    assert reply[b"allowed"] == 1 and reply[b"retry_after_ms"] == -1
    results = reply[b"results"]
    assert isinstance(results, list) and len(results) == 2
    for m in results:
        assert isinstance(m, dict) and [k.decode() for k in m] == DECISION_FIELDS
    assert results[1][b"remaining"] == 0
    denied = mcheck(r3, [("a", GCRA, 5, HOUR), ("b", SW, 2, HOUR)])
    assert denied[b"allowed"] == 0 and denied[b"retry_after_ms"] > 0
    assert denied[b"results"][0][b"allowed"] == 1 and denied[b"results"][1][b"allowed"] == 0


def test_every_algorithm_in_one_call(r):
    specs = [(f"k:{a}", a, 2, 10 * HOUR) for a in ALL_ALGORITHMS]
    assert mcheck(r, specs)[0] == 1
    assert mcheck(r, specs)[0] == 1
    reply = mcheck(r, specs)
    assert reply[0] == 0
    assert [inner[0] for inner in reply[2:]] == [0] * 5
    for a in ALL_ALGORITHMS:
        assert (inspect(r, f"k:{a}")["admitted"], denied_total(r, f"k:{a}")) == (2, 1)
    # One key freed: still all or nothing.
    r.execute_command("RL.RESET", f"k:{SL}")
    reply = mcheck(r, specs)
    assert reply[0] == 0 and reply[2 + ALL_ALGORITHMS.index(SL)][0] == 1
    assert r.exists(f"k:{SL}") == 0


def test_single_key_mcheck_matches_check(r):
    # The two keys are charged by separate commands: their times may differ by as much
    # as the test has run (a loaded 2-core machine stalls for tens of ms).
    start = time.monotonic()
    for _ in range(4):
        a = mcheck(r, [("m", GCRA, 3, 3 * HOUR, 5, 2)])
        b = check(r, "c", GCRA, 3, 3 * HOUR, 5, 2)
        tol = since_ms(start)
        assert a[0] == b[0] and near(a[2], b, tol)
        assert a[1] == -1 if b[0] else abs(a[1] - b[3]) <= tol


def test_1024_keys_are_accepted(r):
    specs = [(f"k{i}", ALL_ALGORITHMS[i % 5], 1, HOUR) for i in range(1024)]
    reply = mcheck(r, specs)
    assert reply[0] == 1 and len(reply) == 2 + 1024
    assert r.dbsize() == 1024
    reply = mcheck(r, specs)
    assert reply[0] == 0 and all(inner[0] == 0 for inner in reply[2:])
    assert sum(denied_total(r, f"k{i}") for i in range(1024)) == 1024


BAD = [
    # (arguments after RL.MCHECK, expected error)
    ((), None),
    (("1",), None),
    (("1", "a"), None),
    (("1", "a", GCRA), None),
    # Four arguments pass the server's arity (POLICY name is that short): the spec's own.
    (("1", "a", GCRA, 5), arg_error(5, "period", "missing, "
        "expected a duration from 1ms to 9223372036854775807ms: digits, optionally followed by"
        " ms, s, m, h or d (no unit: milliseconds); a spec is: algorithm limit period"
        " [BURST n] [COST n] [BLOCK ms]")),
    (("1", "a", "POLICY", "nope"), "ERR no such policy (RL.POLICY LIST shows them)"),
    (("1", "a", "POLICY", "free", "SHADOW"), arg_error(5, "option", "after POLICY name:"
        " COST n, and on RL.CHECK also SHADOW")),
    (("0", "a", GCRA, 5, 1000), NUMKEYS_ERROR),
    (("-1", "a", GCRA, 5, 1000), NUMKEYS_ERROR),
    (("1025", "a", GCRA, 5, 1000), NUMKEYS_ERROR),
    (("abc", "a", GCRA, 5, 1000), NUMKEYS_ERROR),
    (("1.0", "a", GCRA, 5, 1000), NUMKEYS_ERROR),
    (("99999999999999999999", "a", GCRA, 5, 1000), NUMKEYS_ERROR),
    # numkeys disagrees with the keys and specs that follow: counts, never bytes.
    (("2", "a", "b", GCRA, 5, 1000), numkeys_mismatch_error(2, 2, 1)),
    (("2", "a", "b", GCRA, 5, 1000, "BURST", 2, "COST", 1), numkeys_mismatch_error(2, 2, 1)),
    (("1", "a", GCRA, 5, 1000, GCRA, 5, 1000), numkeys_mismatch_error(1, 1, 2)),
    (("2", "a", "b", GCRA, 5, 1000, TB, 5, 1000, SL, 5, 1000), numkeys_mismatch_error(2, 2, 3)),
    (("1", "k:a", "k:b", GCRA, 1, 1000), numkeys_mismatch_error(1, 2, 1)),
    (("1", "k:a", "k:b", GCRA, 1, 1000, GCRA, 1, 1000), numkeys_mismatch_error(1, 2, 2)),
    (("3", "a", "b", GCRA, 5, 1000, GCRA, 5, 1000), numkeys_mismatch_error(3, 2, 2)),
    (("2", "a", "a", GCRA, 5, 1000, GCRA, 5, 1000), DUPLICATE_ERROR),
    (("3", "a", "b", "a", GCRA, 5, 1000, GCRA, 5, 1000, FW, 5, 1000), DUPLICATE_ERROR),
    # A spec's own error, at its position in the whole command (numkeys is argument 1).
    (("1", "a", "LEAKY", 5, 1000), ALGORITHM_ERROR.replace("argument 2", "argument 3")),
    (("2", "a", "b", GCRA, 5, 1000, "LEAKY", 5, 1000), mcheck_option_error(7)),
    (("2", "a", "b", GCRA, 5, 1000, GCRA, 5), arg_error(9, "period", "missing, "
        "expected a duration from 1ms to 9223372036854775807ms: digits, optionally followed by"
        " ms, s, m, h or d (no unit: milliseconds); a spec is: algorithm limit period"
        " [BURST n] [COST n] [BLOCK ms]")),
    (("1", "a", GCRA, 0, 1000), limit_error(4)),
    (("2", "a", "b", GCRA, 5, 1000, TB, 5, "x"), period_error(9)),
    (("2", "a", "b", GCRA, 5, "1s", TB, 5, "1 m"), period_error(9)),
    (("1", "a", GCRA, 5, 1000, "BURST", 0), burst_error(7)),
    (("2", "a", "b", GCRA, 5, 1000, "COST", 0, SW, 5, 1000), cost_error(8)),
    (("1", "a", GCRA, 5, 1000, "COST", 1, "COST", 2), twice_error("COST", 8)),
    (("1", "a", GCRA, 5, 1000, "COST"), missing_value_error("COST", 6)),
    (("1", "a", GCRA, 5, 1000, "SPEED", 2), mcheck_option_error(6)),
    (("2", "a", "b", GCRA, 5, 1000, FW, 5, 1000, "BURST", 5), window_burst_error(10)),
    (("1", "a", SL, 5, 4_294_967_296), sl_period_error(5)),
    (("1", "a", SL, 5, "50d"), sl_period_error(5)),
    (("1", "a", SL, 10_001, 1000), sl_limit_error(4)),
]


def bad_id(case):
    return " ".join(str(a) for a in case[0])[:50] or "no-args"


@pytest.mark.parametrize("args, expected", BAD, ids=[bad_id(c) for c in BAD])
def test_bad_arguments_get_the_exact_error_and_charge_nothing(r, args, expected):
    check(r, "b", GCRA, 5, HOUR)
    before = frozen(r, ["b"])
    got = call_error(r, "RL.MCHECK", *args)
    if expected is None:
        assert len(args) < 4
        assert same_error(got, arity_error("rl.mcheck")), got
    else:
        assert same_error(got, expected), f"got {got!r}, expected {expected!r}"
    assert r.exists("a") == 0
    assert frozen(r, ["b"]) == before
    assert denied_total(r, "b") == 0, "an error is not a denied check"


def test_wrongtype_and_algorithm_mismatch_charge_nothing(r):
    r.set("s", "v")
    check(r, "g", GCRA, 5, HOUR)
    before = frozen(r, ["g"])
    assert call_error(r, "RL.MCHECK", 2, "g", "s", GCRA, 5, HOUR, GCRA, 5, HOUR) == WRONGTYPE_ERROR
    assert call_error(r, "RL.MCHECK", 2, "n", "g", GCRA, 5, HOUR, SW, 5, HOUR) == MISMATCH_ERROR
    assert frozen(r, ["g"]) == before and denied_total(r, "g") == 0
    assert r.exists("n") == 0 and r.get("s") == b"v"


def test_keys_are_declared(r):
    assert r.command_getkeys("RL.MCHECK", 2, "a", "b", GCRA, 1, 1, GCRA, 1, 1) == ["a", "b"]
    assert r.command_getkeys("RL.MCHECK", 1, "only", SL, 1, 1, "COST", 1) == ["only"]
    assert r.command_getkeys("RL.MCHECK", 3, "x", "y", "z", FW, 1, 1, TB, 1, 1, "BURST", 2,
                             SW, 1, 1) == ["x", "y", "z"]
    info = r.execute_command("COMMAND", "INFO", "rl.mcheck")
    entry = info.get("RL.MCHECK") or info.get("rl.mcheck")
    assert "write" in entry["flags"]


def test_single_node_cluster_refuses_cross_slot_keys_and_accepts_hash_tags(server_factory, kind):
    node = server_factory(kind, options={"cluster-enabled": "yes",
                                         "cluster-config-file": "nodes.conf"},
                          name=f"{kind}-cluster")
    c = node.client()
    assert c.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383) in (b"OK", True, "OK")

    def cluster_ok():
        info = c.execute_command("CLUSTER", "INFO")
        if isinstance(info, dict):
            return info.get("cluster_state") in ("ok", b"ok")
        return b"cluster_state:ok" in (info if isinstance(info, bytes) else info.encode())

    wait_until(cluster_ok, timeout=20, what="cluster_state:ok")

    def slot(key):
        return c.execute_command("CLUSTER", "KEYSLOT", key)

    assert slot("{user1}:s") == slot("{user1}:d")
    assert slot("a") != slot("b")
    err = call_error(c, "RL.MCHECK", 2, "a", "b", GCRA, 5, HOUR, SL, 5, HOUR)
    assert err.startswith("CROSSSLOT"), err
    assert c.dbsize() == 0
    reply = mcheck(c, [("{user1}:s", GCRA, 5, HOUR), ("{user1}:d", SL, 2, HOUR)])
    assert reply[0] == 1 and reply[3][:3] == [1, 2, 1]
    assert inspect(c, "{user1}:d")["admitted"] == 1
    assert check(c, "a", FW, 1, HOUR)[0] == 1


def test_acl_key_patterns_cover_every_key(server, r):
    r.execute_command("ACL", "SETUSER", "u", "on", ">pw", "~rl:*", "+rl.mcheck")
    u = server.client(username="u", password="pw")
    assert mcheck(u, [("rl:a", GCRA, 5, HOUR), ("rl:b", SW, 5, HOUR)])[0] == 1
    with pytest.raises(redis.exceptions.NoPermissionError):
        mcheck(u, [("rl:a", GCRA, 5, HOUR), ("other", SW, 5, HOUR)])
    with pytest.raises(redis.exceptions.NoPermissionError):
        mcheck(u, [("other", GCRA, 5, HOUR), ("rl:b", SW, 5, HOUR)])
    assert r.exists("other") == 0
    assert inspect(r, "rl:a")["admitted"] == 1 and inspect(r, "rl:a")["denied"] == 0
    with pytest.raises(redis.exceptions.NoPermissionError):
        check(u, "rl:a", GCRA, 5, HOUR)  # only +rl.mcheck


def test_mcheck_is_refused_over_maxmemory_while_peek_and_inspect_answer(r):
    check(r, "k", SL, 5, HOUR)
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", 1)
    try:
        err = call_error(r, "RL.MCHECK", 2, "k", "n", SL, 5, HOUR, GCRA, 5, HOUR)
        assert err.startswith("OOM "), err
        assert peek(r, "k", SL, 5, HOUR)[:3] == [1, 5, 3]
        assert inspect(r, "k")["admitted"] == 1
    finally:
        r.config_set("maxmemory", 0)
    assert r.exists("n") == 0
    assert inspect(r, "k")["admitted"] == 1
