"""Replication: replicas (and replicas whose clocks are an hour off) end up with
exactly the primary's limiters, expiries and totals included, for every algorithm,
RL.MCHECK and CL.THROTTLE; a denied check propagates only its denied total, and only
on an existing key."""

import random
import time

import pytest
import redis

from helpers import (
    attach,
    ALL_ALGORITHMS,
    CELL_COMPAT,
    FW,
    GCRA,
    INSPECT_COMMON,
    INSPECT_STATE,
    SL,
    SW,
    TB,
    check,
    digest,
    digest_value,
    inspect,
    mcheck,
    peek,
    server_time_ms,
    throttle,
    wait_until,
)

HOUR = 3_600_000
# No replication PINGs during a test: they would move master_repl_offset.
PRIMARY_OPTS = {"repl-ping-replica-period": "3600"}


def wait_replicas(pc, n):
    assert pc.execute_command("WAIT", n, 10_000) == n, "replicas did not acknowledge"


def random_load(pc, rng, n_ops, lengthen=True):
    """n_ops random commands on a small key set, both algorithms, changing quotas,
    costs and bursts, some RL.RESET. Long keys have windows of hours; short keys have
    windows under a second, so they expire and are re-created during the load (lazy
    and active expiry on the primary propagate DEL). With `lengthen`, a final pass
    checks every short key with a quota of hours: keys that expired are re-created,
    live ones have their state converted, and nothing expires during the comparison.

    Returns the long keys, the short keys and the numbers of admitted and denied checks."""
    long_keys = [f"long:{i}" for i in range(12)]
    short_keys = [f"short:{i}" for i in range(6)]
    algorithm = {k: (TB if i % 2 else GCRA) for i, k in enumerate(long_keys + short_keys)}
    allowed = denied = 0

    def count(replies):
        nonlocal allowed, denied
        for reply in replies:
            if isinstance(reply, list):
                allowed += reply[0] == 1
                denied += reply[0] == 0

    pipe = pc.pipeline(transaction=False)
    for i in range(n_ops):
        roll = rng.random()
        if roll < 0.02:
            pipe.execute_command("RL.RESET", *rng.sample(long_keys + short_keys, 2))
        elif roll < 0.80:
            key = rng.choice(long_keys)
            limit = rng.choice([1, 2, 3, 5, 10])
            # At least two hours per unit: every admitted check leaves > 1h of window.
            per_unit = rng.choice([2, 3, 4]) * HOUR
            burst = rng.choice([None, None, 1, 4, 12])
            cost = rng.choice([None, None, 1, 2, 3, 20])
            check(pipe, key, algorithm[key], limit, limit * per_unit, burst, cost)
        else:
            key = rng.choice(short_keys)
            limit = rng.choice([1, 2, 3])
            period = rng.choice([20, 50, 120])
            burst = rng.choice([None, 1, 3])
            cost = rng.choice([None, 1, 2])
            check(pipe, key, algorithm[key], limit, period, burst, cost)
        if i % 200 == 199 or i == n_ops - 1:
            count(pipe.execute(raise_on_error=True))
            pipe = pc.pipeline(transaction=False)
            time.sleep(0.02)  # let short windows end between batches
    if lengthen:
        for key in short_keys:
            # BURST 10 exceeds any short key's used units, so this is always admitted.
            check(pipe, key, algorithm[key], 2, 4 * HOUR, 10)
        replies = pipe.execute(raise_on_error=True)
        assert all(reply[0] == 1 for reply in replies), replies
        count(replies)
    return long_keys, short_keys, allowed, denied


def settle_short_keys(pc, short_keys):
    """Waits until every short window ended, then touches the keys on the primary so
    it deletes them (and propagates DEL) before digests are compared."""
    deadline = max([pc.pexpiretime(k) for k in short_keys] + [0])
    while server_time_ms(pc) <= deadline:
        time.sleep(0.05)
    for k in short_keys:
        assert pc.exists(k) == 0


