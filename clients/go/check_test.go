package ratelimit

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestEveryAlgorithmAdmitsItsLimitThenDenies(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rl := New(rdb)
		for _, alg := range []Algorithm{GCRA, TokenBucket, FixedWindow, SlidingWindow, SlidingLog} {
			lim := Limit{Algorithm: alg, Rate: 3, Period: time.Hour}
			k := key(t)
			for i := 0; i < 3; i++ {
				d, err := rl.Check(bg, k, lim)
				if err != nil {
					t.Fatalf("%s: %v", alg, err)
				}
				if !d.Allowed || d.Remaining != 2-i || d.RetryAfter != -1 || d.Limit != 3 || d.Source != SourceServer {
					t.Fatalf("%s check %d: %+v", alg, i, d)
				}
			}
			d, err := rl.Check(bg, k, lim)
			// SLIDING_WINDOW's wait can be up to two periods (the previous window's weight
			// falls only as the current one goes by).
			if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 2*time.Hour || d.Remaining != 0 {
				t.Fatalf("%s 4th check: %+v %v", alg, d, err)
			}
			// A cost above the limit can never be admitted: RetryAfter -1.
			d, err = rl.CheckN(bg, key(t), lim, 4)
			if err != nil || d.Allowed || d.RetryAfter != -1 {
				t.Fatalf("%s cost 4: %+v %v", alg, d, err)
			}
		}
	})
}

func TestPeekChargesNothing(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rl := New(rdb)
		lim := Limit{Algorithm: TokenBucket, Rate: 10, Burst: 4, Period: time.Minute}
		k := key(t)
		d, err := rl.Peek(bg, k, lim, 0)
		if err != nil || !d.Allowed || d.Remaining != 4 || d.ResetAfter != 0 {
			t.Fatalf("peek on a missing key: %+v %v", d, err)
		}
		if _, err := rl.CheckN(bg, k, lim, 3); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			d, err = rl.Peek(bg, k, lim, 1)
			if err != nil || !d.Allowed || d.Remaining != 0 {
				t.Fatalf("peek 1: %+v %v", d, err)
			}
		}
		d, err = rl.Peek(bg, k, lim, 2)
		if err != nil || d.Allowed || d.RetryAfter <= 0 {
			t.Fatalf("peek 2: %+v %v", d, err)
		}
	})
}

func TestCheckAtMostGrantsWhatIsLeft(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rl := New(rdb)
		lim := Limit{Rate: 5, Period: time.Minute}
		k := key(t)
		d, err := rl.CheckAtMost(bg, k, lim, 3)
		if err != nil || !d.Allowed || d.Granted != 3 || d.Remaining != 2 {
			t.Fatalf("first: %+v %v", d, err)
		}
		d, err = rl.CheckAtMost(bg, k, lim, 3)
		if err != nil || !d.Allowed || d.Granted != 2 || d.Remaining != 0 {
			t.Fatalf("second: %+v %v", d, err)
		}
		d, err = rl.CheckAtMost(bg, k, lim, 3)
		if err != nil || d.Allowed || d.Granted != 0 || d.RetryAfter <= 0 || d.RetryAfter > 12*time.Second {
			t.Fatalf("third: %+v %v", d, err)
		}
		// Without AT_MOST, Granted is -1 (not applicable).
		d, _ = rl.Check(bg, key(t), lim)
		if d.Granted != -1 {
			t.Fatalf("Check's Granted: %d", d.Granted)
		}
		if _, err := rl.CheckAtMost(bg, key(t), Limit{Algorithm: FixedWindow, Rate: 1, Period: time.Second}, 2); !isArg(err) {
			t.Fatalf("AT_MOST on a window: %v", err)
		}
	})
}

func TestSubMillisecondPeriodsAreScaled(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rl := New(rdb)
		// 3 per 1.5 ms is 2000 per second; a burst of 2.
		lim := Limit{Rate: 3, Burst: 2, Period: 1500 * time.Microsecond}
		spec, err := lim.spec()
		if err != nil || spec[1] != "6" || spec[2] != "3" {
			t.Fatalf("spec %v %v", spec, err)
		}
		d, err := rl.CheckN(bg, key(t), lim, 2)
		if err != nil || !d.Allowed || d.Remaining != 0 {
			t.Fatalf("%+v %v", d, err)
		}
		if _, err := rl.Check(bg, key(t), Limit{Algorithm: SlidingLog, Rate: 1, Period: 1500 * time.Microsecond}); !isArg(err) {
			t.Fatalf("a window of 1.5 ms: %v", err)
		}
	})
}

