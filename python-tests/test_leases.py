"""Concurrency leases (RL.ACQUIRE, RL.RELEASE, RL.RENEW) on Redis 7.0 and Valkey 9:
reply shapes, capacity and expiry on a manual clock, the per-key cap, RL.INSPECT,
memory per lease, algorithm mismatches, RL.APPLY payload validation, corrupt RESTORE,
replication and AOF determinism (an acquire replicates as itself, stamped with its time
and lease id), and 50 concurrent clients never holding more than the limit."""

import glob
import os
import re
import struct
import threading

import pytest
import redis

from helpers import (
    algorithm_error,
    arg_error,
    INSPECT_COMMON,
    INSPECT_STATE,
    MISMATCH_ERROR,
    T0,
    TB,
    ModuleDump,
    ServerError,
    aof_commands,
    attach,
    check,
    crc64,
    digest,
    digest_value,
    inspect,
    stats_all,
    wait_until,
)

HOUR = 3_600_000
ACQUIRE_FIELDS = ["acquired", "limit", "remaining", "retry_after_ms", "lease_id"]
BAD_ID = "ERR lease_id must be the 16 hexadecimal digits RL.ACQUIRE replied"
ID = re.compile(rb"^[0-9a-f]{16}$")


def acquire(c, key, limit, lease_ms, cost=None):
    args = ["RL.ACQUIRE", key, limit, lease_ms] + (["COST", cost] if cost is not None else [])
    return c.execute_command(*args)


def release(c, key, lease_id):
    return c.execute_command("RL.RELEASE", key, lease_id)


def renew(c, key, lease_id, lease_ms):
    return c.execute_command("RL.RENEW", key, lease_id, lease_ms)


def test_acquire_replies_five_fields_and_a_16_hex_digit_id(clocked):
    c = clocked.client()
    a = acquire(c, "k", 3, 1000)
    assert a[:4] == [1, 3, 2, -1]
    assert ID.match(a[4]), a
    b = acquire(c, "k", 3, 1000, cost=2)
    assert b[:4] == [1, 3, 0, -1] and b[4] != a[4]
    assert acquire(c, "k", 3, 1000) == [0, 3, 0, 1000, None]
    c3 = clocked.client(protocol=3)
    d = acquire(c3, "k", 3, 1000)
    assert list(d) == [f.encode() for f in ACQUIRE_FIELDS]
    assert d[b"acquired"] == 0 and d[b"lease_id"] is None and d[b"retry_after_ms"] == 1000


def test_expired_leases_free_capacity_at_exactly_expires_at(clocked):
    c = clocked.client()
    acquire(c, "k", 2, 1000)
    clocked.advance_clock(100)
    acquire(c, "k", 2, 1000)
    clocked.advance_clock(100)
    assert acquire(c, "k", 2, 1000)[:4] == [0, 2, 0, 800]
    clocked.set_clock(T0 + 999)
    assert acquire(c, "k", 2, 1000)[0] == 0
    clocked.set_clock(T0 + 1000)
    assert acquire(c, "k", 2, 1000)[:3] == [1, 2, 0]
    # A clock stepping back frees nothing.
    clocked.set_clock(T0)
    assert acquire(c, "k", 2, 1000)[0] == 0
    assert inspect(c, "k")["held"] == 2


def test_retry_after_waits_for_enough_leases_and_never_for_too_much(clocked):
    c = clocked.client()
    acquire(c, "k", 4, 100)
    clocked.advance_clock(10)
    acquire(c, "k", 4, 100)
    clocked.advance_clock(10)
    acquire(c, "k", 4, 100, cost=2)
    clocked.advance_clock(10)
    assert acquire(c, "k", 4, 100)[3] == 70  # the earliest lease's expiry
    assert acquire(c, "k", 4, 100, cost=2)[3] == 80
    assert acquire(c, "k", 4, 100, cost=5)[3] == -1
    assert acquire(c, "missing", 4, 100, cost=5) == [0, 4, 4, -1, None]
    assert c.exists("missing") == 0