def assert_replica_matches(pc, rc, long_keys, name):
    assert rc.dbsize() == pc.dbsize(), name
    assert digest(rc) == digest(pc), f"{name}: DEBUG DIGEST differs from the primary"
    for k in long_keys:
        p = (pc.pexpiretime(k), digest_value(pc, k))
        assert (rc.pexpiretime(k), digest_value(rc, k)) == p, f"{name}: {k}"


def test_replica_converges_under_random_load(server_factory, kind):
    primary = server_factory(kind, options=PRIMARY_OPTS, name=f"{kind}-primary")
    replica = server_factory(kind, name=f"{kind}-replica")
    pc = primary.client()
    rc = attach(primary, replica)
    rng = random.Random(1234)
    long_keys, short_keys, allowed, denied = random_load(pc, rng, 3000)
    assert allowed > 300 and denied > 300, (allowed, denied)
    wait_replicas(pc, 1)
    live = [k for k in long_keys + short_keys if pc.exists(k)]
    assert len(live) >= 12
    assert_replica_matches(pc, rc, live, replica.name)
    # An RL.RESET reaches the replica as a DEL.
    assert pc.execute_command("RL.RESET", live[0]) == 1
    wait_replicas(pc, 1)
    assert rc.exists(live[0]) == 0
    assert digest(rc) == digest(pc)


def test_denied_check_on_a_missing_key_propagates_nothing(server_factory, kind):
    primary = server_factory(kind, options=PRIMARY_OPTS, name=f"{kind}-primary")
    replica = server_factory(kind, name=f"{kind}-replica")
    pc = primary.client()
    rc = attach(primary, replica)
    before = pc.info("replication")["master_repl_offset"]
    for algorithm in ALL_ALGORITHMS:
        assert check(pc, "missing", algorithm, 2, 2 * HOUR, cost=3)[0] == 0
    assert check(pc, "missing", TB, 2, 2 * HOUR, burst=4, cost=5)[0] == 0
    assert pc.info("replication")["master_repl_offset"] == before, "a denied check on a missing key propagated"
    assert pc.exists("missing") == 0
    wait_replicas(pc, 1)
    assert rc.dbsize() == 0 and digest(rc) == digest(pc)


def test_denied_check_on_an_existing_key_propagates_only_its_denied_total(server_factory, kind):
    primary = server_factory(kind, options=PRIMARY_OPTS, name=f"{kind}-primary")
    replica = server_factory(kind, name=f"{kind}-replica")
    pc = primary.client()
    rc = attach(primary, replica)

    def offset():
        return pc.info("replication")["master_repl_offset"]

    for algorithm in ALL_ALGORITHMS:
        key = f"k:{algorithm}"
        start = offset()
        assert check(pc, key, algorithm, 2, 2 * HOUR)[0] == 1
        assert check(pc, key, algorithm, 2, 2 * HOUR)[0] == 1
        assert offset() > start, "an admitted check must be propagated"
        wait_replicas(pc, 1)
        expiry = pc.pexpiretime(key)
        probe = peek(pc, key, algorithm, 2, 2 * HOUR)
        denied = 0
        burst = 2 if algorithm in (TB, GCRA) else None
        for args in [(2, 2 * HOUR, None, None), (2, 2 * HOUR, None, 2), (1, 2 * HOUR, None, None),
                     (2, 2 * HOUR, burst, 5)]:
            before = offset()
            assert check(pc, key, algorithm, *args)[0] == 0
            denied += args[3] or 1
            # (WAIT itself sends REPLCONF GETACK down the stream, so offsets are compared
            # around the check only.)
            assert offset() > before, "the denied total was not propagated"
            assert pc.pexpiretime(key) == expiry
        assert peek(pc, key, algorithm, 2, 2 * HOUR)[:3] == probe[:3]
        info = inspect(pc, key)
        assert (info["admitted"], info["denied"]) == (2, denied)
        wait_replicas(pc, 1)
        assert digest_value(rc, key) == digest_value(pc, key)
        assert rc.pexpiretime(key) == expiry
        assert inspect(rc, key)["denied"] == denied
    assert digest(rc) == digest(pc)


