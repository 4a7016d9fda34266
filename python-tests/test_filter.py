"""The command filter (src/filter.rs), on both servers: which commands it stamps, which
it leaves alone, CONFIG RESETSTAT in any case, and the FRESH hand-off invariant (the
filter resets FRESH first for every command, so a check is fresh only right after its
own filter pass: never at the EXEC of the MULTI it was queued in)."""

import re
import time

import pytest
import redis

from helpers import GCRA, call_error, check, stats_all


def monitored(server, c, *args):
    """The command as the server ran it (after the filter), seen through MONITOR."""
    m = server.client().monitor()
    with m:
        try:
            c.execute_command(*args)
        except redis.ResponseError:
            pass
        while True:  # skip other connections' handshakes (CLIENT SETINFO ...)
            seen = m.next_command()["command"].split()
            if seen[0].upper() == str(args[0]).upper():
                return seen


def test_a_check_queued_in_multi_is_evaluated_at_exec_not_at_its_stamp(r):
    # One per second: admitted now; the same check a moment later is denied.
    assert check(r, "q", GCRA, 1, 1000)[0] == 1
    with r.pipeline(transaction=False) as raw:
        raw.execute_command("MULTI")
        raw.execute_command("RL.CHECK", "q", GCRA, 1, 1000)  # stamped now, as queued
        raw.execute()
        time.sleep(1.2)
        raw.execute_command("EXEC")  # one argument: no stamp, but it resets FRESH
        (replies,) = raw.execute()
    # At its queue-time stamp it would be denied; at EXEC's clock the token is back.
    assert replies[0][0] == 1


def test_each_filtered_check_is_fresh_once_and_a_later_check_is_not_confused(r):
    # Back-to-back stamped checks and short commands in between: every check is
    # evaluated at its own stamp, so a bucket of 3 admits exactly 3 of 4.
    pipe = r.pipeline(transaction=False)
    for _ in range(4):
        pipe.execute_command("RL.CHECK", "f", GCRA, 3, 3_600_000)
        pipe.get("x")
        pipe.ping()
    allowed = [reply[0] for reply in pipe.execute()[::3]]
    assert allowed == [1, 1, 1, 0]


@pytest.mark.parametrize("name", ["RL.CHECK", "rl.check", "Rl.ChEcK"])
def test_the_smallest_check_is_stamped_whatever_the_case(server, r, name):
    ran = monitored(server, r, name, "s", GCRA, 5, 1000)
    assert len(ran) == 6 and ran[-1].startswith("@"), ran


def test_the_smallest_mcheck_is_stamped(server, r):
    ran = monitored(server, r, "RL.MCHECK", 1, "m", GCRA, 5, 1000)
    assert len(ran) == 7 and ran[-1].startswith("@"), ran


def test_an_acquire_is_stamped_with_its_time_and_a_lease_id(server, r):
    ran = monitored(server, r, "RL.ACQUIRE", "a", 5, 1000)
    assert len(ran) == 5 and re.fullmatch(r"@\d+:[0-9a-f]{16}", ran[-1]), ran
    # A client's stamp in either form is replaced, not kept.
    for sent in ("@1", "@1:00000000000000ab"):
        ran = monitored(server, r, "RL.ACQUIRE", "a", 5, 1000, sent)
        assert len(ran) == 5 and re.fullmatch(r"@\d+:[0-9a-f]{16}", ran[-1]), ran
        assert ran[-1] != sent and not ran[-1].endswith(":00000000000000ab")


@pytest.mark.parametrize("args", [
    ("RL.CHECK", "k", GCRA, 5),            # 4 arguments: below the stamped count
    ("RL.MCHECK", 1, "k", GCRA, 5),        # 5: RL.MCHECK needs 6
    ("RL.CHECK", "k", "POLICY", "p"),      # the policy form is shorter than a spec's
])
def test_commands_below_the_stamped_counts_are_left_as_they_came(server, r, args):
    # MONITOR shows a stamp as one more argument.
    assert len(monitored(server, r, *args)) == len(args)


@pytest.mark.parametrize("args", [
    ("GET", "k"), ("INCR", "n"), ("HGET", "h", "f"), ("HSET", "h", "f", "v"),
    ("SET", "k", "v", "PX", "60000"), ("RL.RENEW", "k", "00000000000000ab", 1000),
    ("RL.PEEK", "k", GCRA, 5, 1000),
])
def test_other_commands_pass_unchanged(server, r, args):
    assert len(monitored(server, r, *args)) == len(args)


def test_a_name_that_only_starts_like_a_stamped_one_is_not_stamped(r):
    # The server's refusal quotes the arguments it was given: no stamp among them.
    err = call_error(r, "RL.CHECKS", "k", GCRA, 5, 1000)
    assert "unknown command" in err and "@" not in err


def test_config_resetstat_is_noticed_in_any_case(r):
    for name, sub in [("config", "resetstat"), ("Config", "ResetStat")]:
        check(r, "a", GCRA, 5, 60_000)
        assert stats_all(r)["checks"] >= 1
        assert r.execute_command(name, sub)
        assert stats_all(r)["checks"] == 0


def test_two_argument_commands_that_are_not_resetstat_clear_nothing(r):
    check(r, "a", GCRA, 5, 60_000)
    for args in [("GET", "config"), ("CONFIG", "resetstatx"), ("CONFIGX", "resetstat"),
                 ("ECHO", "resetstat"), ("CLIENT", "ID")]:
        try:
            r.execute_command(*args)
        except redis.ResponseError:
            pass
    assert stats_all(r)["checks"] == 1