def test_release_frees_the_units_once_and_unknown_ids_change_nothing(clocked):
    c = clocked.client()
    lease = acquire(c, "k", 1, HOUR, cost=1)[4]
    before = digest_value(c, "k")
    other = b"%016x" % (int(lease, 16) ^ 1)
    assert release(c, "k", other) == 0
    assert renew(c, "k", other, HOUR) == 0
    assert release(c, "missing", lease) == 0 and c.exists("missing") == 0
    assert digest_value(c, "k") == before
    assert release(c, "k", lease) == 1
    assert release(c, "k", lease) == 0
    assert acquire(c, "k", 1, HOUR)[0] == 1
    assert release(c, "k", lease.upper()) == 0  # either case parses


@pytest.mark.parametrize("bad", ["", "abc", "0000000000000000", "zzzzzzzzzzzzzzzz",
                                 "00000000000000001", "-000000000000001"])
def test_bad_lease_ids_are_a_clear_error_without_echo(clocked, bad):
    c = clocked.client()
    acquire(c, "k", 1, HOUR)
    for args in (("RL.RELEASE", "k", bad), ("RL.RENEW", "k", bad, 10)):
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command(*args)
        assert str(e.value) == BAD_ID.removeprefix("ERR ")


def test_bad_acquire_arguments(clocked):
    c = clocked.client()
    one_to_max = "expected an integer between 1 and 9223372036854775807"
    cases = [
        (("k", 0, 10), arg_error(2, "limit", one_to_max)),
        (("k", 1, 0), arg_error(3, "lease_ms", one_to_max)),
        (("k", 1, 10, "COST", 0), arg_error(5, "COST", one_to_max + " (RL.PEEK also takes 0)")),
        (("k", 1, 10, "COST"), arg_error(4, "COST", "needs a value")),
        (("k", 1, 10, "BURST", 2), arg_error(4, "option", "expected COST n")),
    ]
    for args, msg in cases:
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("RL.ACQUIRE", *args)
        assert str(e.value) == msg.removeprefix("ERR "), args
    with pytest.raises(redis.ResponseError) as e:
        renew(c, "k", "00000000000000ff", 0)
    assert str(e.value) == arg_error(3, "lease_ms", one_to_max).removeprefix("ERR ")
    assert c.exists("k") == 0


def test_renew_extends_a_held_lease_but_not_an_expired_one(clocked):
    c = clocked.client()
    lease = acquire(c, "k", 1, 100)[4]
    clocked.advance_clock(90)
    assert renew(c, "k", lease, 100) == 1
    clocked.advance_clock(60)  # 150 ms after the acquire: still held
    assert acquire(c, "k", 1, 100)[:4] == [0, 1, 0, 40]
    clocked.advance_clock(40)
    assert renew(c, "k", lease, 100) == 0
    assert acquire(c, "k", 1, 100)[0] == 1


def test_the_key_expires_with_its_latest_lease(clocked):
    c = clocked.client()
    a = acquire(c, "k", 5, 1000)[4]
    b = acquire(c, "k", 5, 5000)[4]
    assert c.pexpiretime("k") == T0 + 5000
    assert renew(c, "k", a, 9000) == 1
    assert c.pexpiretime("k") == T0 + 9000
    assert release(c, "k", a) == 1
    assert c.pexpiretime("k") == T0 + 5000
    assert release(c, "k", b) == 1
    # No lease left: the key expires at once (just before the manual clock's now).
    assert c.pexpiretime("k") == T0 - 1


def test_an_abandoned_or_emptied_key_disappears_by_the_real_clock(server):
    c = server.client()
    lease = acquire(c, "gone", 2, 50)[4]
    acquire(c, "emptied", 2, HOUR)
    assert c.pttl("gone") <= 50
    wait_until(lambda: c.exists("gone") == 0, timeout=5, what="the abandoned key to expire")
    lease = acquire(c, "emptied2", 2, HOUR)[4]
    assert release(c, "emptied2", lease) == 1
    assert c.exists("emptied2") == 0