def test_replicas_with_skewed_clocks_match_the_primary(server_factory):
    """Valkey primary on the real clock; one replica an hour ahead, one an hour behind.
    Replicas store what the primary decided, whatever their own clock says."""
    primary = server_factory("valkey", options=PRIMARY_OPTS, name="valkey-primary")
    ahead = server_factory("valkey", faketime="+1h", name="valkey-replica+1h")
    behind = server_factory("valkey", faketime="-1h", name="valkey-replica-1h")
    pc = primary.client()
    now = pc.time()[0]
    ac, bc = attach(primary, ahead), attach(primary, behind)
    assert 3590 <= ac.time()[0] - now <= 3610, "replica +1h runs an hour ahead"
    assert 3590 <= now - bc.time()[0] <= 3610, "replica -1h runs an hour behind"
    rng = random.Random(99)
    long_keys, short_keys, allowed, denied = random_load(pc, rng, 3000)
    assert allowed > 300 and denied > 300, (allowed, denied)
    wait_replicas(pc, 2)
    live = [k for k in long_keys + short_keys if pc.exists(k)]
    assert len(live) >= 12
    for rc, replica in ((ac, ahead), (bc, behind)):
        assert_replica_matches(pc, rc, live, replica.name)
    # A second round; this time the short keys are left to expire on the primary.
    random_load(pc, rng, 500, lengthen=False)
    settle_short_keys(pc, short_keys)
    wait_replicas(pc, 2)
    live = [k for k in long_keys if pc.exists(k)]
    for rc, replica in ((ac, ahead), (bc, behind)):
        assert_replica_matches(pc, rc, live, replica.name)


def test_chained_replica_and_a_replica_aof_match_the_primary(server_factory, kind):
    """primary -> replica (with its own AOF) -> sub-replica. The replica's AOF, replayed
    standalone later, rebuilds the primary's dataset."""
    primary = server_factory(kind, options=PRIMARY_OPTS, name=f"{kind}-primary")
    replica = server_factory(
        kind, options={"appendonly": "yes", "aof-use-rdb-preamble": "no"}, name=f"{kind}-replica"
    )
    sub = server_factory(kind, name=f"{kind}-sub-replica")
    pc = primary.client()
    rc = attach(primary, replica)
    sc = attach(replica, sub)
    long_keys, short_keys, _, _ = random_load(pc, random.Random(5), 1500)
    wait_replicas(pc, 1)
    live = [k for k in long_keys + short_keys if pc.exists(k)]
    assert_replica_matches(pc, rc, live, replica.name)
    wait_until(lambda: digest(sc) == digest(pc), timeout=10, what="the sub-replica to catch up")
    assert_replica_matches(pc, sc, live, sub.name)
    # Restart the replica standalone from its own AOF.
    want = digest(pc)
    rc.replicaof("NO", "ONE")
    replica.restart(save=None)
    rc = replica.client()
    assert rc.info("replication")["role"] == "master"
    assert digest(rc) == want
    for k in live:
        assert (rc.pexpiretime(k), digest_value(rc, k)) == (pc.pexpiretime(k), digest_value(pc, k))


def test_checks_in_transactions_and_scripts_replicate(server_factory, kind):
    primary = server_factory(kind, options=PRIMARY_OPTS, name=f"{kind}-primary")
    replica = server_factory(kind, name=f"{kind}-replica")
    pc = primary.client()
    rc = attach(primary, replica)
    for round_ in range(20):
        tx = pc.pipeline(transaction=True)
        for i in range(5):
            check(tx, f"tx:{i % 3}", TB if i % 2 else GCRA, 3, 3 * HOUR)
            check(tx, f"tx:{i % 3}", TB if i % 2 else GCRA, 3, 3 * HOUR, cost=2)
        mcheck(tx, [(f"txm:{round_ % 2}", SW, 4, 4 * HOUR), (f"txl:{round_ % 2}", SL, 3, 4 * HOUR)])
        tx.execute_command("RL.RESET", f"tx:{round_ % 3}")
        tx.execute(raise_on_error=False)
        script = """
            local out = {}
            for i = 1, 4 do
              out[i] = redis.call('RL.CHECK', KEYS[1], ARGV[1], 4, 4 * 3600000)[1]
            end
            redis.call('RL.CHECK', KEYS[2], 'TOKEN_BUCKET', 2, 2 * 3600000, 'COST', 2)
            redis.call('RL.MCHECK', 2, KEYS[3], KEYS[4], 'FIXED_WINDOW', 3, ARGV[2],
                       'SLIDING_LOG', 2, 4 * 3600000)
            return out
        """
        allowed = pc.eval(script, 4, f"lua:{round_ % 4}", f"lua2:{round_ % 2}",
                          f"luafw:{round_ % 3}", f"lualog:{round_ % 3}", "GCRA", 2**40)
        assert len(allowed) == 4
    # A script that errors half-way keeps what it already did, on both sides.
    pc.set("str", "v")
    with pytest.raises(Exception):
        pc.eval("redis.call('RL.CHECK', 'half', 'GCRA', 2, 7200000)\n"
                "return redis.call('RL.CHECK', 'str', 'GCRA', 2, 7200000)", 0)
    assert pc.exists("half") == 1
    wait_replicas(pc, 1)
    keys = [k.decode() for k in pc.keys("*") if pc.type(k) == b"ratelimit"]
    assert len(keys) >= 5
    assert {inspect(pc, k)["algorithm"] for k in keys} == set(ALL_ALGORITHMS)
    assert_replica_matches(pc, rc, keys, replica.name)


