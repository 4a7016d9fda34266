"""RL.CHECK ... COST n AT_MOST: a partial grant (TOKEN_BUCKET and GCRA) admits the
whole units available now, up to n, charges only those, and replies `granted` as a
sixth field; without AT_MOST the reply is unchanged. Exact on the module's manual clock
(both servers); replicas end up with the same state."""

import pytest
import redis

from helpers import GCRA, SW, T0, TB, attach, check, digest, inspect, wait_until

HOUR = 3_600_000


def at_most(c, key, algorithm, limit, period, cost, burst=None):
    args = ["RL.CHECK", key, algorithm, limit, period]
    if burst is not None:
        args += ["BURST", burst]
    return c.execute_command(*args, "COST", cost, "AT_MOST")


@pytest.mark.parametrize("algorithm", [TB, GCRA])
def test_grants_what_is_available_up_to_cost(clocked, algorithm):
    c = clocked.client()
    assert at_most(c, "k", algorithm, 10, 1000, 4) == [1, 10, 6, -1, 400, 4]
    assert at_most(c, "k", algorithm, 10, 1000, 9) == [1, 10, 0, -1, 1000, 6]
    # Nothing left: denied, granted 0, the wait is for one unit.
    assert at_most(c, "k", algorithm, 10, 1000, 3) == [0, 10, 0, 100, 1000, 0]
    clocked.advance_clock(250)  # 2.5 units back: 2 whole ones
    assert at_most(c, "k", algorithm, 10, 1000, 5)[5] == 2
    assert inspect(c, "k")["admitted"] == 12


def test_without_at_most_the_reply_has_five_fields(clocked):
    c = clocked.client()
    assert len(check(c, "k", GCRA, 10, 1000, cost=3)) == 5
    assert len(at_most(c, "k", GCRA, 10, 1000, 3)) == 6


def test_resp3_adds_granted_to_the_map(server):
    c = server.client(protocol=3)
    reply = at_most(c, "k", TB, 5, HOUR, 8, burst=3)
    assert reply[b"allowed"] == 1 and reply[b"granted"] == 3 and reply[b"remaining"] == 0
    assert b"granted" not in c.execute_command("RL.CHECK", "k2", TB, 5, HOUR)


def test_window_algorithms_and_repeats_are_refused(server):
    c = server.client()
    for args in (["k", SW, 5, HOUR, "COST", 2, "AT_MOST"],):
        with pytest.raises(redis.ResponseError,
                           match=r"argument 7 \(AT_MOST\): applies only to RL.CHECK"):
            c.execute_command("RL.CHECK", *args)
    with pytest.raises(redis.ResponseError, match=r"argument 6 \(AT_MOST\): given more than once"):
        c.execute_command("RL.CHECK", "k", GCRA, 5, HOUR, "AT_MOST", "AT_MOST")
    with pytest.raises(redis.ResponseError, match=r"\(AT_MOST\): applies only"):
        c.execute_command("RL.PEEK", "k", GCRA, 5, HOUR, "AT_MOST")
    assert c.exists("k") == 0


def test_a_partial_grant_replicates_exactly(server_factory, kind):
    primary = server_factory(kind, name=f"{kind}-atmost-primary")
    replica = server_factory(kind, name=f"{kind}-atmost-replica")
    rc = attach(primary, replica)
    pc = primary.client()
    granted = [at_most(pc, f"k:{a}", a, 5, HOUR, 3)[5] for a in (TB, GCRA) for _ in range(3)]
    assert granted == [3, 2, 0, 3, 2, 0]
    assert pc.execute_command("WAIT", 1, 10_000) == 1
    wait_until(lambda: digest(pc) == digest(rc), what="replica digest to match")