def test_other_algorithms_and_leases_do_not_mix(clocked):
    c = clocked.client()
    check(c, "tb", TB, 5, 1000)
    lease = acquire(c, "lease", 5, 1000)[4]
    for args in (("RL.ACQUIRE", "tb", 5, 1000), ("RL.RELEASE", "tb", lease),
                 ("RL.RENEW", "tb", lease, 10), ("RL.CHECK", "lease", TB, 5, 1000),
                 ("RL.PEEK", "lease", "GCRA", 5, 1000),
                 ("RL.MCHECK", 1, "lease", "SLIDING_LOG", 5, 1000)):
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command(*args)
        assert str(e.value) == MISMATCH_ERROR.removeprefix("ERR "), args
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("RL.CHECK", "x", "LEASES", 5, 1000)
    assert str(e.value) == algorithm_error(2).removeprefix("ERR ")
    c.set("plain", "v")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        acquire(c, "plain", 1, 10)


def test_max_leases_per_key_caps_leases_like_capacity(clocked):
    c = clocked.client()
    assert c.config_get("ratelimit.max-leases-per-key") == {"ratelimit.max-leases-per-key": "1000"}
    c.config_set("ratelimit.max-leases-per-key", 2)
    acquire(c, "k", 10, 100)
    clocked.advance_clock(10)
    acquire(c, "k", 10, 100)
    assert acquire(c, "k", 10, 100) == [0, 10, 8, 90, None]
    for bad in (0, 100001):
        with pytest.raises(redis.ResponseError):
            c.config_set("ratelimit.max-leases-per-key", bad)
    c.config_set("ratelimit.max-leases-per-key", 1000)
    assert acquire(c, "k", 10, 100)[0] == 1


def test_inspect_shows_counts_and_expiries_never_ids(clocked):
    c = clocked.client()
    acquire(c, "k", 10, 1000, cost=3)
    clocked.advance_clock(100)
    lease = acquire(c, "k", 10, 2000, cost=2)[4]
    before = digest_value(c, "k")
    acquire(c, "k", 10, 100, cost=20)  # denied (never fits): writes nothing
    assert digest_value(c, "k") == before
    clocked.advance_clock(100)
    info = inspect(c, "k")
    assert list(info) == INSPECT_COMMON + INSPECT_STATE["LEASES"]
    assert info == {
        "algorithm": "LEASES", "limit": 10, "period_ms": 2000, "period": "2s", "burst": 10,
        "remaining": 5,
        "reset_after_ms": 1900, "ttl_ms": 1900, "admitted": 5, "denied": 0, "blocked_ms": 0,
        "held": 5, "leases": 2, "earliest_expiry_ms": T0 + 1000, "latest_expiry_ms": T0 + 2100,
    }
    raw = c.execute_command("RL.INSPECT", "k")
    assert all(lease not in str(v).encode() for v in raw)


def test_memory_is_at_most_24_bytes_per_lease_plus_a_constant(clocked):
    c = clocked.client()
    acquire(c, "k", 1000, HOUR)
    one = c.memory_usage("k", samples=0)
    for _ in range(200):
        acquire(c, "k", 1000, HOUR)
    many = c.memory_usage("k", samples=0)
    per_lease = (many - one) / 200
    assert per_lease <= 24 + 4 * 24 / 200 + 1e-9, (one, many)


def test_stats_count_acquire_decisions_and_lease_keys(clocked):
    c = clocked.client()
    before = stats_all(c)
    acquire(c, "k", 1, HOUR)
    acquire(c, "k", 1, HOUR)
    with pytest.raises(redis.ResponseError):
        acquire(c, "k", 0, HOUR)
    after = stats_all(c)
    delta = {k: after[k] - before[k] for k in (
        "acquire_calls", "acquire_allowed", "acquire_denied", "acquire_errors",
        "leases_checks", "leases_allowed", "leases_denied", "leases_keys")}
    assert delta == {"acquire_calls": 3, "acquire_allowed": 1, "acquire_denied": 1,
                     "acquire_errors": 1, "leases_checks": 2, "leases_allowed": 1,
                     "leases_denied": 1, "leases_keys": 1}