def test_replica_refuses_client_checks_but_serves_stats(server_factory, kind):
    primary = server_factory(kind, options=PRIMARY_OPTS, name=f"{kind}-primary")
    replica = server_factory(kind, name=f"{kind}-replica")
    pc = primary.client()
    rc = attach(primary, replica)
    check(pc, "k", GCRA, 2, 2 * HOUR)
    wait_replicas(pc, 1)
    before = digest_value(rc, "k")
    for args in (("RL.CHECK", "k", GCRA, 2, 2 * HOUR), ("RL.RESET", "k"),
                 ("RL.MCHECK", 1, "k", GCRA, 2, 2 * HOUR)):
        with pytest.raises(redis.ReadOnlyError):
            rc.execute_command(*args)
    assert digest_value(rc, "k") == before
    # The replica's counters count only checks it ran itself (none): the primary's
    # check, replayed here, is an applied effect.
    s = rc.execute_command("RL.STATS")
    fields = dict(zip(s[::2], s[1::2]))
    assert (fields[b"checks"], fields[b"check_calls"], fields[b"apply_calls"]) == (0, 0, 1)


def test_a_writable_replica_evaluates_a_clients_stamped_check_at_its_own_clock(server_factory, kind):
    primary = server_factory(kind, options=PRIMARY_OPTS, name=f"{kind}-primary")
    replica = server_factory(kind, options={"replica-read-only": "no"}, name=f"{kind}-replica")
    rc = attach(primary, replica)
    # Only the primary's stream is trusted with a stamp: ten hours ahead would refill
    # this one-per-hour bucket if it were believed.
    far = server_time_ms(rc) + 10 * HOUR
    assert rc.execute_command("RL.CHECK", "w", TB, 1, HOUR, f"@{far}")[0] == 1
    assert rc.execute_command("RL.CHECK", "w", TB, 1, HOUR, f"@{far}")[0] == 0
    assert inspect(rc, "w")["updated_ms"] < far - 9 * HOUR


