"""Calendar quotas: `CALENDAR limit DAY|WEEK|MONTH [UTC_OFFSET minutes]`, a fixed window
that follows the calendar (weeks from Monday, months of their real lengths, leap years
included) in a fixed offset from UTC, with `reset_after_ms` to the next boundary. On the
module's manual clock (both servers): exact boundaries; RL.PEEK, RL.MCHECK, RL.INSPECT,
RL.REFUND; replication and the AOF; clear errors."""

import calendar as cal
import datetime

import pytest

from helpers import (
    GCRA,
    INSPECT_COMMON,
    INSPECT_STATE,
    arg_error,
    attach,
    call_error,
    digest,
    digest_value,
    inspect,
)

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR


def utc(y, m, d, h=0, minute=0):
    return cal.timegm(datetime.datetime(y, m, d, h, minute).timetuple()) * 1000


def quota(c, key, limit, unit, offset=None, cost=None, command="RL.CHECK"):
    args = [command, key, "CALENDAR", limit, unit]
    if offset is not None:
        args += ["UTC_OFFSET", offset]
    if cost is not None:
        args += ["COST", cost]
    return list(c.execute_command(*args))


def test_a_day_resets_at_local_midnight_to_the_millisecond(clocked):
    c = clocked.client()
    clocked.set_clock(utc(2100, 3, 10, 21, 30))  # 23:30 in UTC+2
    assert quota(c, "k", 2, "DAY", 120, cost=2) == [1, 2, 0, -1, 30 * MIN]
    assert quota(c, "k", 2, "DAY", 120) == [0, 2, 0, 30 * MIN, 30 * MIN]
    # The key expires with its window, absolutely.
    assert c.pexpiretime("k") == utc(2100, 3, 10, 22)
    clocked.set_clock(utc(2100, 3, 10, 22) - 1)
    assert quota(c, "k", 2, "DAY", 120)[:4] == [0, 2, 0, 1]
    clocked.set_clock(utc(2100, 3, 10, 22))
    assert quota(c, "k", 2, "DAY", 120) == [1, 2, 1, -1, DAY]


def test_without_an_offset_days_follow_utc(clocked):
    c = clocked.client()
    clocked.set_clock(utc(2100, 3, 10, 23, 59))
    assert quota(c, "k", 5, "day")[4] == MIN


def test_weeks_start_on_monday(clocked):
    c = clocked.client()
    # 2100-03-10 is a Wednesday; the week runs to Monday 2100-03-15 00:00 UTC.
    assert datetime.date(2100, 3, 10).weekday() == 2
    clocked.set_clock(utc(2100, 3, 10, 12))
    assert quota(c, "k", 3, "WEEK")[4] == utc(2100, 3, 15) - utc(2100, 3, 10, 12)
    clocked.set_clock(utc(2100, 3, 14, 23, 59))  # Sunday: same week
    assert quota(c, "k", 3, "WEEK")[:3] == [1, 3, 1]
    clocked.set_clock(utc(2100, 3, 15))  # Monday: a fresh week
    assert quota(c, "k", 3, "WEEK")[:3] == [1, 3, 2]


@pytest.mark.parametrize("year,days", [(2028, 29), (2100, 28), (2400, 29), (2027, 28)])
def test_february_has_its_real_length(clocked, year, days):
    c = clocked.client()
    clocked.set_clock(utc(year, 2, 1))
    assert quota(c, "k", 1, "MONTH")[4] == days * DAY
    # The whole month is one window: the last minute of February is still in it.
    clocked.set_clock(utc(year, 3, 1) - MIN)
    assert quota(c, "k", 1, "MONTH")[:4] == [0, 1, 0, MIN]
    clocked.set_clock(utc(year, 3, 1))
    assert quota(c, "k", 1, "MONTH")[0] == 1


def test_a_month_in_a_zone_east_of_utc_begins_before_utc_midnight(clocked):
    c = clocked.client()
    # UTC+9 (540 min): January 1st begins at 15:00 UTC on December 31st.
    clocked.set_clock(utc(2099, 12, 31, 14, 59))
    assert quota(c, "k", 1, "MONTH", 540) == [1, 1, 0, -1, MIN]
    clocked.set_clock(utc(2099, 12, 31, 15))
    assert quota(c, "k", 1, "MONTH", 540) == [1, 1, 0, -1, 31 * DAY]
    info = inspect(c, "k")
    assert list(info) == INSPECT_COMMON + INSPECT_STATE["CALENDAR"]
    assert (info["algorithm"], info["period"], info["unit"], info["utc_offset"]) == (
        "CALENDAR", "MONTH", "MONTH", 540)
    assert (info["window_start_ms"], info["count"]) == (utc(2099, 12, 31, 15), 1)


