"""Per-key totals (admitted and denied units since the key was created), what a denied
check changes (only the denied total, and only on an existing key), quota changes on
live keys of every algorithm, and totals surviving DEBUG RELOAD, DUMP/RESTORE, COPY, RDB
and AOF restarts."""

import random

import pytest

from helpers import (
    ALL_ALGORITHMS,
    FW,
    GCRA,
    SL,
    SW,
    TB,
    WINDOW_ALGORITHMS,
    check,
    inspect,
    mcheck,
    peek,
    server_time_ms,
    wait_until,
)

HOUR = 3_600_000
NOW_FIELDS = ("remaining", "reset_after_ms", "ttl_ms")


def stored(info):
    """INSPECT fields that describe the stored value (not the time-dependent ones)."""
    return {k: v for k, v in info.items() if k not in NOW_FIELDS}


def capacity_unchanged(before, after, elapsed_ms):
    """Two PEEK replies of the same request, elapsed_ms apart, on a key nothing charged."""
    return (
        before[:3] == after[:3]
        and (before[3] == after[3] == -1 or 0 <= before[3] - after[3] <= elapsed_ms)
        and 0 <= before[4] - after[4] <= elapsed_ms
    )


def burst_of(algorithm, burst):
    return burst if algorithm in (TB, GCRA) else None


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_totals_count_admitted_and_denied_units(r, algorithm):
    rng = random.Random(algorithm)
    admitted = denied = 0
    for _ in range(60):
        cost = rng.choice([1, 1, 2, 3, 7])
        reply = check(r, "k", algorithm, 6, 10 * HOUR, cost=cost)
        if reply[0]:
            admitted += cost
        elif admitted:  # only an existing key counts a denial
            denied += cost
        if admitted:
            info = inspect(r, "k")
            assert (info["admitted"], info["denied"]) == (admitted, denied)
        else:
            assert r.exists("k") == 0
    assert admitted == 6 and denied > 20


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_denied_check_on_a_missing_key_creates_nothing(r, algorithm):
    assert check(r, "k", algorithm, 5, HOUR, cost=6) == [0, 5, 5, -1, 0]
    if algorithm in (TB, GCRA):
        assert check(r, "k", algorithm, 5, HOUR, burst=2, cost=3) == [0, 5, 2, -1, 0]
    assert r.exists("k") == 0
    assert r.dbsize() == 0


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_denied_check_on_an_existing_key_changes_only_the_denied_total(r, algorithm):
    for _ in range(2):
        assert check(r, "k", algorithm, 2, 10 * HOUR)[0] == 1
    expiry = r.pexpiretime("k")
    base = stored(inspect(r, "k"))
    t = server_time_ms(r)
    probe = peek(r, "k", algorithm, 2, 10 * HOUR)
    assert probe[0] == 0
    denied = 0
    for limit, period, burst, cost in [
        (2, 10 * HOUR, None, None),
        (2, 10 * HOUR, None, 2),
        (1, 10 * HOUR, None, None),   # another quota, still denied: nothing converted
        (2, 10 * HOUR, 2, 1),          # BURST (token bucket / GCRA only)
        (2, 10 * HOUR, None, 50),      # can never be admitted
    ]:
        burst = burst_of(algorithm, burst)
        reply = check(r, "k", algorithm, limit, period, burst, cost)
        assert reply[0] == 0, (limit, period, burst, cost, reply)
        denied += cost or 1
        assert r.pexpiretime("k") == expiry, "a denied check moved the expiry"
        now = stored(inspect(r, "k"))
        assert now["denied"] == denied
        assert {**now, "denied": 0} == {**base, "denied": 0}, "a denied check changed the state"
    # TIME reads the clock now; the module reads the time the server cached for the
    # command, which can lag by a few ms: allow for it.
    elapsed = server_time_ms(r) - t + 20
    assert capacity_unchanged(probe, peek(r, "k", algorithm, 2, 10 * HOUR), elapsed)
    assert inspect(r, "k")["admitted"] == 2


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_quota_change_takes_effect_at_once_and_used_units_stay_used(r, algorithm):
    period = 10 * HOUR
    for _ in range(3):
        check(r, "k", algorithm, 5, period)
    # Raised: the extra capacity is there at once, the 3 used stay used.
    assert check(r, "k", algorithm, 10, period)[:4] == [1, 10, 6, -1]
    # Lowered below the 4 used: denied, nothing left.
    assert check(r, "k", algorithm, 2, period)[:3] == [0, 2, 0]
    assert peek(r, "k", algorithm, 2, period)[:3] == [0, 2, 0]
    # Back up: still 4 used.
    assert check(r, "k", algorithm, 10, period)[:4] == [1, 10, 5, -1]
    info = inspect(r, "k")
    assert (info["limit"], info["admitted"], info["denied"]) == (10, 5, 1)


def test_sliding_log_period_change_keeps_its_units(r):
    for _ in range(3):
        check(r, "k", SL, 5, 10 * HOUR)
    assert check(r, "k", SL, 5, 20 * HOUR)[:4] == [1, 5, 1, -1]
    info = inspect(r, "k")
    assert (info["period_ms"], info["entries"]) == (20 * HOUR, 4)


@pytest.mark.parametrize("algorithm", [TB, GCRA])
def test_burst_change_takes_effect_at_once(r, algorithm):
    for _ in range(3):
        check(r, "k", algorithm, 1, 10 * HOUR, burst=5)
    assert check(r, "k", algorithm, 1, 10 * HOUR, burst=10)[:3] == [1, 1, 6]
    assert check(r, "k", algorithm, 1, 10 * HOUR, burst=3)[:3] == [0, 1, 0]
    assert inspect(r, "k")["burst"] == 10


