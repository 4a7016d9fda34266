"""Least privilege and resource caps, with real ACL users: an application user allowed
only the check commands on `~rl:*` can check its keys and nothing else; an admin user
can do everything; on servers with module ACL categories (Valkey 9; Redis 7.2+) the
commands carry `@ratelimit` / `@ratelimit-admin`, and on Redis 7.0 the module still
loads. No input makes a log larger than the configured cap."""

import pytest
import redis

from helpers import CELL_COMPAT, GCRA, SL, attach, check, inspect, mcheck

APP_COMMANDS = ["rl.check", "rl.peek", "rl.mcheck", "rl.inspect", "rl.refund", "cl.throttle",
                "rl.acquire", "rl.release", "rl.renew", "rl.block"]
ADMIN_COMMANDS = ["rl.reset", "rl.stats", "rl.metrics", "rl.apply", "rl.policy"]
POLICY = '{"limits": [{"algorithm": "GCRA", "limit": 2, "period": "1m"}]}'


def user(server, name):
    return server.client(username=name, password="pw")


def denied(c, *args):
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.execute_command(*args)


def assert_app_user_confined(app, r):
    # Its own keys: every check command works, with a policy too; the policies are the
    # operator's: the app may not change or read them.
    r.execute_command("RL.POLICY", "SET", "tier", POLICY)
    assert app.execute_command("RL.CHECK", "rl:p", "POLICY", "tier")[0] == 1
    assert app.execute_command("RL.PEEK", "rl:p", "POLICY", "tier")[0] == 1
    denied(app, "RL.POLICY", "SET", "tier", POLICY)
    denied(app, "RL.POLICY", "LIST")
    assert check(app, "rl:a", GCRA, 2, 60_000)[0] == 1
    assert app.execute_command("RL.PEEK", "rl:a", GCRA, 2, 60_000)[0] == 1
    assert mcheck(app, [("rl:a", GCRA, 2, 60_000), ("rl:b", SL, 5, 60_000)])[0] == 1
    assert app.execute_command("CL.THROTTLE", "rl:c", 1, 10, 60)[0] == 0
    assert inspect(app, "rl:a")["admitted"] == 2
    lease = app.execute_command("RL.ACQUIRE", "rl:lease", 2, 60_000)[4]
    assert app.execute_command("RL.RENEW", "rl:lease", lease, 60_000) == 1
    assert app.execute_command("RL.RELEASE", "rl:lease", lease) == 1
    denied(app, "RL.ACQUIRE", "other:lease", 2, 60_000)
    # Keys outside its pattern, alone or among its own keys.
    denied(app, "RL.CHECK", "other:a", GCRA, 2, 60_000)
    denied(app, "RL.INSPECT", "other:a")
    denied(app, "RL.MCHECK", 2, "rl:a", "other:a", GCRA, 2, 60_000, GCRA, 2, 60_000)
    # Commands it was not given: resets, stats, the internal RL.APPLY, the server's own.
    denied(app, "RL.RESET", "rl:a")
    denied(app, "RL.STATS")
    denied(app, "RL.METRICS")
    denied(app, "RL.APPLY", "rl:a", b"\x81" + bytes(15))
    denied(app, "CONFIG", "SET", "ratelimit.sliding-log-max-limit", "10000000")
    denied(app, "MODULE", "LIST")
    denied(app, "FLUSHALL")
    denied(app, "GET", "rl:a")
    assert r.exists("other:a") == 0 and inspect(r, "rl:a")["admitted"] == 2


@pytest.fixture
def cell_server(server_factory, kind):
    return server_factory(kind, module_args=CELL_COMPAT)


def test_app_user_by_command_names_checks_its_keys_and_nothing_else(cell_server):
    r = cell_server.client()
    r.execute_command("ACL", "SETUSER", "app", "on", ">pw", "resetchannels", "~rl:*",
                      "-@all", *[f"+{c}" for c in APP_COMMANDS])
    assert_app_user_confined(user(cell_server, "app"), r)


def test_admin_user_can_reset_read_stats_and_configure(cell_server):
    r = cell_server.client()
    r.execute_command("ACL", "SETUSER", "admin", "on", ">pw", "~*", "&*", "+@all")
    admin = user(cell_server, "admin")
    check(admin, "rl:a", GCRA, 1, 60_000)
    assert admin.execute_command("RL.RESET", "rl:a") == 1
    assert admin.execute_command("RL.STATS", "RESET") == b"OK"
    assert admin.config_set("ratelimit.top-denied-keys", 5)
    assert admin.config_get("ratelimit.top-denied-keys") == {"ratelimit.top-denied-keys": "5"}


