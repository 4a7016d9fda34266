//! Calendar windows: days, weeks (starting on Monday) and months (of their real
//! lengths, leap years included) in a fixed offset from UTC. Pure date arithmetic on
//! Unix milliseconds, for quotas that reset at midnight or on the first of the month.
//!
//! Days are counted from 1970-01-01 with the proleptic Gregorian calendar (the civil
//! date algorithm of Howard Hinnant's date library), so no table or time-zone database
//! is needed. Offsets are whole minutes in `-MAX_OFFSET_MIN..=MAX_OFFSET_MIN`: zones with
//! daylight saving time have no fixed offset, and the window follows the fixed one.

use super::Decision;

/// A calendar window's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// From local midnight to the next.
    Day,
    /// From Monday 00:00 local to the next Monday.
    Week,
    /// From the first of the month 00:00 local to the first of the next.
    Month,
}

impl Unit {
    /// Every unit, in encoding order.
    pub const ALL: [Unit; 3] = [Unit::Day, Unit::Week, Unit::Month];

    /// The keyword (`DAY`, `WEEK`, `MONTH`).
    pub fn keyword(self) -> &'static str {
        match self {
            Unit::Day => "DAY",
            Unit::Week => "WEEK",
            Unit::Month => "MONTH",
        }
    }

    /// Parses a keyword, case-insensitively.
    pub fn from_keyword(k: &[u8]) -> Option<Unit> {
        Unit::ALL
            .into_iter()
            .find(|u| k.eq_ignore_ascii_case(u.keyword().as_bytes()))
    }
}

/// The largest offset from UTC, in minutes: 18 hours, as ISO 8601 allows.
pub const MAX_OFFSET_MIN: i64 = 18 * 60;

const MS_PER_DAY: i64 = 86_400_000;
const MS_PER_MIN: i64 = 60_000;

/// Days since 1970-01-01 of a civil date (`m` 1..=12, `d` 1..=31).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The window `[start, end)` in Unix ms containing `now_ms`, in the fixed offset
/// `offset_min` from UTC (clamped to the accepted range). Both ends saturate at the
/// representable range, so any clock value computes.
pub fn window(unit: Unit, offset_min: i64, now_ms: u64) -> (u64, u64) {
    let offset = offset_min.clamp(-MAX_OFFSET_MIN, MAX_OFFSET_MIN) * MS_PER_MIN;
    // Local time in ms; u64 ms fit in i128 with room for the offset.
    let local = i128::from(now_ms) + i128::from(offset);
    let day = local.div_euclid(i128::from(MS_PER_DAY)) as i64;
    let (start_day, end_day) = match unit {
        Unit::Day => (day, day + 1),
        Unit::Week => {
            // 1970-01-01 was a Thursday: Monday is 3 days before.
            let monday = day - (day + 3).rem_euclid(7);
            (monday, monday + 7)
        }
        Unit::Month => {
            let (y, m, _) = civil_from_days(day);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (days_from_civil(y, m, 1), days_from_civil(ny, nm, 1))
        }
    };
    let to_utc = |d: i64| {
        let ms = i128::from(d) * i128::from(MS_PER_DAY) - i128::from(offset);
        ms.clamp(0, i128::from(u64::MAX)) as u64
    };
    (to_utc(start_day), to_utc(end_day))
}

/// A calendar quota's window: its unit and fixed offset from UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Calendar {
    /// Day, week or month.
    pub unit: Unit,
    /// Minutes east of UTC, in `-MAX_OFFSET_MIN..=MAX_OFFSET_MIN`.
    pub offset_min: i16,
}

impl Calendar {
    /// The window `[start, end)` containing `now_ms`.
    pub fn window(&self, now_ms: u64) -> (u64, u64) {
        window(self.unit, i64::from(self.offset_min), now_ms)
    }

    /// The nominal length of the unit in ms (a month counts 31 days): what RL.INSPECT
    /// reports as the period, and the quota's `period_ms`.
    pub fn nominal_ms(&self) -> u64 {
        match self.unit {
            Unit::Day => MS_PER_DAY as u64,
            Unit::Week => 7 * MS_PER_DAY as u64,
            Unit::Month => 31 * MS_PER_DAY as u64,
        }
    }

    /// The spec packed in one word for the encodings: unit index, then the offset
    /// biased to be non-negative.
    pub fn pack(&self) -> u64 {
        let unit = Unit::ALL.iter().position(|u| *u == self.unit).unwrap_or(0) as u64;
        unit | ((i64::from(self.offset_min) + MAX_OFFSET_MIN) as u64) << 8
    }

