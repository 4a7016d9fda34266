"""Policies (RL.POLICY): the store, its validation, checks against policies (RL.CHECK /
RL.PEEK / RL.MCHECK with POLICY), shadow mode, and how the set is persisted and
replicated (RDB aux data, AOF preamble, replicas, failover)."""

import json
import os

import pytest
import redis

from helpers import (
    EXPECTED_ALGORITHM,
    EXPECTED_COUNT,
    EXPECTED_DURATION,
    MISMATCH_ERROR,
    attach,
    call_error,
    digest,
    inspect,
    stats_all,
    wait_until,
)

HOUR = 3_600_000
TWO = {
    "limits": [
        {"algorithm": "FIXED_WINDOW", "limit": 3, "period_ms": HOUR},
        {"algorithm": "FIXED_WINDOW", "limit": 5, "period": "1d"},
    ]
}
ONE = {"limits": [{"algorithm": "TOKEN_BUCKET", "limit": 10, "period": "1h", "burst": 2}]}
UNKNOWN = "ERR no such policy (RL.POLICY LIST shows them)"


def pset(c, name, policy):
    return c.execute_command("RL.POLICY", "SET", name, json.dumps(policy))


def pget(c, name):
    reply = c.execute_command("RL.POLICY", "GET", name)
    return None if reply is None else json.loads(reply)


def names(c):
    return [n.decode() for n in c.execute_command("RL.POLICY", "LIST")]


def pdigest(c):
    return c.execute_command("RL.POLICY", "DIGEST")


def test_set_get_del_list_and_versions_that_grow(r):
    assert pget(r, "free") is None and names(r) == []
    empty = pdigest(r)
    v1 = pset(r, "free", TWO)
    v2 = pset(r, "pro", ONE)
    assert v2 > v1 >= 1
    got = pget(r, "free")
    assert got == {
        "limits": [
            {"algorithm": "FIXED_WINDOW", "limit": 3, "period_ms": HOUR},
            {"algorithm": "FIXED_WINDOW", "limit": 5, "period_ms": 86_400_000},
        ],
        "shadow": False,
        "version": v1,
    }
    assert pget(r, "pro")["limits"][0]["burst"] == 2
    assert names(r) == ["free", "pro"]
    v3 = pset(r, "free", ONE)
    assert v3 > v2 and pget(r, "free")["version"] == v3
    assert r.execute_command("RL.POLICY", "DEL", "free") == 1
    assert r.execute_command("RL.POLICY", "DEL", "free") == 0
    assert names(r) == ["pro"]
    assert pdigest(r) != empty
    r.execute_command("RL.POLICY", "DEL", "pro")
    assert pdigest(r) == empty


def test_bad_policies_are_clear_errors_and_change_nothing(r):
    pset(r, "free", ONE)
    before = (pget(r, "free"), pdigest(r))
    table = [
        ('{"limits": [}', "ERR policy JSON is malformed at line 1 column 13"),
        ('{\n"limits": [', "ERR policy JSON ends early at line 2 column 11"),
        ("[]", 'ERR a policy is a JSON object: {"limits": [limit, ...], "shadow": false}'),
        ('{"limits": [], "tier": 1}', "ERR a policy takes only the fields limits and shadow"),
        ('{"limits": []}', "ERR a policy's limits is an array of 1 to 8 limits"),
        (json.dumps({"limits": ONE["limits"] * 9}), "ERR a policy's limits is an array of 1 to 8 limits"),
        (json.dumps({**ONE, "shadow": "yes"}), "ERR a policy's shadow is true or false"),
        ('{"limits": [{"algorithm": "LEAKY", "limit": 1, "period": "1s"}]}',
         f"ERR policy limit 1 (algorithm): {EXPECTED_ALGORITHM}"),
        ('{"limits": [{"algorithm": "CALENDAR", "limit": 1, "period": "1s"}]}',
         "ERR policy limit 1 (period): a CALENDAR period is DAY, WEEK or MONTH"),
        ('{"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1s", "block": "1s",'
         ' "block_ms": 5}]}', "ERR policy limit 1 gives both block_ms and block: give one"),
        ('{"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1s"},'
         ' {"algorithm": "GCRA", "limit": -1, "period": "1s"}]}',
         f"ERR policy limit 2 (limit): {EXPECTED_COUNT}"),
        ('{"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1w"}]}',
         f"ERR policy limit 1 (period): {EXPECTED_DURATION}"),
        ('{"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1s", "cost": 1}]}',
         "ERR policy limit 1 is not an object of algorithm, limit, period_ms or period, burst,"
         " utc_offset, block_ms or block"),
        ('{"limits": [{"algorithm": "FIXED_WINDOW", "limit": 1, "period": "1s", "burst": 2}]}',
         "ERR policy limit 1 (BURST): applies only to TOKEN_BUCKET and GCRA"),
    ]
    for text, want in table:
        assert call_error(r, "RL.POLICY", "SET", "free", text) == want, text
    name_error = "ERR a policy name is 1 to 128 bytes of letters, digits, _, -, . or :"
    for bad in ["a" * 129, "a b", ""]:
        assert call_error(r, "RL.POLICY", "SET", bad, json.dumps(ONE)) == name_error
    assert pset(r, "a" * 128, ONE) >= 1
    r.execute_command("RL.POLICY", "DEL", "a" * 128)
    assert call_error(r, "RL.POLICY", "NOPE") == (
        "ERR unknown subcommand; RL.POLICY takes SET, GET, DEL, LIST, LOAD, RELOAD or DIGEST")
    assert (pget(r, "free"), pdigest(r)) == before