def test_promoted_replicas_with_skewed_clocks_grant_no_extra_capacity(server_factory):
    """An exhausted limiter moved to a server whose clock is an hour behind stays
    denied until the same real instant; an hour ahead, an hour of refill shows."""
    primary = server_factory("valkey", options=PRIMARY_OPTS, name="valkey-primary")
    ahead = server_factory("valkey", faketime="+1h", name="valkey-replica+1h")
    behind = server_factory("valkey", faketime="-1h", name="valkey-replica-1h")
    pc = primary.client()
    ac, bc = attach(primary, ahead), attach(primary, behind)
    for algorithm in (TB, GCRA):
        for _ in range(2):  # 2 per 2 hours: exhausted, next unit in 1 hour
            assert check(pc, f"k:{algorithm}", algorithm, 2, 2 * HOUR)[0] == 1
        denied = check(pc, f"k:{algorithm}", algorithm, 2, 2 * HOUR)
        assert denied[0] == 0 and HOUR - 60_000 < denied[3] <= HOUR
    wait_replicas(pc, 2)
    for c in (ac, bc):
        c.replicaof("NO", "ONE")
    tol = 60_000  # the faked offsets are exact; this covers the test's own run time
    for algorithm in (TB, GCRA):
        key = f"k:{algorithm}"
        expiry = pc.pexpiretime(key)
        # One hour behind: still exhausted, and the wait is an hour longer.
        d = check(bc, key, algorithm, 2, 2 * HOUR)
        assert d[:3] == [0, 2, 0], d
        assert 2 * HOUR - tol < d[3] <= 2 * HOUR, d
        assert 3 * HOUR - tol < d[4] <= 3 * HOUR, d
        assert bc.pexpiretime(key) == expiry, "a denied check keeps the primary's expiry"
        # One hour ahead: one unit refilled, admitted once, then denied again.
        assert check(ac, key, algorithm, 2, 2 * HOUR)[:3] == [1, 2, 0]
        d = check(ac, key, algorithm, 2, 2 * HOUR)
        assert d[0] == 0 and HOUR - tol < d[3] <= HOUR, d
        assert ac.pexpiretime(key) >= expiry


# -- every algorithm, RL.MCHECK and CL.THROTTLE ------------------------------------------

FW_PERIODS = [2**40, 10**12]  # windows that end in 2033 and 2039


def long_quota(rng, algorithm):
    """A quota whose admitted checks leave more than 2 hours of window (the +1h replica
    must not see a key expire that the primary still has)."""
    limit = rng.choice([1, 2, 3, 5, 10])
    if algorithm in (TB, GCRA):
        return (limit, limit * rng.choice([2, 3, 4]) * HOUR, rng.choice([None, None, 1, 4, 12]))
    if algorithm == FW:
        return (limit, rng.choice(FW_PERIODS), None)
    return (limit, rng.choice([3, 4, 6]) * HOUR, None)


def count_decisions(kinds, replies):
    """(admitted, denied) among pipelined replies, by what each command was: "check"
    (RL.CHECK, RL.MCHECK: [allowed, ...]), "throttle" ([limited, ...]) or anything else."""
    allowed = denied = 0
    for kind, reply in zip(kinds, replies):
        if kind == "throttle":
            allowed += reply[0] == 0
            denied += reply[0] == 1
        elif kind == "check":
            allowed += reply[0] == 1
            denied += reply[0] == 0
    return allowed, denied


def lengthen_short_keys(pc, short_keys):
    """Checks every short key {key: algorithm} with far more capacity than it ever used
    and a window of hours: always admitted, so nothing expires while digests are
    compared."""
    pipe = pc.pipeline(transaction=False)
    for key, algorithm in short_keys.items():
        if algorithm in (TB, GCRA):
            check(pipe, key, algorithm, 2, 4 * HOUR, 10)
        else:
            check(pipe, key, algorithm, 100, FW_PERIODS[0] if algorithm == FW else 4 * HOUR)
    replies = pipe.execute(raise_on_error=True)
    assert all(reply[0] == 1 for reply in replies), replies