# -- RL.APPLY payloads and RESTORE ---------------------------------------------------


def words(*w):
    return b"".join(struct.pack("<Q", x) for x in w)


def acquire_payload(limit, lease_ms, now, lease_id, expires, units, expire_at):
    return words(0x83, limit, lease_ms, now, lease_id, expires, units, expire_at)


def test_apply_lease_payloads_are_validated(clocked):
    c = clocked.client()
    now = T0
    good = acquire_payload(2, 100, now, 7, now + 100, 1, now + 100)
    assert c.execute_command("RL.APPLY", "k", good) == b"OK"
    assert inspect(c, "k")["held"] == 1
    bad = [
        acquire_payload(2, 100, now, 7, now + 100, 1, now + 100),  # id already held
        acquire_payload(2, 100, now, 0, now + 100, 1, now + 100),  # id 0
        acquire_payload(2, 100, now, 8, now + 100, 2, now + 100),  # above the limit
        acquire_payload(2, 100, now, 8, now, 1, now + 100),  # already expired
        acquire_payload(2, 100, now, 8, now + 100, 0, now + 100),  # no units
        acquire_payload(0, 100, now, 8, now + 100, 1, now + 100),  # limit 0
        acquire_payload(2, 100, now, 8, 2**63, 1, now + 100),  # beyond i64
        good[:-8],  # truncated
        words(0x84, now, 7),  # truncated release
        words(0x85, now, 7, 2**63, 0),  # renew beyond i64
    ]
    for payload in bad:
        with pytest.raises(redis.ResponseError, match="invalid RL.APPLY payload"):
            c.execute_command("RL.APPLY", "k", payload)
    assert inspect(c, "k")["held"] == 1
    c.config_set("ratelimit.max-leases-per-key", 1)
    with pytest.raises(redis.ResponseError, match="invalid RL.APPLY payload"):
        c.execute_command("RL.APPLY", "k", acquire_payload(5, 100, now, 9, now + 100, 1, 0))
    check(c, "tb", TB, 1, 1000)
    with pytest.raises(redis.ResponseError, match="another algorithm"):
        c.execute_command("RL.APPLY", "tb", good)
    assert c.execute_command("RL.APPLY", "k", words(0x84, now, 7, 0)) == b"OK"
    assert inspect(c, "k")["held"] == 0


def test_dump_restore_keeps_leases_and_a_lying_count_is_refused(server):
    r = server.client()
    for _ in range(3):
        acquire(r, "src", 5, HOUR)
    md = ModuleDump.parse(r.dump("src"))
    w = list(md.words)
    assert w[0] == 2 | 6 << 8 and w[6] == 3 and len(w) == 7 + 3 * 3
    assert r.restore("copy", r.pexpiretime("src"), md.build(), absttl=True) == b"OK"
    assert digest_value(r, "copy") == digest_value(r, "src")
    assert inspect(r, "copy")["held"] == 3
    corrupt = {
        "giant-count": w[:6] + [2**62] + w[7:],
        "count-above-the-cap": w[:6] + [100_001] + w[7:],
        "truncated": w[:-1],
        "duplicate-id": w[:10] + [w[7]] + w[11:],
        "zero-units": w[:-1] + [0],
        "more-held-than-the-limit": w[:1] + [2, w[2], 2] + w[4:],
        "unsorted": w[:7] + w[10:13] + w[7:10] + w[13:],
    }
    for name, words_ in corrupt.items():
        payload = md.build(words_)
        assert crc64(payload[:-8]) == int.from_bytes(payload[-8:], "little")
        with pytest.raises(redis.ResponseError):
            r.restore(f"bad:{name}", 0, payload)
        assert r.exists(f"bad:{name}") == 0, name
    assert r.ping() is True
    server.assert_healthy()