def test_load_replaces_the_whole_set_atomically_and_max_policies_holds(server):
    r = server.client()
    pset(r, "old", ONE)
    assert r.execute_command("RL.POLICY", "LOAD", json.dumps(
        {"policies": {"free": TWO, "pro": ONE}})) == 2
    assert names(r) == ["free", "pro"]
    before = pdigest(r)
    bad = {"policies": {"free": TWO, "pro": {"limits": []}}}
    assert call_error(r, "RL.POLICY", "LOAD", json.dumps(bad)) == (
        "ERR a policy's limits is an array of 1 to 8 limits")
    assert call_error(r, "RL.POLICY", "LOAD", '{"free": {}}') == (
        'ERR a policy set is {"policies": {"name": policy, ...}}')
    assert pdigest(r) == before
    r.config_set("ratelimit.max-policies", 2)
    too_many = "ERR that would make more policies than ratelimit.max-policies"
    assert call_error(r, "RL.POLICY", "SET", "third", json.dumps(ONE)) == too_many
    assert call_error(r, "RL.POLICY", "LOAD", json.dumps(
        {"policies": {"a": ONE, "b": ONE, "c": ONE}})) == too_many
    pset(r, "free", ONE)  # replacing one is not one more
    assert names(r) == ["free", "pro"]


def test_reload_reads_the_policy_file_at_load_and_on_demand(server_factory, tmp_path):
    path = tmp_path / "policies.json"
    path.write_text(json.dumps({"policies": {"free": TWO}}))
    s = server_factory("valkey", module_args=["policy-file", str(path)])
    r = s.client()
    assert names(r) == ["free"]
    path.write_text(json.dumps({"policies": {"free": ONE, "pro": TWO}}))
    assert r.execute_command("RL.POLICY", "RELOAD") == 2
    assert names(r) == ["free", "pro"] and pget(r, "free")["limits"][0]["burst"] == 2
    before = pdigest(r)
    path.write_text('{"policies": {"free": ')
    assert call_error(r, "RL.POLICY", "RELOAD") == "ERR policy JSON ends early at line 1 column 22"
    os.remove(path)
    assert call_error(r, "RL.POLICY", "RELOAD") == "ERR ratelimit.policy-file cannot be read"
    assert pdigest(r) == before
    r.config_set("ratelimit.policy-file", "")
    assert call_error(r, "RL.POLICY", "RELOAD") == "ERR ratelimit.policy-file is not set"


def test_a_bad_policy_file_stops_the_module_loading(server_factory, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"policies": {"free": {"limits": []}}}')
    with pytest.raises(Exception):
        server_factory("valkey", module_args=["policy-file", str(path)])


def test_check_with_a_policy_charges_every_limit_or_none(server):
    r, r3 = server.client(), server.client(protocol=3)
    pset(r, "free", TWO)
    for i in range(3):
        assert r.execute_command("RL.CHECK", "k", "POLICY", "free")[:3] == [1, 3, 2 - i]
    denied = r3.execute_command("RL.CHECK", "k", "POLICY", "free")
    assert denied[b"allowed"] == 0 and denied[b"decided_by"] == 1
    assert denied[b"shadow_denied"] == 0 and 0 < denied[b"retry_after_ms"] <= HOUR
    info = inspect(r, "k")
    assert info["algorithm"] == "POLICY" and info["policy"] == "free"
    assert (info["admitted"], info["denied"]) == (3, 1)
    assert info["version"] == pget(r, "free")["version"]
    first, second = (dict(zip(p[::2], p[1::2])) for p in r.execute_command(
        "RL.INSPECT", "k")[-1])
    assert (first[b"count"], first[b"denied"]) == (3, 1)
    assert (second[b"count"], second[b"denied"], second[b"limit"]) == (3, 0, 5)
    # The day limit decides once it has the fewest left.
    pset(r, "free", {"limits": [TWO["limits"][0] | {"limit": 100}, TWO["limits"][1]]})
    ok = r3.execute_command("RL.CHECK", "k", "POLICY", "free", "COST", 2)
    assert (ok[b"allowed"], ok[b"remaining"], ok[b"decided_by"]) == (1, 0, 2)
    assert r.execute_command("RL.CHECK", "k", "POLICY", "free")[0] == 0
    assert call_error(r, "RL.CHECK", "k", "POLICY", "nope") == UNKNOWN
    assert call_error(r, "RL.CHECK", "k", "GCRA", 1, 1000) == MISMATCH_ERROR
    r.execute_command("RL.CHECK", "plain", "GCRA", 1, 1000)
    assert call_error(r, "RL.CHECK", "plain", "POLICY", "free") == MISMATCH_ERROR
    assert call_error(r, "RL.CHECK", "k", "POLICY", "free", "BURST", 2) == (
        "ERR argument 4 (option): after POLICY name: COST n, and on RL.CHECK also SHADOW")
    s = stats_all(r)
    assert s["policies_checks"] == 6 and s["policies_denied"] == 2 and s["policies_keys"] == 1