def random_load_all(pc, rng, n_ops):
    """Random RL.CHECK (five algorithms), RL.MCHECK, CL.THROTTLE and RL.RESET on long
    keys (windows of hours) and short keys (windows under a second, expiring and being
    re-created during the load), then a pass that gives every short key a window of
    hours. Returns the keys and the numbers of admitted and denied decisions."""
    long_keys = {f"long:{a}:{i}": a for a in ALL_ALGORITHMS for i in range(3)}
    short_keys = {f"short:{a}": a for a in ALL_ALGORITHMS}
    cell_keys = [f"cell:{i}" for i in range(3)]
    allowed = denied = 0
    pipe = pc.pipeline(transaction=False)
    kinds = []  # what each queued command is, to read its reply

    def flush():
        nonlocal allowed, denied, pipe, kinds
        a, d = count_decisions(kinds, pipe.execute(raise_on_error=True))
        allowed, denied = allowed + a, denied + d
        pipe = pc.pipeline(transaction=False)
        kinds = []

    for i in range(n_ops):
        roll = rng.random()
        if roll < 0.02:
            pipe.execute_command("RL.RESET", *rng.sample(list(long_keys) + list(short_keys), 2))
            kinds.append("reset")
        elif roll < 0.55:
            key = rng.choice(list(long_keys))
            limit, period, burst = long_quota(rng, long_keys[key])
            check(pipe, key, long_keys[key], limit, period, burst, rng.choice([None, 1, 2, 3, 20]))
            kinds.append("check")
        elif roll < 0.70:
            keys = rng.sample(list(long_keys), rng.choice([2, 3]))
            specs = []
            for key in keys:
                limit, period, burst = long_quota(rng, long_keys[key])
                specs.append((key, long_keys[key], limit, period, burst, rng.choice([None, 1, 2])))
            mcheck(pipe, specs)
            kinds.append("check")
        elif roll < 0.80:
            count = rng.choice([1, 2])
            throttle(pipe, rng.choice(cell_keys), rng.choice([0, 1, 3]), count,
                     count * rng.choice([7200, 10800]), rng.choice([None, None, 0, 1, 2, 5]))
            kinds.append("throttle")
        else:
            key = rng.choice(list(short_keys))
            algorithm = short_keys[key]
            burst = rng.choice([None, 1, 3]) if algorithm in (TB, GCRA) else None
            check(pipe, key, algorithm, rng.choice([1, 2, 3]), rng.choice([20, 50, 120]), burst,
                  rng.choice([None, 1, 2]))
            kinds.append("check")
        if i % 200 == 199:
            flush()
            time.sleep(0.02)  # let short windows end between batches
    flush()
    lengthen_short_keys(pc, short_keys)
    return list(long_keys) + list(short_keys) + cell_keys, allowed, denied


def assert_same_limiters(pc, rc, keys, name):
    assert_replica_matches(pc, rc, keys, name)
    for k in keys:
        assert rc.exists(k) == pc.exists(k), (name, k)
        if pc.exists(k):
            p, r = inspect(pc, k), inspect(rc, k)
            fields = INSPECT_COMMON + INSPECT_STATE[p["algorithm"]]
            assert list(r) == fields
            for f in fields:
                if f not in ("remaining", "reset_after_ms", "ttl_ms"):
                    assert r[f] == p[f], (name, k, f)


def test_replicas_converge_under_every_algorithm_mcheck_and_cl_throttle(server_factory, kind):
    primary = server_factory(kind, options=PRIMARY_OPTS, module_args=CELL_COMPAT,
                             name=f"{kind}-primary")
    replicas = [server_factory(kind, module_args=CELL_COMPAT, name=f"{kind}-replica")]
    if kind == "valkey":
        replicas.append(server_factory(kind, module_args=CELL_COMPAT, faketime="+1h",
                                       name="valkey-replica+1h"))
    pc = primary.client()
    rcs = [attach(primary, r) for r in replicas]
    keys, allowed, denied = random_load_all(pc, random.Random(2024), 3000)
    assert allowed > 300 and denied > 300, (allowed, denied)
    wait_replicas(pc, len(replicas))
    live = [k for k in keys if pc.exists(k)]
    assert len(live) >= 15
    algorithms = {inspect(pc, k)["algorithm"] for k in live}
    assert algorithms == set(ALL_ALGORITHMS), algorithms
    for rc, replica in zip(rcs, replicas):
        assert_same_limiters(pc, rc, live, replica.name)
    # A denied RL.MCHECK only adds denied totals, on both sides.
    assert check(pc, "x:mcheck", GCRA, 1, 3 * HOUR)[0] == 1
    reply = mcheck(pc, [("x:mcheck", GCRA, 1, 3 * HOUR), ("fresh:mcheck", SL, 5, 3 * HOUR)])
    assert reply[0] == 0 and reply[3][0] == 1
    assert pc.exists("fresh:mcheck") == 0
    assert inspect(pc, "x:mcheck")["denied"] == 1
    wait_replicas(pc, len(replicas))
    for rc, replica in zip(rcs, replicas):
        assert_same_limiters(pc, rc, live + ["x:mcheck", "fresh:mcheck"], replica.name)