def test_module_acl_categories_where_the_server_has_them(cell_server, kind):
    r = cell_server.client()
    if kind == "redis":
        # Redis 7.0 has no module ACL categories: the module loads without them and
        # users are granted commands by name (the test above).
        assert [m[b"name"] for m in r.module_list()] == [b"ratelimit"]
        with pytest.raises(redis.ResponseError):
            r.execute_command("ACL", "CAT", "ratelimit")
        return
    assert sorted(c.decode() for c in r.execute_command("ACL", "CAT", "ratelimit")) \
        == sorted(APP_COMMANDS)
    assert sorted(c.decode() for c in r.execute_command("ACL", "CAT", "ratelimit-admin")) \
        == sorted(ADMIN_COMMANDS)
    r.execute_command("ACL", "SETUSER", "app", "on", ">pw", "resetchannels", "~rl:*",
                      "-@all", "+@ratelimit")
    assert_app_user_confined(user(cell_server, "app"), r)
    r.execute_command("ACL", "SETUSER", "ops", "on", ">pw", "~rl:*", "-@all",
                      "+@ratelimit-admin")
    ops = user(cell_server, "ops")
    assert ops.execute_command("RL.STATS")
    assert ops.execute_command("RL.METRICS")
    assert ops.execute_command("RL.RESET", "rl:a") == 1
    assert ops.execute_command("RL.POLICY", "SET", "ops", POLICY) >= 1
    denied(ops, "RL.CHECK", "rl:a", GCRA, 2, 60_000)


def test_a_monitoring_user_reads_the_counters_but_no_key_names_and_resets_nothing(cell_server):
    """RL.METRICS for health checks and exporters; RL.STATS (the most-denied key names,
    and its RESET) stays with admins, as does CONFIG RESETSTAT."""
    r = cell_server.client()
    for _ in range(2):
        check(r, "user:42", GCRA, 1, 60_000)
    r.execute_command("ACL", "SETUSER", "monitor", "on", ">pw", "resetkeys", "resetchannels",
                      "-@all", "+ping", "+info", "+rl.metrics")
    monitor = user(cell_server, "monitor")
    metrics = monitor.execute_command("RL.METRICS")
    assert b"user:42" not in metrics and b"top_denied_keys" not in metrics
    assert dict(zip(metrics[::2], metrics[1::2]))[b"denied"] == 1
    for args in (("RL.STATS",), ("RL.STATS", "RESET"), ("CONFIG", "RESETSTAT"),
                 ("RL.RESET", "user:42"), ("RL.INSPECT", "user:42")):
        denied(monitor, *args)
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        monitor.execute_command("RL.METRICS", "RESET")
    assert [e[0] for e in dict(zip(*[iter(r.execute_command("RL.STATS"))] * 2))[
        b"top_denied_keys"]] == [b"user:42"]


def append_payload(limit, cost, period=60_000, at=1_767_225_600_000, expire=2**41):
    """RL.APPLY's SLIDING_LOG append: [0x82, limit, period, expired, at, cost, expire]."""
    words = [0x82, limit, period, 0, at, cost, expire]
    return b"".join(w.to_bytes(8, "little") for w in words)


def test_no_client_input_grows_a_log_beyond_the_cap(server_factory, kind):
    server = server_factory(kind)
    r = server.client()
    r.config_set("ratelimit.sliding-log-max-limit", 1000)
    with pytest.raises(redis.ResponseError, match="sliding-log-max-limit"):
        check(r, "log", SL, 1001, 60_000)
    with pytest.raises(redis.ResponseError, match="sliding-log-max-limit"):
        mcheck(r, [("a", GCRA, 1, 1000), ("log", SL, 5000, 60_000)])
    # A 56-byte RL.APPLY from a client is held to the same cap: no log of millions.
    with pytest.raises(redis.ResponseError, match="sliding-log-max-limit"):
        r.execute_command("RL.APPLY", "log", append_payload(10_000_000, 10_000_000))
    assert r.exists("log") == 0
    # At the cap: memory stays within 8 bytes per unit plus a small constant.
    assert r.execute_command("RL.APPLY", "log", append_payload(1000, 1000)) == b"OK"
    assert inspect(r, "log")["entries"] == 1000
    assert r.memory_usage("log", samples=0) <= 8 * 1000 + 200
    check(r, "log2", SL, 1000, 60_000, None, 1000)
    assert r.memory_usage("log2", samples=0) <= 8 * 1000 + 200
    server.assert_healthy()


def test_a_replica_with_a_lower_cap_still_follows_its_primary(server_factory, kind):
    """The cap guards clients; the primary's stream is trusted (up to the hard limit of
    ten million units), so replicas never diverge over a configuration difference."""
    primary = server_factory(kind, name=f"{kind}-primary")
    replica = server_factory(kind, name=f"{kind}-replica")
    pc = primary.client()
    pc.config_set("ratelimit.sliding-log-max-limit", 50_000)
    rc = attach(primary, replica)
    rc.config_set("ratelimit.sliding-log-max-limit", 100)
    assert check(pc, "big", SL, 50_000, 60_000, None, 20_000)[0] == 1
    assert pc.execute_command("WAIT", 1, 10_000) == 1
    assert inspect(rc, "big")["entries"] == 20_000
    assert rc.execute_command("DEBUG", "DIGEST-VALUE", "big") \
        == pc.execute_command("DEBUG", "DIGEST-VALUE", "big")