def test_a_lowered_limit_keeps_the_usage_counted_and_admits_no_more(r):
    pset(r, "tier", {"limits": [{"algorithm": "FIXED_WINDOW", "limit": 10, "period": "1h"}]})
    for _ in range(6):
        assert r.execute_command("RL.CHECK", "k", "POLICY", "tier")[0] == 1
    pset(r, "tier", {"limits": [{"algorithm": "GCRA", "limit": 100, "period": "1s"},
                                {"algorithm": "FIXED_WINDOW", "limit": 8, "period": "1h"}]})
    admitted = sum(r.execute_command("RL.CHECK", "k", "POLICY", "tier")[0] for _ in range(5))
    assert admitted == 2


def test_peek_and_mcheck_take_policies(r):
    pset(r, "free", TWO)
    assert r.execute_command("RL.PEEK", "k", "POLICY", "free", "COST", 0)[:3] == [1, 3, 3]
    assert r.execute_command("RL.PEEK", "k", "POLICY", "free", "COST", 4)[0] == 0
    assert r.exists("k") == 0
    reply = r.execute_command("RL.MCHECK", 2, "a", "b", "POLICY", "free", "COST", 3,
                              "GCRA", 1, "1h")
    assert reply[:2] == [1, -1]
    reply = r.execute_command("RL.MCHECK", 2, "a", "c", "POLICY", "free", "GCRA", 1, "1h")
    assert reply[0] == 0
    # a denied itself; c was not charged.
    assert inspect(r, "c") is None
    reply = r.execute_command("RL.MCHECK", 2, "d", "b", "POLICY", "free", "GCRA", 1, "1h")
    assert reply[0] == 0
    assert inspect(r, "d") is None, "d admitted, but b denied: nothing is charged"
    assert call_error(r, "RL.MCHECK", 1, "a", "POLICY", "nope") == UNKNOWN


def test_shadow_admits_counts_apart_and_fires_rl_shadow(server):
    r = server.client()
    r.config_set("notify-keyspace-events", "KEd")
    r.config_set("ratelimit.deny-notifications", "yes")
    p = server.client().pubsub()
    p.psubscribe("__keyspace@0__:*")
    wait_until(lambda: p.get_message(timeout=1), what="psubscribe")
    pset(r, "new", {"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1h"}],
                    "shadow": True})
    assert r.execute_command("RL.CHECK", "k", "POLICY", "new")[0] == 1
    assert r.execute_command("RL.CHECK", "k", "POLICY", "new")[0] == 1
    r3 = server.client(protocol=3)
    assert r3.execute_command("RL.CHECK", "k", "POLICY", "new")[b"shadow_denied"] == 1
    pset(r, "enforced", {"limits": [{"algorithm": "GCRA", "limit": 1, "period": "1h"}]})
    assert r.execute_command("RL.CHECK", "j", "POLICY", "enforced")[0] == 1
    assert r.execute_command("RL.CHECK", "j", "POLICY", "enforced", "SHADOW")[0] == 1
    assert r.execute_command("RL.CHECK", "j", "POLICY", "enforced")[0] == 0
    info = inspect(r, "k")
    assert (info["admitted"], info["denied"], info["shadow_denied"]) == (1, 0, 2)
    assert inspect(r, "j")["shadow_denied"] == 1
    s = stats_all(r)
    assert s["shadow_denied"] == 3 and s["policies_denied"] == 1
    info = r.info("ratelimit")
    assert info["ratelimit_shadow_denied"] == 3
    events = []
    wait_until(lambda: events.extend(m for m in iter(lambda: p.get_message(timeout=0.2), None)
                                     if m["type"] == "pmessage") or len(
        [e for e in events if e["data"] in (b"rl.shadow", b"rl.denied")]) >= 4,
        what="the events")
    seen = [(e["channel"], e["data"]) for e in events if e["data"].startswith(b"rl.")]
    assert seen.count((b"__keyspace@0__:k", b"rl.shadow")) == 2
    assert (b"__keyspace@0__:j", b"rl.shadow") in seen
    assert (b"__keyspace@0__:j", b"rl.denied") in seen
    p.close()