func isArg(err error) bool    { var a *ArgumentError; return errors.As(err, &a) }
func isServer(err error) bool { var s *ServerError; return errors.As(err, &s) }
func isUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

func TestErrorClasses(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rl := New(rdb)
		for _, lim := range []Limit{{}, {Rate: 1}, {Rate: -1, Period: time.Second}, {Rate: 1, Period: time.Second, Burst: -1},
			{Rate: 1, Period: time.Second, Algorithm: "LEAKY"}, {Rate: 2, Burst: 3, Period: time.Second, Algorithm: FixedWindow}} {
			if _, err := rl.Check(bg, key(t), lim); !isArg(err) {
				t.Errorf("%+v: %v", lim, err)
			}
		}
		if _, err := rl.CheckN(bg, key(t), PerSecond(1), 0); !isArg(err) {
			t.Errorf("cost 0: %v", err)
		}
		// The server's own argument check (a SLIDING_LOG limit above its cap).
		if _, err := rl.Check(bg, key(t), Limit{Algorithm: SlidingLog, Rate: 1 << 40, Period: time.Second}); !isArg(err) {
			t.Errorf("server-side argument error: %v", err)
		}
		k := key(t)
		rdb.Set(bg, k, "x", 0)
		_, err := rl.Check(bg, k, PerSecond(1))
		if !isServer(err) || !errors.Is(err, err) || ErrorClass(err) != "server" {
			t.Errorf("WRONGTYPE: %v", err)
		}
		k = key(t)
		rl.Check(bg, k, PerSecond(1))
		if _, err := rl.Check(bg, k, Limit{Algorithm: FixedWindow, Rate: 1, Period: time.Second}); !isServer(err) {
			t.Errorf("another algorithm: %v", err)
		}
		// NOPERM from an ACL user without RL.CHECK, and an unknown command (a server without
		// the module would say so) are ServerErrors too.
		user := "u" + strings.ReplaceAll(key(t), ":", "_")
		if err := rdb.Do(bg, "ACL", "SETUSER", user, "on", ">pw", "~*", "+@all", "-rl.check").Err(); err != nil {
			t.Fatal(err)
		}
		limited := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, Username: user, Password: "pw", Protocol: rdb.Options().Protocol})
		defer limited.Close()
		if _, err := New(limited).Check(bg, key(t), PerSecond(1)); !isServer(err) || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("NOPERM: %v", err)
		}
		if err := rdb.Do(bg, "RL.NOSUCH").Err(); !isServer(classify(err)) {
			t.Errorf("unknown command: %v", err)
		}
		// Server errors never trip the breaker.
		for i := 0; i < 10; i++ {
			rl.Check(bg, k, Limit{Algorithm: FixedWindow, Rate: 1, Period: time.Second})
		}
		if rl.Breaker() != BreakerClosed {
			t.Errorf("breaker %s after server errors", rl.Breaker())
		}
	})
}

func TestRefundGivesUnitsBack(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rl := New(rdb)
		lim := Limit{Algorithm: FixedWindow, Rate: 2, Period: time.Hour}
		k := key(t)
		rl.CheckN(bg, k, lim, 2)
		if d, _ := rl.Check(bg, k, lim); d.Allowed {
			t.Fatal("admitted above the limit")
		}
		n, err := rl.Refund(bg, k, 1)
		if err != nil || n != 1 {
			t.Fatalf("refund: %d %v", n, err)
		}
		if d, _ := rl.Check(bg, k, lim); !d.Allowed {
			t.Fatal("refunded unit not admitted")
		}
		if n, err := rl.Refund(bg, key(t), 1); err != nil || n != 0 {
			t.Fatalf("refund of a missing key: %d %v", n, err)
		}
		if _, err := rl.Refund(bg, k, 0); !isArg(err) {
			t.Fatalf("refund 0: %v", err)
		}
	})
}

func TestResetAndInspect(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rl := New(rdb, WithPrefix("p:"))
		k := key(t)
		rl.CheckN(bg, k, PerMinute(10), 4)
		info, err := rl.Inspect(bg, k)
		if err != nil || info["algorithm"] != "GCRA" || info["admitted"] != int64(4) {
			t.Fatalf("inspect: %v %v", info, err)
		}
		if rdb.Exists(bg, "p:"+k).Val() != 1 {
			t.Fatal("prefix not applied")
		}
		n, err := rl.Reset(bg, k, key(t))
		if err != nil || n != 1 {
			t.Fatalf("reset: %d %v", n, err)
		}
		if info, err := rl.Inspect(bg, k); err != nil || info != nil {
			t.Fatalf("inspect after reset: %v %v", info, err)
		}
	})
}
