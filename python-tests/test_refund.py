"""RL.REFUND key COST n: gives back units a key was charged for, with its stored
parameters; never above the limit or burst, never into a window that has ended, the
newest units of a log; replies how many were given back. Exact arithmetic on the
module's manual clock (both servers), replication as an effect, ACL."""

import pytest
import redis

from helpers import (
    ALL_ALGORITHMS,
    FW,
    GCRA,
    SL,
    SW,
    T0,
    TB,
    attach,
    check,
    digest,
    inspect,
    wait_until,
)

HOUR = 3_600_000


def refund(c, key, n):
    return c.execute_command("RL.REFUND", key, "COST", n)


def admitted_now(c, key, algorithm, limit, period, burst=None):
    """Cost-1 checks admitted back to back at this instant (charges them)."""
    n = 0
    while check(c, key, algorithm, limit, period, burst=burst)[0] == 1:
        n += 1
        assert n <= limit
    return n


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_a_refund_gives_back_exactly_what_was_charged(clocked, algorithm):
    c = clocked.client()
    assert check(c, "k", algorithm, 5, 1000, cost=3)[0] == 1
    assert refund(c, "k", 2) == 2
    # 5 - 3 + 2 = 4 more fit now, not one more.
    assert admitted_now(c, "k", algorithm, 5, 1000) == 4
    assert inspect(c, "k")["admitted"] == 3 - 2 + 4


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_a_refund_never_goes_above_the_limit(clocked, algorithm):
    c = clocked.client()
    check(c, "k", algorithm, 5, 1000, cost=2)
    assert refund(c, "k", 100) == 2
    assert refund(c, "k", 1) == 0
    assert admitted_now(c, "k", algorithm, 5, 1000) == 5


def test_burst_caps_a_token_bucket_refund(clocked):
    c = clocked.client()
    check(c, "tb", TB, 10, 1000, burst=4, cost=4)
    clocked.advance_clock(100)  # one token back by refill
    assert refund(c, "tb", 10) == 3
    assert admitted_now(c, "tb", TB, 10, 1000, burst=4) == 4


def test_a_gcra_refund_gives_back_only_what_is_still_owed(clocked):
    c = clocked.client()
    check(c, "g", GCRA, 10, 1000, cost=3)  # owes 300 ms
    clocked.advance_clock(150)  # 1.5 units emitted: 1.5 owed, the half unit counts as one
    assert refund(c, "g", 3) == 2
    assert refund(c, "g", 1) == 0  # nothing owed any more: the key is rested
    assert admitted_now(c, "g", GCRA, 10, 1000) == 10


@pytest.mark.parametrize("algorithm", [TB, GCRA])
def test_a_check_refunded_a_moment_later_is_undone_whole(clocked, algorithm):
    """"Count only failures": a unit partly refilled between the check and its refund
    still comes back, and the key ends exactly as if the check had not been made."""
    c = clocked.client()
    check(c, "k", algorithm, 2, 60_000)
    clocked.advance_clock(7)
    assert refund(c, "k", 1) == 1
    assert admitted_now(c, "k", algorithm, 2, 60_000) == 2


@pytest.mark.parametrize("algorithm", [FW, SW])
def test_a_window_that_ended_gives_nothing_back(clocked, algorithm):
    c = clocked.client()
    check(c, "w", algorithm, 5, 1000, cost=3)
    clocked.set_clock(T0 + 1000)  # the next window
    assert refund(c, "w", 3) == 0
    before = inspect(c, "w")
    assert refund(c, "w", 1) == 0 and inspect(c, "w") == before


def test_a_log_refund_forgets_the_newest_units_still_in_the_window(clocked):
    c = clocked.client()
    check(c, "l", SL, 5, 1000, cost=2)       # at T0
    clocked.set_clock(T0 + 600)
    check(c, "l", SL, 5, 1000, cost=2)       # at T0 + 600
    clocked.set_clock(T0 + 1000)             # the first two left the window
    assert refund(c, "l", 5) == 2
    fields = inspect(c, "l")
    assert fields["entries"] <= 2 and fields["newest_ms"] in (-1, T0)
    assert admitted_now(c, "l", SL, 5, 1000) == 5


def test_missing_keys_and_bad_input(server):
    c = server.client()
    assert refund(c, "missing", 5) == 0
    assert c.exists("missing") == 0
    c.set("plain", "v")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        refund(c, "plain", 1)
    marker = "zq9marker"
    for args in (["k", "COST", "0"], ["k", "COST", "-1"], ["k", "COST", marker],
                 ["k", marker, "1"], ["k", "COST"], ["k"], ["k", "COST", "1", marker]):
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("RL.REFUND", *args)
        text = str(e.value)
        assert text.startswith(("argument 2 (option): expected COST n",
                                "argument 3 (COST): expected an integer",
                                "wrong number of arguments for 'rl.refund'")), text
        assert marker not in text
    assert c.get("plain") == b"v"


def test_a_refund_replicates_as_its_effect(server_factory, kind):
    primary = server_factory(kind, name=f"{kind}-refund-primary")
    replica = server_factory(kind, name=f"{kind}-refund-replica")
    rc = attach(primary, replica)
    pc = primary.client()
    for a in ALL_ALGORITHMS:
        check(pc, f"k:{a}", a, 5, HOUR, cost=4)
        assert refund(pc, f"k:{a}", 3) == 3
    assert pc.execute_command("WAIT", 1, 10_000) == 1
    wait_until(lambda: digest(pc) == digest(rc), what="replica digest to match")
    for a in ALL_ALGORITHMS:
        assert inspect(rc, f"k:{a}")["admitted"] == 1
