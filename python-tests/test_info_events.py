"""The INFO section and keyspace notifications (rl.denied, rl.reset), on both servers,
with real subscribers."""

import subprocess
import time

import pytest
import redis

from helpers import (
    GCRA, MODULE, PERCENTILES, TB, binary_for, check, free_port, mcheck, stats_all, wait_until,
)


def drain_events(pubsub, wait=0.3):
    """All event messages that arrive within `wait` seconds: [(event, key), ...]."""
    events = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        m = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if m and m["type"] == "pmessage":
            events.append((m["channel"].decode().split(":", 1)[1], m["data"]))
    return events


@pytest.fixture
def events(server):
    """A subscriber to every module keyspace event of db 0."""
    c = server.client()
    c.config_set("notify-keyspace-events", "Ed")
    p = c.pubsub()
    p.psubscribe("__keyevent@0__:*")
    drain_events(p, 0.1)
    yield c, p
    p.close()


def info_section(c):
    """INFO ratelimit as a {field: value} dict (redis-py parses INFO replies)."""
    return c.info("ratelimit")


def test_info_section_carries_the_stats_counters_named_the_info_way(r):
    check(r, "a", GCRA, 1, 60_000)
    check(r, "a", GCRA, 1, 60_000)
    check(r, "b", TB, 5, 1000, cost=2)
    with pytest.raises(Exception):
        r.execute_command("RL.CHECK", "b", "NOPE", 1, 1)
    info = info_section(r)
    st = stats_all(r)
    # Key names are shown by RL.STATS only, never in INFO (which ends up in logs).
    st.pop("top_denied_keys")
    assert list(info) == [f"ratelimit_{k}" for k in st]
    assert str(info["ratelimit_version"]) == st.pop("version").decode() == "0.1.0"
    for k, v in st.items():
        # Counters are integers in both; latencies are 3-decimal numbers in both.
        assert abs(float(info[f"ratelimit_{k}"]) - float(v)) < 0.001, k
    assert (info["ratelimit_checks"], info["ratelimit_allowed"], info["ratelimit_denied"]) == (3, 2, 1)
    assert info["ratelimit_errors"] == 1
    assert info["ratelimit_gcra_denied"] == 1
    assert info["ratelimit_check_calls"] == 4
    assert (info["ratelimit_check_errors"], info["ratelimit_check_denied"]) == (1, 1)
    assert 0 < info["ratelimit_check_p50_us"] <= info["ratelimit_check_max_us"]
    assert r.info("everything")["ratelimit_checks"] == 3
    # Not part of the default INFO output (module sections never are).
    assert "ratelimit_checks" not in r.info()


def test_stats_reset_clears_counters_and_latencies(r):
    check(r, "a", GCRA, 1, 60_000)
    r.execute_command("RL.PEEK", "a", GCRA, 1, 60_000)
    assert stats_all(r)["checks"] == 1 and stats_all(r)["peek_calls"] == 1
    assert r.execute_command("RL.STATS", "RESET") == b"OK"
    after = stats_all(r)
    assert after.pop("top_denied_keys") == []
    # Live key counts are gauges, not counters: RESET leaves them.
    assert after.pop("keys") == after.pop("gcra_keys") == 1
    assert (after.pop("version"), after.pop("module_version")) == (b"0.1.0", 100)
    # The RESET call itself counts (and is timed) once it has replied.
    assert after.pop("stats_calls") == 1
    assert float(after.pop("stats_max_us")) > 0
    after = {k: v for k, v in after.items() if not k.startswith("stats_p")}
    assert [k for k, v in after.items() if not k.endswith("_keys") and float(v) != 0] == []
    check(r, "a", GCRA, 1, 60_000)
    assert stats_all(r)["check_calls"] == 1