# -- replication and the AOF ---------------------------------------------------------


def lease_load(c, n=300):
    """Acquires, releases and renews on a few keys; returns the ids held."""
    held = {}
    for i in range(n):
        key = f"lease:{i % 5}"
        roll = i % 7
        if roll in (0, 1, 2, 3):
            a = acquire(c, key, 4, HOUR * (1 + i % 3), cost=1 + i % 2)
            if a[0]:
                held.setdefault(key, []).append(a[4])
        elif roll == 4 and held.get(key):
            release(c, key, held[key].pop(0))
        elif roll == 5 and held.get(key):
            renew(c, key, held[key][-1], 2 * HOUR)
        else:
            release(c, key, "00000000000000ff")
    return held


def test_replicas_hold_the_same_leases(server_factory, kind):
    primary = server_factory(kind, options={"repl-ping-replica-period": "3600"})
    replica = server_factory(kind, name=f"{kind}-replica")
    pc = primary.client()
    rc = attach(primary, replica)
    held = lease_load(pc)
    assert pc.execute_command("WAIT", 1, 10_000) == 1
    keys = sorted(k.decode() for k in pc.keys("lease:*"))
    assert keys and digest(pc) == digest(rc)
    clocked = ("reset_after_ms", "ttl_ms")  # read at each server's own instant
    for k in keys:
        assert ({n: v for n, v in inspect(rc, k).items() if n not in clocked}
                == {n: v for n, v in inspect(pc, k).items() if n not in clocked})
        assert rc.pexpiretime(k) == pc.pexpiretime(k)
    # The replica's leases are the primary's: one released on the primary is gone there.
    key = next(k for k in held if held[k])
    assert release(pc, key, held[key][0]) >= 1
    assert pc.execute_command("WAIT", 1, 10_000) == 1
    assert digest(pc) == digest(rc)
    assert inspect(rc, key)["held"] == inspect(pc, key)["held"]


STAMP_WITH_ID = re.compile(rb"^@(\d+):([0-9a-f]{16})$")


def test_an_acquire_replicates_as_itself_with_the_id_it_replied(server_factory, kind):
    s = server_factory(kind, options={"appendonly": "yes", "appendfsync": "always"})
    c = s.client()
    plain = acquire(c, "v:plain", 5, HOUR)
    # A client's own stamp is replaced by the filter's: its id is never taken.
    forged = c.execute_command("RL.ACQUIRE", "v:forged", 5, HOUR, "@1:00000000000000ab")
    denied = acquire(c, "v:plain", 1, HOUR, cost=5)
    assert plain[0] == forged[0] == 1 and denied[0] == 0
    assert forged[4] != b"00000000000000ab"
    logged = aof_commands(s, "RL.ACQUIRE")
    # One command each, as sent plus the stamp: the denial propagated nothing.
    assert [cmd[1] for cmd in logged] == [b"v:plain", b"v:forged"]
    for cmd, reply in zip(logged, (plain, forged)):
        assert cmd[2:4] == [b"5", str(HOUR).encode()] and len(cmd) == 5, cmd
        ms, lease_id = STAMP_WITH_ID.match(cmd[4]).groups()
        assert lease_id == reply[4] and int(ms) > 1
    assert not [cmd for cmd in aof_commands(s, "RL.APPLY") if cmd[1].startswith(b"v:")]
    # Queued in MULTI, an acquire runs at EXEC's clock with an id of its own: its step
    # propagates as RL.APPLY.
    pipe = c.pipeline(transaction=True)
    acquire(pipe, "v:multi", 5, HOUR)
    (queued,) = pipe.execute()
    assert queued[0] == 1 and ID.match(queued[4])
    assert [cmd[1] for cmd in aof_commands(s, "RL.APPLY")] == [b"v:multi"]
    assert [cmd[1] for cmd in aof_commands(s, "RL.ACQUIRE")] == [b"v:plain", b"v:forged"]
    # Replayed from the AOF, every lease is held under the id its holder was given.
    s.restart(save=None)
    c = s.client()
    for key, reply in (("v:plain", plain), ("v:forged", forged), ("v:multi", queued)):
        assert release(c, key, reply[4]) == 1, key