def test_changing_unit_or_offset_keeps_the_units_counted_in_a_live_window(clocked):
    c = clocked.client()
    clocked.set_clock(utc(2100, 3, 10, 12))
    quota(c, "k", 5, "DAY", cost=4)
    # The same key, now a monthly quota: the 4 units still count.
    assert quota(c, "k", 5, "MONTH")[:3] == [1, 5, 0]
    assert quota(c, "k", 5, "MONTH", -300)[0] == 0


def test_peek_mcheck_and_refund_work_on_calendar_quotas(clocked):
    c = clocked.client()
    clocked.set_clock(utc(2100, 3, 10, 12))
    assert quota(c, "k", 3, "DAY", command="RL.PEEK") == [1, 3, 2, -1, 12 * HOUR]
    assert c.exists("k") == 0
    d = c.execute_command("RL.MCHECK", 2, "k", "g", "CALENDAR", 3, "DAY", "COST", 2,
                          GCRA, 1, 1000)
    assert d[0] == 1 and list(d[2]) == [1, 3, 1, -1, 12 * HOUR]
    assert c.execute_command("RL.REFUND", "k", "COST", 5) == 2
    assert quota(c, "k", 3, "DAY", command="RL.PEEK", cost=0)[2] == 3
    # The day is over: nothing can be refunded into it.
    quota(c, "k", 3, "DAY")
    clocked.set_clock(utc(2100, 3, 11))
    assert c.execute_command("RL.REFUND", "k", "COST", 5) == 0


def test_bad_calendar_arguments_are_clear_errors(clocked):
    c = clocked.client()
    assert call_error(c, "RL.CHECK", "k", "CALENDAR", 5, "YEAR") == arg_error(
        4, "period", "a CALENDAR period is DAY, WEEK or MONTH")
    assert call_error(c, "RL.CHECK", "k", "CALENDAR", 5, "86400000") == arg_error(
        4, "period", "a CALENDAR period is DAY, WEEK or MONTH")
    offset = "expected whole minutes east of UTC between -1080 and 1080"
    for bad in ("1081", "-1081", "1.5", "", "x", "--1"):
        assert call_error(c, "RL.CHECK", "k", "CALENDAR", 5, "DAY", "UTC_OFFSET", bad) == (
            arg_error(6, "UTC_OFFSET", offset))
    assert call_error(c, "RL.CHECK", "k", GCRA, 5, 1000, "UTC_OFFSET", 60) == arg_error(
        5, "UTC_OFFSET", "applies only to CALENDAR")
    assert call_error(c, "RL.CHECK", "k", "CALENDAR", 5, "DAY", "BURST", 6) == arg_error(
        5, "BURST", "applies only to TOKEN_BUCKET and GCRA")
    assert call_error(c, "RL.CHECK", "k", "CALENDAR", 5, "DAY", "AT_MOST") == arg_error(
        5, "AT_MOST", "applies only to RL.CHECK with TOKEN_BUCKET or GCRA")
    assert c.exists("k") == 0


def test_replicas_and_the_aof_hold_the_same_calendar_quotas(server_factory, kind):
    opts = {"appendonly": "yes", "aof-use-rdb-preamble": "no", "appendfsync": "always"}
    primary = server_factory(kind, options=opts)
    replica = server_factory(kind, name=f"{kind}-replica")
    pc = primary.client()
    rc = attach(primary, replica)
    units = ["DAY", "WEEK", "MONTH"]
    for i in range(60):
        quota(pc, f"q:{i % 20}", 5, units[i % 3] if i < 20 else units[(i // 20) % 3],
              offset=(i * 97) % 2161 - 1080)
    pc.execute_command("MULTI")
    pc.execute_command("RL.CHECK", "q:0", "CALENDAR", 5, "DAY")
    pc.execute_command("EXEC")
    assert pc.execute_command("WAIT", 1, 10_000) == 1
    keys = sorted(k.decode() for k in pc.keys("q:*"))
    before = {k: (pc.pexpiretime(k), digest_value(pc, k)) for k in keys}
    assert digest(pc) == digest(rc)
    assert {k: (rc.pexpiretime(k), digest_value(rc, k)) for k in keys} == before
    primary.restart(save=None)
    pc = primary.client()
    assert {k: (pc.pexpiretime(k), digest_value(pc, k)) for k in keys} == before
