"""FIXED_WINDOW, SLIDING_WINDOW and SLIDING_LOG.

Exact decisions (every reply field, to the millisecond) run on `clocked`, a Valkey
server whose clock stands still until the test moves it. The rest runs on Redis 7.0 and
Valkey 9 with windows of hours, bounding time-valued fields by the server time read
before and after each command."""

import pytest

from helpers import (
    ALGORITHM_ERROR,
    ALL_ALGORITHMS,
    FW,
    MAX,
    MISMATCH_ERROR,
    SL,
    SW,
    T0,
    TB,
    WINDOW_ALGORITHMS,
    WINDOW_BURST_ERROR,
    WRONGTYPE_ERROR,
    cost_error,
    limit_error,
    missing_value_error,
    option_error,
    period_error,
    sl_limit_error,
    sl_period_error,
    window_burst_error,
    arity_error,
    call_error,
    check,
    inspect,
    same_error,
    server_time_ms,
)

HOUR = 3_600_000
SL_PERIOD_ERROR = sl_period_error(4)
SL_LIMIT_ERROR = sl_limit_error(3)
SL_MAX_LIMIT = "ratelimit.sliding-log-max-limit"


def assert_between(value, lo, hi, what="value"):
    assert lo <= value <= hi, f"{what}={value} not in [{lo}, {hi}]"


class At:
    """Moves the clocked server to T0 + offset and runs a check there."""

    def __init__(self, server):
        self.server = server
        self.c = server.client()

    def __call__(self, offset):
        self.server.set_clock(T0 + offset)
        return self

    def check(self, *args, **kw):
        return check(self.c, "k", *args, **kw)

    def expiry(self):
        return self.c.pexpiretime("k") - T0


# -- FIXED_WINDOW, exact ------------------------------------------------------------


def test_fixed_window_admits_limit_per_aligned_window_and_retries_at_its_end(clocked):
    at = At(clocked)
    assert at(200).check(FW, 3, 1000) == [1, 3, 2, -1, 800]
    assert at.expiry() == 1000, "the key expires at the window's end"
    assert at(500).check(FW, 3, 1000, cost=2) == [1, 3, 0, -1, 500]
    assert at.expiry() == 1000
    assert at(700).check(FW, 3, 1000) == [0, 3, 0, 300, 300]
    assert at.check(FW, 3, 1000, cost=4) == [0, 3, 0, -1, 300], "COST > limit: never"
    assert at.expiry() == 1000, "a denied check keeps the expiry"
    assert at(999).check(FW, 3, 1000) == [0, 3, 0, 1, 1]
    # The next aligned window starts empty.
    assert at(1000).check(FW, 3, 1000) == [1, 3, 2, -1, 1000]
    assert at.expiry() == 2000
    assert at(1999).check(FW, 3, 1000, cost=2) == [1, 3, 0, -1, 1]
    assert at.check(FW, 3, 1000) == [0, 3, 0, 1, 1]
    assert at(2000).check(FW, 3, 1000, cost=3) == [1, 3, 0, -1, 1000]


def test_fixed_window_cost_above_limit_on_a_missing_key_creates_nothing(clocked):
    at = At(clocked)
    assert at(100).check(FW, 3, 1000, cost=4) == [0, 3, 3, -1, 0]
    assert at.c.exists("k") == 0
    assert at.check(FW, 3, 1000, cost=3) == [1, 3, 0, -1, 900]