def test_a_replayed_acquire_needs_its_stamp(server_factory, kind):
    # An AOF whose RL.ACQUIRE lost its stamp is refused at load, not evaluated at the
    # loading server's clock with an id of its own.
    s = server_factory(kind, options={"appendonly": "yes", "appendfsync": "always"})
    c = s.client()
    acquire(c, "v:k", 5, HOUR)
    s.stop(save=None)
    (path,) = glob.glob(os.path.join(s.dir, "appendonlydir", "*.incr.aof"))
    with open(path, "rb") as f:
        data = f.read()
    stamped = re.search(rb"\$\d+\r\n@\d+:[0-9a-f]{16}\r\n", data)
    assert stamped, data
    # The command loses its last argument: one fewer in the array's header.
    head = data.rindex(b"*5\r\n", 0, stamped.start())
    data = data[:head] + b"*4\r\n" + data[head + 4:stamped.start()] + data[stamped.end():]
    with open(path, "wb") as f:
        f.write(data)
    try:
        s.restart(save=None)
    except ServerError:
        pass  # the server refused to load the file
    else:
        assert not s.client().exists("v:k")  # or loaded it without the refused command
    assert "must end with its @<unix ms> time stamp" in s.log_text()


def test_aof_restart_and_rewrite_keep_the_leases(server_factory, kind):
    opts = {"appendonly": "yes", "aof-use-rdb-preamble": "no", "appendfsync": "always"}
    s = server_factory(kind, options=opts)
    c = s.client()
    held = lease_load(c, 150)
    keys = sorted(k.decode() for k in c.keys("lease:*"))
    before = digest(c), {k: (c.pexpiretime(k), digest_value(c, k)) for k in keys}
    s.restart(save=None)
    c = s.client()
    assert (digest(c), {k: (c.pexpiretime(k), digest_value(c, k)) for k in keys}) == before
    c.bgrewriteaof()
    wait_until(lambda: not c.info("persistence")["aof_rewrite_in_progress"]
               and not c.info("persistence")["aof_rewrite_scheduled"], what="AOF rewrite")
    s.restart(save=None)
    c = s.client()
    assert (digest(c), {k: (c.pexpiretime(k), digest_value(c, k)) for k in keys}) == before
    # The restored ids are the holders': they still release.
    key = next(k for k in held if held[k])
    assert release(c, key, held[key][-1]) >= 1


# -- concurrency ---------------------------------------------------------------------


def test_fifty_clients_never_hold_more_than_the_limit(server):
    """Each client counts a lease as held from after its RL.ACQUIRE reply until before it
    sends RL.RELEASE: a window inside the server's, so the client-side count can only
    exceed the limit if the server held more than the limit."""
    limit, threads, rounds = 5, 50, 60
    lock = threading.Lock()
    state = {"held": 0, "max": 0, "acquired": 0}
    errors = []
    barrier = threading.Barrier(threads)

    def worker():
        c = server.client()
        try:
            barrier.wait(timeout=30)
            for _ in range(rounds):
                a = acquire(c, "pool", limit, HOUR)
                if not a[0]:
                    continue
                with lock:
                    state["held"] += 1
                    state["acquired"] += 1
                    state["max"] = max(state["max"], state["held"])
                with lock:
                    state["held"] -= 1
                assert release(c, "pool", a[4]) == 1
        except Exception as e:  # a dead thread must fail the test
            errors.append(repr(e))
        finally:
            c.close()

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert not errors, errors[:3]
    assert 0 < state["max"] <= limit
    c = server.client()
    # Every lease was released: the key went with its last lease (or holds none).
    info = inspect(c, "pool")
    assert info is None or info["held"] == 0
