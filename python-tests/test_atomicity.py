"""All or nothing when Redis refuses us: RL.MCHECK and RL.APPLY change several keys; if
creating one of them fails half-way (the test-hooks build's `RL.TESTHOOK FAILCREATE n`
makes the n-th creation fail as a refused RedisModule_ModuleTypeSetValue would), no key
is changed and nothing reaches the replica or the AOF."""

import pytest
import redis

from helpers import (
    GCRA,
    apply_payload,
    encode_gcra,
    encode_token_bucket,
    server_time_ms,
    KINDS,
    SL,
    TB,
    attach,
    check,
    digest,
    inspect,
    mcheck,
    wait_until,
)

HOUR = 3_600_000
INTERNAL = "internal error in ratelimit module"


@pytest.fixture(params=KINDS)
def pair(server_factory, request):
    """A primary and its replica, both with the test-hooks build, on one server kind."""
    kind = request.param
    primary = server_factory(kind, hooks=True, name=f"{kind}-hooks-primary",
                             options={"appendonly": "yes"})
    replica = server_factory(kind, hooks=True, name=f"{kind}-hooks-replica")
    rc = attach(primary, replica)
    return primary.client(), rc


def stable(fields):
    """RL.INSPECT's fields that do not move with the clock."""
    return {k: v for k, v in fields.items() if k not in ("remaining", "reset_after_ms", "ttl_ms")}


def fail_nth_create(c, n):
    assert c.execute_command("RL.TESTHOOK", "FAILCREATE", n) == b"OK"


def settled(pc, rc):
    """The replica has everything the primary propagated so far."""
    assert pc.execute_command("WAIT", 1, 10_000) == 1
    wait_until(lambda: digest(pc) == digest(rc), what="replica digest to match")


def test_a_failed_creation_in_mcheck_leaves_every_key_as_it_was(pair):
    pc, rc = pair
    assert check(pc, "a", TB, 5, HOUR)[0] == 1
    before = inspect(pc, "a")
    # a exists; b and c are new: the second creation (c) fails.
    fail_nth_create(pc, 2)
    specs = [("a", TB, 5, HOUR), ("b", GCRA, 5, HOUR), ("c", SL, 5, HOUR)]
    with pytest.raises(redis.ResponseError, match=INTERNAL):
        mcheck(pc, specs)
    assert pc.exists("b", "c") == 0
    assert stable(inspect(pc, "a")) == stable(before)
    settled(pc, rc)
    assert rc.exists("a") == 1 and rc.exists("b", "c") == 0
    # The fault fired once: the same call now charges all three, on both sides.
    reply = mcheck(pc, specs)
    assert reply[0] == 1
    assert inspect(pc, "a")["admitted"] == before["admitted"] + 1
    settled(pc, rc)
    assert rc.exists("a", "b", "c") == 3


def test_a_failed_first_creation_changes_nothing_and_propagates_nothing(pair):
    pc, rc = pair
    offset = pc.info("replication")["master_repl_offset"]
    fail_nth_create(pc, 1)
    with pytest.raises(redis.ResponseError, match=INTERNAL):
        mcheck(pc, [("x", GCRA, 1, HOUR), ("y", GCRA, 1, HOUR)])
    fail_nth_create(pc, 1)
    with pytest.raises(redis.ResponseError, match=INTERNAL):
        check(pc, "z", GCRA, 1, HOUR)
    assert pc.exists("x", "y", "z") == 0
    # Only the two RL.TESTHOOK calls are not writes: the stream did not move.
    assert pc.info("replication")["master_repl_offset"] == offset
    settled(pc, rc)


def test_a_failed_creation_inside_multi_leaves_the_keys_alone(pair):
    pc, rc = pair
    fail_nth_create(pc, 2)
    p = pc.pipeline(transaction=True)
    p.execute_command("RL.MCHECK", 2, "m1", "m2", GCRA, 1, HOUR, GCRA, 1, HOUR)
    p.execute_command("RL.CHECK", "m3", GCRA, 1, HOUR)
    results = p.execute(raise_on_error=False)
    assert isinstance(results[0], redis.ResponseError) and INTERNAL in str(results[0])
    assert results[1][0] == 1
    assert pc.exists("m1", "m2") == 0 and pc.exists("m3") == 1
    settled(pc, rc)
    assert rc.exists("m1", "m2") == 0 and rc.exists("m3") == 1


def test_a_failed_creation_in_rl_apply_applies_no_pair(pair):
    pc, rc = pair
    now = server_time_ms(pc)
    check(pc, "old", TB, 10, HOUR)
    before = inspect(pc, "old")
    replace = apply_payload(encode_token_bucket(10, 1000, 10, 10 * 1000, now), now + HOUR)
    gcra = apply_payload(encode_gcra(10, 1000, 10, 0), now + HOUR)
    # old is replaced in place, new1 and new2 are created; the second creation fails.
    fail_nth_create(pc, 2)
    with pytest.raises(redis.ResponseError, match=INTERNAL):
        pc.execute_command("RL.APPLY", "old", replace, "new1", gcra, "new2", gcra)
    assert pc.exists("new1", "new2") == 0
    assert stable(inspect(pc, "old")) == stable(before)
    settled(pc, rc)
    assert rc.exists("new1", "new2") == 0
    # Without the fault every pair applies.
    assert pc.execute_command("RL.APPLY", "old", replace, "new1", gcra, "new2", gcra) == b"OK"
    assert pc.exists("old", "new1", "new2") == 3 and inspect(pc, "old")["period_ms"] == 1000
    settled(pc, rc)


def test_the_test_hook_is_not_counted_in_rl_stats(pair):
    pc, _ = pair
    pc.execute_command("RL.TESTHOOK", "FAILCREATE", 0)
    fields = pc.execute_command("RL.STATS")
    names = [fields[i] for i in range(0, len(fields), 2)]
    assert b"check_calls" in names
    assert not any(n.startswith(b"testhook") for n in names)