    /// The spec [`pack`](Self::pack) wrote; `None` for any other word.
    pub fn unpack(w: u64) -> Option<Calendar> {
        let unit = *Unit::ALL.get((w & 0xff) as usize)?;
        let offset = i64::try_from(w >> 8).ok()? - MAX_OFFSET_MIN;
        (offset.abs() <= MAX_OFFSET_MIN).then_some(Calendar {
            unit,
            offset_min: offset as i16,
        })
    }
}

/// A calendar quota's state: its spec, the current window's start, units admitted in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CalendarWindow {
    /// The window's unit and offset.
    pub calendar: Calendar,
    /// Unix ms of the window's start.
    pub start_ms: u64,
    /// Units admitted in the window.
    pub count: u64,
}

/// The window to count in: the stored one if `now_ms` is still inside it (or, after
/// the clock stepped back, before it), otherwise a fresh one.
fn current(state: Option<&CalendarWindow>, cal: &Calendar, now_ms: u64) -> (CalendarWindow, u64) {
    let (start, end) = cal.window(now_ms);
    match state {
        Some(s) if s.calendar == *cal && s.start_ms >= start => (*s, cal.window(s.start_ms).1),
        _ => (
            CalendarWindow {
                calendar: *cal,
                start_ms: start,
                count: 0,
            },
            end,
        ),
    }
}

/// Evaluates one request of `cost` units against `limit` per calendar window; a
/// denied request returns no new state. `reset_after_ms` runs to the next boundary.
pub fn check(
    state: Option<&CalendarWindow>,
    cal: &Calendar,
    limit: u64,
    now_ms: u64,
    cost: u64,
) -> (Decision, Option<CalendarWindow>) {
    let (w, end) = current(state, cal, now_ms);
    let until_end = end.saturating_sub(now_ms).min(i64::MAX as u64) as i64;
    if cost > limit || w.count.saturating_add(cost) > limit {
        let d = Decision {
            allowed: false,
            limit,
            remaining: limit.saturating_sub(w.count),
            retry_after_ms: if cost > limit { -1 } else { until_end },
            reset_after_ms: if w.count > 0 { until_end } else { 0 },
        };
        return (d, None);
    }
    let after = CalendarWindow {
        count: w.count + cost,
        ..w
    };
    let d = Decision {
        allowed: true,
        limit,
        remaining: limit - after.count,
        retry_after_ms: -1,
        reset_after_ms: if after.count > 0 { until_end } else { 0 },
    };
    (d, Some(after))
}

/// Re-expresses a window kept under another spec for `cal`: while the old window has
/// not ended, the units it admitted stay counted in the new current window.
pub fn convert(state: &CalendarWindow, cal: &Calendar, now_ms: u64) -> CalendarWindow {
    let live = state.calendar.window(state.start_ms).1 > now_ms;
    CalendarWindow {
        calendar: *cal,
        start_ms: cal.window(now_ms).0,
        count: if live { state.count } else { 0 },
    }
}

