package ratelimit

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Algorithm names one of the module's algorithms (docs/algorithms.md).
type Algorithm string

// The module's algorithms. The zero Algorithm means GCRA, redis_rate's algorithm.
const (
	GCRA          Algorithm = "GCRA"
	TokenBucket   Algorithm = "TOKEN_BUCKET"
	FixedWindow   Algorithm = "FIXED_WINDOW"
	SlidingWindow Algorithm = "SLIDING_WINDOW"
	SlidingLog    Algorithm = "SLIDING_LOG"
	// Calendar is a fixed window that follows the calendar (Limit.Unit, Limit.UTCOffset).
	Calendar Algorithm = "CALENDAR"
)

// CalendarUnit is a CALENDAR limit's window.
type CalendarUnit string

// The calendar windows: from local midnight, from Monday 00:00, from the 1st 00:00.
const (
	Day   CalendarUnit = "DAY"
	Week  CalendarUnit = "WEEK"
	Month CalendarUnit = "MONTH"
)

// Limit is redis_rate's Limit (Rate events per Period, Burst at once) with an Algorithm.
// CLIENTS.md's `limit` field is Rate here, as in redis_rate.
type Limit struct {
	Rate   int
	Burst  int
	Period time.Duration
	// Algorithm is GCRA when empty. Burst applies to GCRA and TOKEN_BUCKET only.
	Algorithm Algorithm
	// Block is a penalty: when a check is denied, the key is denied everything for Block
	// (RL.CHECK's BLOCK; rounded up to whole milliseconds). 0: none.
	Block time.Duration
	// Unit and UTCOffset are a CALENDAR limit's window (instead of Period) and the fixed
	// offset from UTC its days begin in (whole minutes, at most 18 hours either way).
	Unit      CalendarUnit
	UTCOffset time.Duration
	// Policy names a policy stored in the server (RL.POLICY) instead of the fields above,
	// which stay zero: RL.CHECK key POLICY name.
	Policy string
	// Shadow checks a policy in shadow mode (RL.CHECK's SHADOW): admitted, and
	// Decision.ShadowDenied says whether enforcement would have denied it.
	Shadow bool
}

// ByPolicy is the limit of the server's policy name.
func ByPolicy(name string) Limit { return Limit{Policy: name} }

// String formats the limit as redis_rate does ("10 req/s (burst 10)"), prefixed by the
// algorithm when it is not GCRA.
func (l Limit) String() string {
	if l.Policy != "" {
		return "POLICY " + l.Policy
	}
	if l.Algorithm == Calendar {
		s := fmt.Sprintf("CALENDAR %d req/%s", l.Rate, l.Unit)
		if l.UTCOffset != 0 {
			s += " UTC" + offsetString(l.UTCOffset)
		}
		return s
	}
	s := fmt.Sprintf("%d req/%s (burst %d)", l.Rate, fmtDur(l.Period), l.Burst)
	if l.Algorithm != "" && l.Algorithm != GCRA {
		s = string(l.Algorithm) + " " + s
	}
	return s
}

// IsZero reports whether l is the zero Limit.
func (l Limit) IsZero() bool { return l == Limit{} }

func offsetString(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return fmt.Sprintf("%s%02d:%02d", sign, int(d.Hours()), int(d.Minutes())%60)
}

func fmtDur(d time.Duration) string {
	switch d {
	case time.Second:
		return "s"
	case time.Minute:
		return "m"
	case time.Hour:
		return "h"
	}
	return d.String()
}

// PerSecond is rate events per second with a burst of rate (GCRA).
func PerSecond(rate int) Limit { return Limit{Rate: rate, Period: time.Second, Burst: rate} }

// PerMinute is rate events per minute with a burst of rate (GCRA).
func PerMinute(rate int) Limit { return Limit{Rate: rate, Period: time.Minute, Burst: rate} }

// PerHour is rate events per hour with a burst of rate (GCRA).
func PerHour(rate int) Limit { return Limit{Rate: rate, Period: time.Hour, Burst: rate} }

func (l Limit) algorithm() Algorithm {
	if l.Algorithm == "" {
		return GCRA
	}
	return l.Algorithm
}

func (l Limit) bursty() bool {
	a := l.algorithm()
	return l.Policy == "" && (a == GCRA || a == TokenBucket)
}

// burst is the burst the server applies: Burst, or Rate when Burst is 0 (and always Rate
// for the window algorithms).
func (l Limit) burst() int {
	if l.Burst == 0 || !l.bursty() {
		return l.Rate
	}
	return l.Burst
}

// period is Period, or a CALENDAR unit's nominal length (what the local fallback uses).
func (l Limit) period() time.Duration {
	if l.algorithm() != Calendar {
		return l.Period
	}
	switch l.Unit {
	case Week:
		return 7 * 24 * time.Hour
	case Month:
		return 31 * 24 * time.Hour
	}
	return 24 * time.Hour
}