@pytest.mark.parametrize("period", [1, 7, 1000, 7001, HOUR + 1, 86_400_000, 10**12, MAX])
def test_fixed_windows_are_aligned_to_multiples_of_the_period_since_the_epoch(clocked, period):
    now = T0 + 123_457
    clocked.set_clock(now)
    c = clocked.client()
    end = (now // period + 1) * period if period != MAX else MAX
    assert check(c, "k", FW, 5, period) == [1, 5, 4, -1, end - now]
    assert c.pexpiretime("k") == end
    info = inspect(c, "k")
    assert info["window_start_ms"] == (now // period) * period
    assert info["count"] == 1


def test_fixed_window_limit_change_keeps_the_window_count(clocked):
    at = At(clocked)
    for _ in range(3):
        at(100).check(FW, 3, 1000)
    # Raised: the 3 used stay used, the extra 2 are available at once.
    assert at(200).check(FW, 5, 1000) == [1, 5, 1, -1, 800]
    # Lowered below the count: denied until the window ends.
    assert at(300).check(FW, 2, 1000) == [0, 2, 0, 700, 700]
    assert at(400).check(FW, 5, 1000) == [1, 5, 0, -1, 600]
    assert at.check(FW, 5, 1000) == [0, 5, 0, 600, 600]


def test_fixed_window_period_change_with_the_same_window_start_keeps_the_count(clocked):
    at = At(clocked)
    # T0 is a multiple of both 1000 and 2000: both periods' windows start at T0.
    at(100).check(FW, 3, 1000)
    at.check(FW, 3, 1000)
    assert at(300).check(FW, 3, 2000) == [1, 3, 0, -1, 1700]
    assert at.expiry() == 2000
    assert at.check(FW, 3, 2000) == [0, 3, 0, 1700, 1700]


# -- SLIDING_WINDOW, exact ----------------------------------------------------------


def test_sliding_window_weights_the_previous_window_and_retries_exactly(clocked):
    """limit 10 per 1000 ms; estimate = previous * (1000 - e) / 1000 + current."""
    at = At(clocked)
    assert at(100).check(SW, 10, 1000, cost=4) == [1, 10, 6, -1, 1900]
    assert at.expiry() == 2000
    assert at(900).check(SW, 10, 1000, cost=6) == [1, 10, 0, -1, 1100]
    # 11 > 10 in this window: wait for the next one, where 10 * (1000 - e)/1000 + 1 <= 10
    # from e = 100 on: 100 + 100 ms.
    assert at.check(SW, 10, 1000) == [0, 10, 0, 200, 1100]
    # e = 99 in window 1: estimate 9.01, + 1 > 10; reset = P - e (only previous counts).
    assert at(1099).check(SW, 10, 1000) == [0, 10, 0, 1, 901]
    assert at(1100).check(SW, 10, 1000) == [1, 10, 0, -1, 1900]
    # estimate 9 + 1 = 10; one more needs 10 * (900 - w)/1000 + 2 <= 10: w = 100.
    assert at.check(SW, 10, 1000) == [0, 10, 0, 100, 1900]
    assert at(1150).check(SW, 10, 1000) == [0, 10, 0, 50, 1850]
    assert at(1200).check(SW, 10, 1000) == [1, 10, 0, -1, 1800]
    # estimate 10 * 300/1000 + 2 = 5; COST 3 -> 8, 2 remaining.
    assert at(1700).check(SW, 10, 1000, cost=3) == [1, 10, 2, -1, 1300]
    assert at.check(SW, 10, 1000, cost=11) == [0, 10, 2, -1, 1300]
    assert at.expiry() == 3000


def test_sliding_window_uses_exact_rational_arithmetic(clocked):
    """limit 7: 7 * (1000 - e) / 1000 + 1 <= 7 from e = 1000/7 = 142.857..., i.e. 143."""
    at = At(clocked)
    assert at(0).check(SW, 7, 1000, cost=7) == [1, 7, 0, -1, 2000]
    assert at(1000).check(SW, 7, 1000) == [0, 7, 0, 143, 1000]
    assert at(1142).check(SW, 7, 1000) == [0, 7, 0, 1, 858]   # 6.006 + 1 > 7
    assert at(1143).check(SW, 7, 1000) == [1, 7, 0, -1, 1857]  # 5.999 + 1 <= 7
    # 7 * 500/1000 + 1 = 4.5, + 1 = 5.5: floor(7 - 5.5) = 1 remaining.
    assert at(1500).check(SW, 7, 1000) == [1, 7, 1, -1, 1500]


def test_sliding_window_retry_across_the_window_boundary(clocked):
    at = At(clocked)
    assert at(500).check(SW, 3, 1000, cost=3) == [1, 3, 0, -1, 1500]
    # Next window: 3 * (1000 - e)/1000 + 1 <= 3 from e = 333.33..., so 334: 500 + 334.
    assert at.check(SW, 3, 1000) == [0, 3, 0, 834, 1500]
    assert at(1333).check(SW, 3, 1000) == [0, 3, 0, 1, 667]
    assert at(1334).check(SW, 3, 1000) == [1, 3, 0, -1, 1666]


def test_sliding_window_cost_equal_to_limit_waits_until_nothing_is_weighted(clocked):
    at = At(clocked)
    assert at(500).check(SW, 3, 1000) == [1, 3, 2, -1, 1500]
    # 1 + 3 > 3 now; next window 1 * (1000 - e)/1000 + 3 <= 3 only at e = 1000, which is
    # the start of the window after: 1500 ms.
    assert at.check(SW, 3, 1000, cost=3) == [0, 3, 2, 1500, 1500]
    assert at(1999).check(SW, 3, 1000, cost=3) == [0, 3, 2, 1, 1]
    assert at(2000).check(SW, 3, 1000, cost=3) == [1, 3, 0, -1, 2000]


def test_sliding_window_documented_bound_is_reached_by_late_previous_requests(clocked):
    """Each aligned window admits at most `limit`; an interval of one period can admit
    2 * limit - 1 when the previous window's units came at its very end."""
    at = At(clocked)
    assert at(999).check(SW, 10, 1000, cost=10)[0] == 1
    at(1998)
    admitted = 0
    while at.check(SW, 10, 1000)[0] == 1:
        admitted += 1
        assert admitted <= 10
    # (998, 1998] holds the 10 units at 999 and these: estimate 10 * 2/1000 = 0.02.
    assert admitted == 9
    assert 10 + admitted == 2 * 10 - 1


def test_sliding_window_under_admits_compared_to_an_exact_log(clocked):
    at = At(clocked)
    assert at(0).check(SW, 10, 1000, cost=10)[0] == 1
    assert check(at.c, "log", SL, 10, 1000, cost=10)[0] == 1  # same history
    at(1500)
    sw = sum(at.check(SW, 10, 1000)[0] for _ in range(12))
    sl = sum(check(at.c, "log", SL, 10, 1000)[0] for _ in range(12))
    assert (sw, sl) == (5, 10), "the estimate still weighs half of the expired units"


# -- SLIDING_LOG, exact -------------------------------------------------------------


def test_sliding_log_counts_units_of_the_last_period_exactly(clocked):
    at = At(clocked)
    assert at(100).check(SL, 3, 1000) == [1, 3, 2, -1, 1000]
    assert at.expiry() == 1100, "expires when its newest unit leaves the window"
    assert at(300).check(SL, 3, 1000, cost=2) == [1, 3, 0, -1, 1000]
    assert at.expiry() == 1300
    # One unit must leave: the one at 100 stops counting at 1100.
    assert at(500).check(SL, 3, 1000) == [0, 3, 0, 600, 800]
    # Two must leave: both units at 300 go at 1300.
    assert at.check(SL, 3, 1000, cost=2) == [0, 3, 0, 800, 800]
    assert at.check(SL, 3, 1000, cost=3) == [0, 3, 0, 800, 800]
    assert at.check(SL, 3, 1000, cost=4) == [0, 3, 0, -1, 800]
    assert at.expiry() == 1300
    assert at(1099).check(SL, 3, 1000) == [0, 3, 0, 1, 201]
    assert at(1100).check(SL, 3, 1000) == [1, 3, 0, -1, 1000]
    assert at(1299).check(SL, 3, 1000) == [0, 3, 0, 1, 801]
    assert at(1300).check(SL, 3, 1000, cost=2) == [1, 3, 0, -1, 1000]
    # (1300, 2300]: nothing left.
    assert at(2300).check(SL, 3, 1000) == [1, 3, 2, -1, 1000]


def test_sliding_log_remaining_counts_only_units_within_the_period(clocked):
    at = At(clocked)
    for t in (0, 250, 500, 750):
        assert at(t).check(SL, 10, 1000, cost=2)[0] == 1
    # At 1100 the units at 0 are gone: 6 live units after this one.
    assert at(1100).check(SL, 10, 1000) == [1, 10, 3, -1, 1000]
    # At 1600 the units at 250 and 500 are gone as well: 2 + 1 + 1.
    assert at(1600).check(SL, 10, 1000) == [1, 10, 6, -1, 1000]


def test_sliding_log_cost_above_limit_on_a_missing_key_creates_nothing(clocked):
    at = At(clocked)
    assert at(0).check(SL, 3, 1000, cost=4) == [0, 3, 3, -1, 0]
    assert at.c.exists("k") == 0


# -- all servers ----------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", WINDOW_ALGORITHMS)
def test_window_algorithm_admits_limit_then_denies(r, algorithm):
    period = 10 * HOUR
    t_first = server_time_ms(r)
    for n in range(1, 6):
        t0 = server_time_ms(r)
        reply = check(r, "k", algorithm, 5, period)
        t1 = server_time_ms(r)
        assert reply[:4] == [1, 5, 5 - n, -1], (n, reply)
        # The key expires exactly reset_after_ms after the check.
        assert_between(r.pexpiretime("k") - reply[4], t0, t1, "check time from the expiry")
    t0 = server_time_ms(r)
    denied = check(r, "k", algorithm, 5, period)
    t1 = server_time_ms(r)
    assert denied[:3] == [0, 5, 0]
    expiry = r.pexpiretime("k")
    assert_between(expiry - denied[4], t0, t1, "check time from reset_after")
    if algorithm == FW:
        assert expiry % period == 0, "fixed windows end on a multiple of the period"
        assert denied[3] == denied[4]
    elif algorithm == SL:
        # The oldest unit leaves first: retry points at it, reset at the newest.
        assert_between(denied[3] + t1, t_first + period, t1 + period)
        assert denied[3] <= denied[4]
    else:
        assert 0 < denied[3] <= denied[4]


@pytest.mark.parametrize("algorithm", WINDOW_ALGORITHMS)
def test_window_algorithm_never_admits_cost_above_limit(r, algorithm):
    assert check(r, "k", algorithm, 5, HOUR, cost=6) == [0, 5, 5, -1, 0]
    assert r.exists("k") == 0
    assert check(r, "k", algorithm, 5, HOUR, cost=2)[:3] == [1, 5, 3]
    reply = check(r, "k", algorithm, 5, HOUR, cost=6)
    assert reply[:4] == [0, 5, 3, -1]
    assert check(r, "k", algorithm, 5, HOUR, cost=3)[:3] == [1, 5, 0]


@pytest.mark.parametrize("algorithm", WINDOW_ALGORITHMS)
def test_burst_is_refused_for_window_algorithms(r, algorithm):
    for args in (("BURST", 5), ("BURST", 1), ("COST", 1, "BURST", 10), ("burst", 3)):
        # The error names the BURST keyword's position (the key is argument 1).
        pos = 5 + len(args) - 2
        assert call_error(r, "RL.CHECK", "k", algorithm, 5, 1000, *args) == (
            window_burst_error(pos))
    assert r.exists("k") == 0
    check(r, "k", algorithm, 5, HOUR)
    before = inspect(r, "k")
    assert call_error(r, "RL.CHECK", "k", algorithm, 5, HOUR, "BURST", 5) == WINDOW_BURST_ERROR
    after = inspect(r, "k")
    assert (after["admitted"], after["denied"], after["limit"]) == (
        before["admitted"], before["denied"], before["limit"])


def test_algorithm_names_are_case_insensitive(r):
    assert r.execute_command("RL.CHECK", "a", "fixed_window", 5, HOUR)[:3] == [1, 5, 4]
    assert r.execute_command("RL.CHECK", "a", "Fixed_Window", 5, HOUR)[:3] == [1, 5, 3]
    assert r.execute_command("rl.check", "b", "sliding_window", 5, HOUR, "cost", 2)[:3] == [1, 5, 3]
    assert r.execute_command("RL.CHECK", "c", "sLiDiNg_LoG", 5, HOUR)[:3] == [1, 5, 4]
    assert inspect(r, "a")["algorithm"] == FW
    assert inspect(r, "b")["algorithm"] == SW
    assert inspect(r, "c")["algorithm"] == SL


@pytest.mark.parametrize("name", ["LEAKY_BUCKET", "FIXED", "SLIDING", "SLIDINGLOG", "FIXED_WINDOWS",
                                  "SLIDING_LOG ", "", "WINDOW"])
def test_unknown_algorithm_names_every_algorithm(r, name):
    assert call_error(r, "RL.CHECK", "k", name, 5, 1000) == ALGORITHM_ERROR
    assert r.exists("k") == 0


def test_another_algorithm_on_an_existing_key_is_an_error_for_every_pair(r):
    for first in ALL_ALGORITHMS:
        key = f"k:{first}"
        check(r, key, first, 5, HOUR)
        before = (r.pexpiretime(key), inspect(r, key))
        for second in ALL_ALGORITHMS:
            if second != first:
                assert call_error(r, "RL.CHECK", key, second, 5, HOUR) == MISMATCH_ERROR, (first, second)
        assert r.pexpiretime(key) == before[0]
        after = inspect(r, key)
        assert after["algorithm"] == first
        assert (after["admitted"], after["denied"]) == (1, 0)
        assert r.execute_command("RL.RESET", key) == 1


@pytest.mark.parametrize("algorithm", WINDOW_ALGORITHMS)
def test_window_algorithms_get_wrongtype_on_other_types(r, algorithm):
    r.set("s", "v")
    r.rpush("l", "x")
    assert call_error(r, "RL.CHECK", "s", algorithm, 5, 1000) == WRONGTYPE_ERROR
    assert call_error(r, "RL.CHECK", "l", algorithm, 5, 1000, "COST", 9) == WRONGTYPE_ERROR
    assert r.get("s") == b"v" and r.lrange("l", 0, -1) == [b"x"]
    check(r, "k", algorithm, 5, 1000)
    assert r.type("k") == b"ratelimit"
    assert call_error(r, "GET", "k") == WRONGTYPE_ERROR


@pytest.mark.parametrize("algorithm", WINDOW_ALGORITHMS)
def test_window_algorithms_validate_numbers_like_the_others(r, algorithm):
    assert call_error(r, "RL.CHECK", "k", algorithm, 0, 1000) == limit_error(3)
    assert call_error(r, "RL.CHECK", "k", algorithm, 5, "-1") == period_error(4)
    assert call_error(r, "RL.CHECK", "k", algorithm, 5, 1000, "COST", 0) == cost_error(6)
    assert call_error(r, "RL.CHECK", "k", algorithm, 5, 1000, "COST") == (
        missing_value_error("COST", 5))
    assert call_error(r, "RL.CHECK", "k", algorithm, 5, 1000, "SPEED", 1) == option_error(5)
    assert same_error(call_error(r, "RL.CHECK", "k", algorithm, 5), arity_error("rl.check"))
    assert r.exists("k") == 0


@pytest.mark.parametrize("algorithm", [FW, SW])
def test_window_algorithms_take_i64_max_arguments_without_overflow(r, algorithm):
    now = server_time_ms(r)
    for key, limit, period, cost in (("a", MAX, MAX, MAX), ("b", 1, MAX, 1), ("c", MAX, 1, 1)):
        reply = check(r, key, algorithm, limit, period, cost=cost)
        assert reply[:4] == [1, limit, limit - cost, -1], (key, reply)
        assert all(type(v) is int and -1 <= v <= MAX for v in reply), reply
        again = check(r, key, algorithm, limit, period, cost=cost)
        assert all(type(v) is int and -1 <= v <= MAX for v in again), again
    for key in ("a", "b"):
        assert r.pexpiretime(key) > now + 10 * 365 * 86_400_000, key
    assert check(r, "b", algorithm, 1, MAX)[:3] == [0, 1, 0]


def test_sliding_log_period_is_at_most_u32_max(r):
    assert call_error(r, "RL.CHECK", "k", SL, 5, 4_294_967_296) == SL_PERIOD_ERROR
    assert call_error(r, "RL.CHECK", "k", "sliding_log", 5, MAX) == SL_PERIOD_ERROR
    assert r.exists("k") == 0
    assert check(r, "k", SL, 5, 4_294_967_295) == [1, 5, 4, -1, 4_294_967_295]
    # The other algorithms take longer periods.
    assert check(r, "fw", FW, 5, 4_294_967_296)[0] == 1
    assert check(r, "sw", SW, 5, 4_294_967_296)[0] == 1


def test_sliding_log_limit_is_capped_by_the_config_at_run_time(r):
    assert r.config_get(SL_MAX_LIMIT) == {SL_MAX_LIMIT: "10000"}
    assert call_error(r, "RL.CHECK", "k", SL, 10_001, HOUR) == SL_LIMIT_ERROR
    assert check(r, "k", SL, 10_000, HOUR)[:3] == [1, 10_000, 9_999]
    # Lowered: takes effect at once, for existing keys too.
    assert r.config_set(SL_MAX_LIMIT, 5) is True
    assert r.config_get(SL_MAX_LIMIT) == {SL_MAX_LIMIT: "5"}
    assert call_error(r, "RL.CHECK", "k", SL, 10_000, HOUR) == SL_LIMIT_ERROR
    assert call_error(r, "RL.CHECK", "new", SL, 6, HOUR) == SL_LIMIT_ERROR
    assert r.exists("new") == 0
    assert check(r, "new", SL, 5, HOUR)[:3] == [1, 5, 4]
    # The cap is only for SLIDING_LOG.
    assert check(r, "fw", FW, 10_000, HOUR)[0] == 1
    assert check(r, "tb", TB, 10_000, HOUR)[0] == 1
    # Raised to the maximum.
    assert r.config_set(SL_MAX_LIMIT, 10_000_000) is True
    assert check(r, "big", SL, 10_000_000, HOUR)[:3] == [1, 10_000_000, 9_999_999]
    assert call_error(r, "RL.CHECK", "big2", SL, 10_000_001, HOUR) == SL_LIMIT_ERROR


@pytest.mark.parametrize("value", ["0", "10000001", "-1", "abc", "1.5", ""])
def test_sliding_log_max_limit_config_refuses_values_out_of_range(r, value):
    err = call_error(r, "CONFIG", "SET", SL_MAX_LIMIT, value)
    assert err.startswith("ERR"), err
    assert r.config_get(SL_MAX_LIMIT) == {SL_MAX_LIMIT: "10000"}


def sliding_log_memory(c, n):
    key, zkey = f"log:{n}", f"zset:{n}"
    pipe = c.pipeline(transaction=False)
    for _ in range(n):
        check(pipe, key, SL, n, HOUR)
    assert all(reply[0] == 1 for reply in pipe.execute())
    assert inspect(c, key)["entries"] == n
    now = server_time_ms(c)
    # The usual ZSET sliding log: score = time, member = a unique request id.
    for i in range(n):
        pipe.zadd(zkey, {f"{now + i // 10}-{i}": now + i // 10})
    pipe.execute()
    assert c.zcard(zkey) == n
    ours = c.memory_usage(key, samples=0)
    zset = c.memory_usage(zkey, samples=0)
    return ours, zset


@pytest.mark.parametrize("n", [100, 1000])
def test_sliding_log_memory_is_at_most_8_bytes_per_unit_and_below_a_zset(r, kind, n):
    ours, zset = sliding_log_memory(r, n)
    print(f"\n[{kind}] MEMORY USAGE with {n} live units: SLIDING_LOG {ours} bytes, "
          f"ZSET sliding log {zset} bytes (bound 8*N+256 = {8 * n + 256})")
    assert ours <= 8 * n + 256
    assert ours < zset


def test_sliding_log_max_limit_can_be_given_as_a_load_argument(server_factory, kind):
    s = server_factory(kind, module_args=["sliding-log-max-limit", "50"])
    c = s.client()
    assert c.config_get(SL_MAX_LIMIT) == {SL_MAX_LIMIT: "50"}
    assert call_error(c, "RL.CHECK", "k", SL, 51, HOUR) == SL_LIMIT_ERROR
    assert check(c, "k", SL, 50, HOUR)[:3] == [1, 50, 49]


@pytest.mark.parametrize("value", ["0", "10000001", "abc"])
def test_an_out_of_range_load_argument_keeps_the_module_from_loading(server_factory, value):
    """docs/configuration.md: refused with a log line, the module does not load (so
    the server does not start)."""
    from helpers import ServerError

    with pytest.raises(ServerError):
        server_factory("valkey", module_args=["sliding-log-max-limit", value])