/// Gives back up to `units` admitted in the current window (none to an ended one).
pub fn refund(state: &CalendarWindow, now_ms: u64, units: u64) -> (CalendarWindow, u64) {
    if state.start_ms != state.calendar.window(now_ms).0 {
        return (*state, 0);
    }
    let given = state.count.min(units);
    let after = CalendarWindow {
        count: state.count - given,
        ..*state
    };
    (after, given)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a UTC date and time.
    fn utc(y: i64, m: i64, d: i64, h: i64, min: i64) -> u64 {
        (days_from_civil(y, m, d) * MS_PER_DAY + (h * 60 + min) * MS_PER_MIN) as u64
    }

    #[test]
    fn civil_dates_round_trip_over_four_centuries() {
        for z in (-150_000..150_000).step_by(7) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn days_run_from_local_midnight() {
        let now = utc(2026, 12, 2, 3, 5);
        assert_eq!(
            window(Unit::Day, 0, now),
            (utc(2026, 12, 2, 0, 0), utc(2026, 12, 3, 0, 0))
        );
        // UTC+2: local 05:05 on the 2nd, so the day began at 22:00 UTC on the 1st.
        assert_eq!(
            window(Unit::Day, 120, now),
            (utc(2026, 12, 1, 22, 0), utc(2026, 12, 2, 22, 0))
        );
        // UTC-5: local 22:05 on the 1st.
        assert_eq!(
            window(Unit::Day, -300, now),
            (utc(2026, 12, 1, 5, 0), utc(2026, 12, 2, 5, 0))
        );
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2026-12-02 is a Wednesday; that week's Monday is 2026-11-30.
        let now = utc(2026, 12, 2, 12, 0);
        assert_eq!(
            window(Unit::Week, 0, now),
            (utc(2026, 11, 30, 0, 0), utc(2026, 12, 7, 0, 0))
        );
        // Monday 00:00 itself opens a week; Sunday 23:59 is still in the last one.
        let monday = utc(2026, 12, 7, 0, 0);
        assert_eq!(window(Unit::Week, 0, monday).0, monday);
        assert_eq!(window(Unit::Week, 0, monday - 60_000).1, monday);
        // 1970-01-01 (a Thursday) is in the week of Monday 1969-12-29.
        assert_eq!(window(Unit::Week, 0, 0), (0, utc(1970, 1, 5, 0, 0)));
    }

    #[test]
    fn months_have_their_real_lengths() {
        let feb = |y| window(Unit::Month, 0, utc(y, 2, 15, 0, 0));
        assert_eq!(feb(2024), (utc(2024, 2, 1, 0, 0), utc(2024, 3, 1, 0, 0)));
        assert_eq!((feb(2024).1 - feb(2024).0) / MS_PER_DAY as u64, 29);
        assert_eq!((feb(2100).1 - feb(2100).0) / MS_PER_DAY as u64, 28);
        assert_eq!((feb(2000).1 - feb(2000).0) / MS_PER_DAY as u64, 29);
        let dec = window(Unit::Month, 0, utc(2026, 12, 31, 23, 59));
        assert_eq!(dec, (utc(2026, 12, 1, 0, 0), utc(2027, 1, 1, 0, 0)));
        // UTC+9 on 2026-12-31 20:00 UTC is already January 1st locally.
        let tokyo = window(Unit::Month, 540, utc(2026, 12, 31, 20, 0));
        assert_eq!(tokyo.0, utc(2026, 12, 31, 15, 0));
    }

    #[test]
    fn any_clock_value_and_offset_compute_a_window_around_it() {
        for now in [0, 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
            for unit in Unit::ALL {
                for offset in [-MAX_OFFSET_MIN, 0, MAX_OFFSET_MIN, i64::MIN, i64::MAX] {
                    let (start, end) = window(unit, offset, now);
                    assert!(start <= end, "{unit:?} {offset} {now}");
                }
            }
        }
        for unit in Unit::ALL {
            let now = utc(2026, 6, 15, 13, 30);
            let (start, end) = window(unit, 0, now);
            assert!(start <= now && now < end);
        }
    }
    #[test]
    fn a_calendar_quota_counts_per_window_and_resets_at_the_boundary() {
        let cal = Calendar {
            unit: Unit::Day,
            offset_min: 60,
        };
        // 22:30 UTC is 23:30 local (UTC+1): 30 minutes to local midnight.
        let now = utc(2026, 12, 2, 22, 30);
        let (d, s) = check(None, &cal, 2, now, 2);
        assert!(d.allowed && d.remaining == 0);
        assert_eq!(d.reset_after_ms, 30 * MS_PER_MIN);
        let (d, none) = check(s.as_ref(), &cal, 2, now + 1, 1);
        assert!(!d.allowed && none.is_none());
        assert_eq!(d.retry_after_ms, 30 * MS_PER_MIN - 1);
        // Local midnight opens a fresh window.
        let (d, _) = check(s.as_ref(), &cal, 2, utc(2026, 12, 2, 23, 0), 2);
        assert!(d.allowed);
        // A cost above the limit can never be admitted.
        assert_eq!(check(None, &cal, 2, now, 3).0.retry_after_ms, -1);
    }

    #[test]
    fn changing_the_spec_keeps_the_live_windows_units() {
        let day = Calendar {
            unit: Unit::Day,
            offset_min: 0,
        };
        let month = Calendar {
            unit: Unit::Month,
            ..day
        };
        let now = utc(2026, 12, 2, 12, 0);
        let (_, s) = check(None, &day, 5, now, 3);
        let moved = convert(&s.unwrap(), &month, now + 1);
        assert_eq!((moved.count, moved.start_ms), (3, utc(2026, 12, 1, 0, 0)));
        let ended = convert(&s.unwrap(), &month, utc(2026, 12, 3, 0, 0));
        assert_eq!(ended.count, 0);
        assert_eq!(
            refund(&s.unwrap(), now + 5, 10),
            (
                CalendarWindow {
                    count: 0,
                    ..s.unwrap()
                },
                3
            )
        );
        assert_eq!(refund(&s.unwrap(), utc(2026, 12, 3, 0, 0), 10).1, 0);
    }

    #[test]
    fn specs_pack_into_one_word_and_back() {
        for unit in Unit::ALL {
            for offset_min in [-1080, -300, 0, 1, 540, 1080] {
                let c = Calendar { unit, offset_min };
                assert_eq!(Calendar::unpack(c.pack()), Some(c));
            }
        }
        assert_eq!(Calendar::unpack(3), None);
        assert_eq!(Calendar::unpack((2 * MAX_OFFSET_MIN as u64 + 1) << 8), None);
        assert_eq!(Calendar::unpack(u64::MAX), None);
    }
}