def test_live_key_counts_follow_creation_and_every_way_a_key_goes(server):
    r = server.client()
    for i, algorithm in enumerate([GCRA, TB, "FIXED_WINDOW", "SLIDING_WINDOW", "SLIDING_LOG"]):
        for j in range(i + 1):
            check(r, f"{algorithm}:{j}", algorithm, 5, 60_000)
    st = stats_all(r)
    assert [st[f"{a}_keys"] for a in ("gcra", "token_bucket", "fixed_window",
                                      "sliding_window", "sliding_log")] == [1, 2, 3, 4, 5]
    assert st["keys"] == 15
    check(r, "short", GCRA, 1, 50)  # expires after 50 ms
    r.execute_command("RL.RESET", "GCRA:0", "SLIDING_LOG:0")
    r.copy("TOKEN_BUCKET:0", "copied")
    r.restore("restored", 0, r.dump("FIXED_WINDOW:0"))
    r.execute_command("DEBUG", "RELOAD")
    time.sleep(0.1)
    r.exists("short")  # an expired key goes when touched
    st = stats_all(r)
    assert st["keys"] == r.dbsize() == 15
    assert (st["gcra_keys"], st["sliding_log_keys"], st["token_bucket_keys"]) == (0, 4, 3)
    # Valkey flushes asynchronously by default: values are freed (and uncounted) by a
    # background thread shortly after.
    r.flushall()
    wait_until(lambda: stats_all(r)["keys"] == 0, timeout=5, what="background free")


def test_stats_names_the_most_denied_keys_in_bounded_memory(r):
    r.config_set("ratelimit.top-denied-keys", 2)
    check(r, "hot", GCRA, 1, 60_000)
    check(r, "warm", GCRA, 1, 60_000)
    for _ in range(5):
        check(r, "hot", GCRA, 1, 60_000)
    for _ in range(3):
        check(r, "warm", GCRA, 1, 60_000)
    check(r, b"\xff" * 1000, GCRA, 1, 60_000, cost=2)  # denied: cost above burst
    top = stats_all(r)["top_denied_keys"]
    assert top[0] == [b"hot", 5, 0]
    assert len(top) == 2
    # The long binary key displaced "warm" (3 denials): count 4, error 3, cut to 256 bytes.
    assert top[1] == [b"\xff" * 256, 4, 3]
    assert b"hot" not in str(r.info("everything")).encode()
    r.execute_command("RL.STATS", "RESET")
    assert stats_all(r)["top_denied_keys"] == []
    r.config_set("ratelimit.top-denied-keys", 0)
    check(r, "hot", GCRA, 1, 60_000)
    assert stats_all(r)["top_denied_keys"] == []


def test_latency_tracking_can_be_turned_off_at_run_time(r):
    r.config_set("ratelimit.latency-tracking", "no")
    check(r, "a", GCRA, 5, 60_000)
    # Calls are still counted; the histogram records nothing.
    off = stats_all(r)
    assert (off["check_calls"], off["checks"]) == (1, 1)
    assert all(float(off[f"check_{p}"]) == 0 for p in PERCENTILES), off
    r.config_set("ratelimit.latency-tracking", "yes")
    check(r, "a", GCRA, 5, 60_000)
    on = stats_all(r)
    assert on["check_calls"] == 2 and float(on["check_max_us"]) > 0


def test_denials_publish_nothing_until_deny_notifications_is_on(r, events):
    c, p = events
    assert c.config_get("ratelimit.deny-notifications") == {"ratelimit.deny-notifications": "no"}
    check(r, "k", GCRA, 1, 60_000)
    assert check(r, "k", GCRA, 1, 60_000)[0] == 0
    assert drain_events(p) == []
    c.config_set("ratelimit.deny-notifications", "yes")
    assert check(r, "k", GCRA, 1, 60_000)[0] == 0
    assert check(r, "other", GCRA, 1, 60_000)[0] == 1
    assert drain_events(p) == [("rl.denied", b"k")]


def test_a_denied_multi_check_publishes_on_the_keys_that_denied(r, events):
    c, p = events
    c.config_set("ratelimit.deny-notifications", "yes")
    check(r, "{u}:day", TB, 1, 86_400_000)
    reply = mcheck(r, [("{u}:sec", GCRA, 5, 1000), ("{u}:day", TB, 1, 86_400_000)])
    assert reply[0] == 0
    assert drain_events(p) == [("rl.denied", b"{u}:day")]


def test_reset_publishes_one_event_per_removed_limiter(r, events):
    c, p = events
    check(r, "x", GCRA, 5, 1000)
    check(r, "y", TB, 5, 1000)
    r.set("plain", "v")
    assert r.execute_command("RL.RESET", "x", "y", "plain", "missing") == 2
    got = drain_events(p)
    assert sorted(got) == [("rl.reset", b"x"), ("rl.reset", b"y")]