def used(c):
    """Each policy key's counted usage, from RL.INSPECT."""
    return {k: (inspect(c, k)["admitted"], inspect(c, k)["denied"]) for k in ("a", "b")}


@pytest.mark.parametrize("how", ["debug-reload", "rdb-restart", "aof-restart"])
def test_policies_survive_rdb_and_aof(server_factory, kind, how):
    options = {"appendonly": "yes"} if how == "aof-restart" else {}
    s = server_factory(kind, options=options)
    r = s.client()
    pset(r, "free", TWO)
    pset(r, "pro", ONE)
    r.execute_command("RL.POLICY", "DEL", "pro")
    pset(r, "pro", TWO)
    if how == "aof-restart":
        r.execute_command("BGREWRITEAOF")
        wait_until(lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0,
                   what="the AOF rewrite")
        pset(r, "late", ONE)  # after the rewrite: replayed from the AOF's tail
    for key in ("a", "b"):
        r.execute_command("RL.CHECK", key, "POLICY", "free")
    before = (pdigest(r), pget(r, "free"), names(r), used(r), digest(r))
    if how == "debug-reload":
        r.execute_command("DEBUG", "RELOAD")
    else:
        s.restart(save=how == "rdb-restart" or None)
        r = s.client()
    assert (pdigest(r), pget(r, "free"), names(r), used(r), digest(r)) == before
    assert pset(r, "next", ONE) > before[1]["version"]


def test_an_aof_without_the_rdb_preamble_refuses_policy_writes(server_factory):
    s = server_factory("redis", options={"appendonly": "yes", "aof-use-rdb-preamble": "no"})
    r = s.client()
    assert call_error(r, "RL.POLICY", "SET", "free", json.dumps(ONE)) == (
        "ERR RL.POLICY writes need aof-use-rdb-preamble yes while appendonly is on: an AOF"
        " without the RDB preamble has no place for policies")
    r.config_set("aof-use-rdb-preamble", "yes")
    assert pset(r, "free", ONE) >= 1


def test_replicas_follow_refuse_writes_and_keep_the_set_through_failover(server_factory, kind):
    primary = server_factory(kind, name=f"{kind}-primary")
    replica = server_factory(kind, name=f"{kind}-replica")
    p = primary.client()
    pset(p, "free", TWO)  # before the replica exists: reaches it by full resync
    rc = attach(primary, replica)
    assert pdigest(rc) == pdigest(p)
    pset(p, "pro", ONE)  # after: by the stream
    p.execute_command("RL.POLICY", "LOAD", json.dumps({"policies": {"free": TWO, "pro": TWO}}))
    for i in range(4):
        p.execute_command("RL.CHECK", f"k{i % 2}", "POLICY", "free", "COST", 2)
    p.execute_command("WAIT", 1, 5000)
    wait_until(lambda: pdigest(rc) == pdigest(p), what="the replica's policies")
    assert pget(rc, "pro") == pget(p, "pro")
    assert digest(rc) == digest(p)
    counted = ("policy", "version", "admitted", "denied", "shadow_denied")
    assert [inspect(rc, "k0")[f] for f in counted] == [inspect(p, "k0")[f] for f in counted]
    assert call_error(rc, "RL.POLICY", "SET", "x", json.dumps(ONE)) == (
        "READONLY RL.POLICY writes go to the primary, which replicates them")
    # A full resynchronisation replaces whatever the replica had.
    rc.replicaof("NO", "ONE")
    pset(rc, "stray", ONE)
    rc = attach(primary, replica)
    assert pdigest(rc) == pdigest(p) and "stray" not in names(rc)
    # Failover: the promoted replica keeps the set and takes writes.
    primary.stop()
    rc.replicaof("NO", "ONE")
    assert names(rc) == ["free", "pro"]
    assert rc.execute_command("RL.CHECK", "k0", "POLICY", "free", "COST", 2)[0] == 0
    assert rc.execute_command("RL.CHECK", "k0", "POLICY", "free")[0] == 1
    assert pset(rc, "after", ONE) >= 1


def test_the_app_user_checks_with_policies_but_cannot_change_them(server):
    r = server.client()
    pset(r, "free", ONE)
    r.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "+@ratelimit"
                      if server.kind == "valkey" else "+rl.check")
    app = server.client(username="app", password="pw")
    assert app.execute_command("RL.CHECK", "k", "POLICY", "free")[0] == 1
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.execute_command("RL.POLICY", "SET", "free", json.dumps(TWO))