def test_totals_start_over_after_reset_and_after_expiry(r):
    for algorithm in ALL_ALGORITHMS:
        check(r, algorithm, algorithm, 1, HOUR)
        check(r, algorithm, algorithm, 1, HOUR)
        assert (inspect(r, algorithm)["admitted"], inspect(r, algorithm)["denied"]) == (1, 1)
        assert r.execute_command("RL.RESET", algorithm) == 1
        check(r, algorithm, algorithm, 1, HOUR)
        assert (inspect(r, algorithm)["admitted"], inspect(r, algorithm)["denied"]) == (1, 0)
        short = f"short:{algorithm}"
        check(r, short, algorithm, 1, 30)
        check(r, short, algorithm, 1, 30)
    wait_until(lambda: all(r.exists(f"short:{a}") == 0 for a in ALL_ALGORITHMS), timeout=5,
               what="short windows to end")
    for algorithm in ALL_ALGORITHMS:
        check(r, f"short:{algorithm}", algorithm, 1, 30)
        assert inspect(r, f"short:{algorithm}")["admitted"] == 1
        assert inspect(r, f"short:{algorithm}")["denied"] == 0


# -- persistence ----------------------------------------------------------------------


def populate_totals(c):
    """One key per algorithm with admitted and denied units, windows of hours."""
    keys = []
    for i, algorithm in enumerate(ALL_ALGORITHMS):
        key = f"t:{algorithm}"
        for cost in (1, 2, 2, 1, 9, 1):
            check(c, key, algorithm, 4, 20 * HOUR, cost=cost)
        keys.append(key)
    # A key denied only once it existed.
    check(c, "t:late", FW, 1, 20 * HOUR, cost=2)
    check(c, "t:late", FW, 1, 20 * HOUR)
    check(c, "t:late", FW, 1, 20 * HOUR, cost=3)
    keys.append("t:late")
    # RL.MCHECK: admitted on both keys, then denied as a group (only t:m1 denies).
    assert mcheck(c, [("t:m1", SL, 3, 20 * HOUR), ("t:m2", FW, 3, 20 * HOUR, None, 2)])[0] == 1
    assert mcheck(c, [("t:m1", SL, 3, 20 * HOUR, None, 3), ("t:m2", FW, 3, 20 * HOUR)])[0] == 0
    keys += ["t:m1", "t:m2"]
    expected = {k: stored(inspect(c, k)) for k in keys}
    assert (expected["t:m1"]["admitted"], expected["t:m1"]["denied"]) == (1, 3)
    assert (expected["t:m2"]["admitted"], expected["t:m2"]["denied"]) == (2, 1)
    assert expected["t:late"]["admitted"] == 1 and expected["t:late"]["denied"] == 3
    for algorithm in ALL_ALGORITHMS:
        assert expected[f"t:{algorithm}"]["admitted"] == 4
        assert expected[f"t:{algorithm}"]["denied"] == 12
    return expected


def assert_totals(c, expected, rename=lambda k: k):
    for key, fields in expected.items():
        info = inspect(c, rename(key))
        assert info is not None, rename(key)
        assert stored(info) == fields, rename(key)


def test_totals_survive_debug_reload_dump_restore_and_copy(r):
    expected = populate_totals(r)
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    assert_totals(r, expected)
    for key in expected:
        expiry = r.pexpiretime(key)
        assert r.restore(f"restored:{key}", expiry, r.dump(key), absttl=True) == b"OK"
        assert r.copy(key, f"copy:{key}") is True
    assert_totals(r, expected, lambda k: f"restored:{k}")
    assert_totals(r, expected, lambda k: f"copy:{k}")
    # The copy counts on by itself.
    check(r, "copy:t:late", FW, 1, 20 * HOUR)
    assert inspect(r, "copy:t:late")["denied"] == 4
    assert inspect(r, "t:late")["denied"] == 3


def test_totals_survive_an_rdb_restart(server):
    c = server.client()
    expected = populate_totals(c)
    server.restart(options={"save": "3600 1"}, save=True)
    assert_totals(server.client(), expected)


@pytest.mark.parametrize("preamble", ["no", "yes"], ids=["preamble-no", "preamble-yes"])
def test_totals_survive_an_aof_restart(server_factory, kind, preamble):
    opts = {"appendonly": "yes", "aof-use-rdb-preamble": preamble, "appendfsync": "always"}
    s = server_factory(kind, options=opts)
    c = s.client()
    expected = populate_totals(c)
    s.restart(save=None)
    assert_totals(s.client(), expected)
    # Once more after a rewrite, with denied-only changes after it.
    c = s.client()
    c.bgrewriteaof()
    wait_until(lambda: not c.info("persistence")["aof_rewrite_in_progress"]
               and not c.info("persistence")["aof_rewrite_scheduled"], timeout=20,
               what="AOF rewrite")
    for algorithm in WINDOW_ALGORITHMS + [TB, GCRA]:
        assert check(c, f"t:{algorithm}", algorithm, 4, 20 * HOUR, cost=3)[0] == 0
        expected[f"t:{algorithm}"]["denied"] += 3
    s.restart(save=None)
    assert_totals(s.client(), expected)


def test_window_keys_survive_debug_reload_with_their_decisions(r):
    for algorithm in (FW, SW, SL):
        for _ in range(3):
            check(r, algorithm, algorithm, 3, 20 * HOUR)
    before = {a: (r.pexpiretime(a), peek(r, a, a, 3, 20 * HOUR)[:3]) for a in (FW, SW, SL)}
    r.execute_command("DEBUG", "RELOAD")
    after = {a: (r.pexpiretime(a), peek(r, a, a, 3, 20 * HOUR)[:3]) for a in (FW, SW, SL)}
    assert after == before
    assert all(v[1] == [0, 3, 0] for v in after.values())