def test_deny_notifications_can_be_turned_on_at_load(server_factory, kind):
    s = server_factory(kind, module_args=["deny-notifications", "yes"],
                       options={"notify-keyspace-events": "Ed"})
    c = s.client()
    assert c.config_get("ratelimit.deny-notifications") == {"ratelimit.deny-notifications": "yes"}
    p = c.pubsub()
    p.psubscribe("__keyevent@0__:rl.denied")
    drain_events(p, 0.1)
    check(c, "k", GCRA, 1, 60_000, cost=2)
    assert drain_events(p) == [("rl.denied", b"k")]
    p.close()


def test_config_resetstat_clears_the_counters_when_the_server_runs_it(server, r):
    check(r, "a", GCRA, 1, 60_000)
    check(r, "a", GCRA, 1, 60_000)
    assert stats_all(r)["checks"] == 2
    # A user without CONFIG is refused by the server: the module's counters stay.
    r.execute_command("ACL", "SETUSER", "noconfig", "on", ">pw", "+@all", "-config", "~*")
    u = server.client(username="noconfig", password="pw")
    with pytest.raises(redis.exceptions.NoPermissionError):
        u.config_resetstat()
    st = stats_all(r)
    assert (st["checks"], st["check_calls"], st["top_denied_keys"]) == (2, 2, [[b"a", 1, 0]])
    # Run by a user who may, it clears counters, latencies and the most-denied keys,
    # and leaves the live-key gauge; read first through INFO (no RL command in between).
    assert r.config_resetstat()
    info = r.info("ratelimit")
    assert (info["ratelimit_checks"], info["ratelimit_check_calls"]) == (0, 0)
    assert info["ratelimit_check_max_us"] == 0 and info["ratelimit_keys"] == 1
    st = stats_all(r)
    assert (st["checks"], st["denied"], st["top_denied_keys"], st["gcra_keys"]) == (0, 0, [], 1)
    # Counting starts again from zero, and a refused RESETSTAT later clears nothing.
    check(r, "a", GCRA, 1, 60_000)
    with pytest.raises(redis.exceptions.NoPermissionError):
        u.config_resetstat()
    st = stats_all(r)
    assert (st["checks"], st["denied"], st["check_calls"]) == (1, 1, 1)


def test_config_resetstat_takes_effect_before_the_next_rl_command(r):
    check(r, "a", GCRA, 5, 60_000)
    r.config_resetstat()
    check(r, "a", GCRA, 5, 60_000)
    # The check after RESETSTAT counts; the one before does not.
    st = stats_all(r)
    assert (st["checks"], st["allowed"], st["check_calls"]) == (1, 1, 1)


def test_config_rewrite_persists_module_settings_across_a_restart(kind, tmp_path):
    """CONFIG SET ratelimit.* then CONFIG REWRITE writes the values into the config
    file; a server started from that file has them."""
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\nsave \"\"\ndir {tmp_path}\n"
        f"logfile {tmp_path / 'log.txt'}\nloadmodule {MODULE}\n"
    )

    def start():
        proc = subprocess.Popen([binary_for(kind), str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        c = redis.Redis(port=port, socket_timeout=5, decode_responses=True)

        def up():
            try:
                return c.ping()
            except redis.ConnectionError:
                return False
        wait_until(up, timeout=20, what="the server")
        return proc, c

    proc, c = start()
    try:
        c.config_set("ratelimit.top-denied-keys", 7)
        c.config_set("ratelimit.deny-notifications", "yes")
        c.config_set("ratelimit.latency-tracking", "no")
        assert c.config_rewrite()
        text = conf.read_text()
        for line in ["ratelimit.top-denied-keys 7", "ratelimit.deny-notifications yes",
                     "ratelimit.latency-tracking no"]:
            assert line in text.splitlines(), text
        c.shutdown(nosave=True)
    except redis.ConnectionError:
        pass
    finally:
        proc.wait(timeout=10)
    proc, c = start()
    try:
        got = c.config_get("ratelimit.*")
        assert (got["ratelimit.top-denied-keys"], got["ratelimit.deny-notifications"],
                got["ratelimit.latency-tracking"]) == ("7", "yes", "no")
        # Untouched settings keep their defaults and were not written.
        assert got["ratelimit.sliding-log-max-limit"] == "10000"
        assert "sliding-log-max-limit" not in conf.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