// emission is the time one unit takes to come back: Period / Rate.
func (l Limit) emission() time.Duration { return l.period() / time.Duration(l.Rate) }

// spec is the limit as RL.CHECK's `algorithm limit period [BURST n]` arguments. The server
// takes whole milliseconds; a GCRA or TOKEN_BUCKET period that is not one is scaled (Rate
// and Period multiplied by the same factor), which keeps the rate and the burst exact.
// specCache keeps the arguments of the limits in use (a service has a handful), so that a
// check formats none of its numbers; bounded, it stops learning past specCacheMax limits.
var (
	specCache     sync.Map // Limit -> []interface{}
	specCacheSize atomic.Int64
)

const specCacheMax = 4096

func (l Limit) spec() ([]interface{}, error) {
	if a, ok := specCache.Load(l); ok {
		return a.([]interface{}), nil
	}
	a, err := l.makeSpec()
	if err == nil && specCacheSize.Load() < specCacheMax {
		if _, loaded := specCache.LoadOrStore(l, a); !loaded {
			specCacheSize.Add(1)
		}
	}
	return a, err
}

func (l Limit) makeSpec() ([]interface{}, error) {
	if l.Policy != "" || l.Shadow {
		if l.Policy == "" {
			return nil, argErr("Shadow applies only to a Policy limit")
		}
		if (l != Limit{Policy: l.Policy, Shadow: l.Shadow}) {
			return nil, argErr("a Policy limit takes no Rate, Period, Burst, Algorithm, Block, Unit or UTCOffset: the policy has them")
		}
		return []interface{}{"POLICY", l.Policy}, nil
	}
	switch l.algorithm() {
	case GCRA, TokenBucket, FixedWindow, SlidingWindow, SlidingLog, Calendar:
	default:
		return nil, argErr("unknown algorithm %q", string(l.Algorithm))
	}
	if l.Rate <= 0 {
		return nil, argErr("Rate must be at least 1, got %d", l.Rate)
	}
	if l.Burst < 0 {
		return nil, argErr("Burst must not be negative, got %d", l.Burst)
	}
	if l.Burst != 0 && !l.bursty() && l.Burst != l.Rate {
		return nil, argErr("Burst applies only to GCRA and TOKEN_BUCKET")
	}
	if l.Block < 0 {
		return nil, argErr("Block must not be negative, got %s", l.Block)
	}
	var args []interface{}
	if l.algorithm() == Calendar {
		a, err := l.calendarSpec()
		if err != nil {
			return nil, err
		}
		args = a
	} else {
		if l.Unit != "" || l.UTCOffset != 0 {
			return nil, argErr("Unit and UTCOffset apply only to CALENDAR")
		}
		if l.Period <= 0 {
			return nil, argErr("Period must be positive, got %s", l.Period)
		}
		rate, period := int64(l.Rate), int64(l.Period)
		if rem := period % int64(time.Millisecond); rem != 0 {
			if !l.bursty() {
				return nil, argErr("a %s period must be a whole number of milliseconds, got %s", l.algorithm(), l.Period)
			}
			k := int64(time.Millisecond) / gcd(period, int64(time.Millisecond))
			if rate > (1<<62)/k {
				return nil, argErr("Rate %d is too large for a period of %s", l.Rate, l.Period)
			}
			rate, period = rate*k, period*k
		}
		args = []interface{}{string(l.algorithm()), strconv.FormatInt(rate, 10),
			strconv.FormatInt(period/int64(time.Millisecond), 10)}
		if l.bursty() {
			args = append(args, "BURST", strconv.Itoa(l.burst()))
		}
	}
	if l.Block > 0 {
		ms := (l.Block + time.Millisecond - 1) / time.Millisecond
		args = append(args, "BLOCK", strconv.FormatInt(int64(ms), 10))
	}
	return args, nil
}

func (l Limit) calendarSpec() ([]interface{}, error) {
	switch l.Unit {
	case Day, Week, Month:
	default:
		return nil, argErr("a CALENDAR limit needs Unit Day, Week or Month, got %q", string(l.Unit))
	}
	if l.Period != 0 {
		return nil, argErr("a CALENDAR limit takes Unit, not Period")
	}
	if l.UTCOffset%time.Minute != 0 || l.UTCOffset > 18*time.Hour || l.UTCOffset < -18*time.Hour {
		return nil, argErr("UTCOffset must be whole minutes within 18 hours of UTC, got %s", l.UTCOffset)
	}
	args := []interface{}{string(Calendar), strconv.Itoa(l.Rate), string(l.Unit)}
	if l.UTCOffset != 0 {
		args = append(args, "UTC_OFFSET", strconv.FormatInt(int64(l.UTCOffset/time.Minute), 10))
	}
	return args, nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
