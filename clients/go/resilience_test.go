package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-ratelimit/redis-ratelimit/clients/go/internal/testserver"
)

// recorder is a Metrics that keeps what it is told.
type recorder struct {
	mu        sync.Mutex
	states    []BreakerState
	decisions map[string]int
	errors    map[string]int
	calls     int
}

func newRecorder() *recorder {
	return &recorder{decisions: map[string]int{}, errors: map[string]int{}}
}

func (r *recorder) Decision(allowed bool, s Source) {
	r.mu.Lock()
	r.decisions[fmt.Sprintf("%v/%s", allowed, s)]++
	r.mu.Unlock()
}
func (r *recorder) Error(class string) { r.mu.Lock(); r.errors[class]++; r.mu.Unlock() }
func (r *recorder) CallDuration(time.Duration) {
	r.mu.Lock()
	r.calls++
	r.mu.Unlock()
}
func (r *recorder) BreakerState(s BreakerState) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
}

// seen reports whether the breaker went through want, in order (other states may interleave).
func (r *recorder) seen(want ...BreakerState) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := 0
	for _, s := range r.states {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	return i == len(want)
}

func (r *recorder) stateLog() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, s := range r.states {
		b.WriteString(s.String() + " ")
	}
	return b.String()
}

// waitFor polls cond every 10 ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

// The server is SIGKILLed under load from four limiters, one per OnUnavailable policy, in
// this process: each breaker opens, each policy decides as documented without the server,
// a half-open probe fails and reopens the breaker, and once the server is back on the same
// port every limiter returns to the server's decisions, without a new client or process.
func TestSIGKILLUnderLoad(t *testing.T) {
	s, err := testserver.Start(testserver.Redis())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	const cooldown = time.Second
	type subject struct {
		mode FailMode
		rl   *RateLimiter
		rec  *recorder
	}
	var subjects []subject
	for _, mode := range []FailMode{FailOpen, FailClosed, FailLocal, FailError} {
		rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
		defer rdb.Close()
		rec := newRecorder()
		rl := New(rdb, WithOnUnavailable(mode), WithTimeout(200*time.Millisecond), WithMetrics(rec),
			WithBreaker(BreakerOptions{Failures: 5, Window: 10 * time.Second, Cooldown: cooldown, Probes: 1}))
		subjects = append(subjects, subject{mode, rl, rec})
	}
	lim := Limit{Rate: 1000000, Period: time.Second}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var unexpected atomic.Value
	for _, sub := range subjects {
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func(sub subject, g int) {
				defer wg.Done()
				for i := 0; i < 200000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					_, err := sub.rl.Check(bg, fmt.Sprintf("load:%d:%d", g, i%50), lim)
					if err != nil && !(sub.mode == FailError && isUnavailable(err)) {
						unexpected.Store(fmt.Sprintf("%s: %v", sub.mode, err))
					}
					time.Sleep(time.Millisecond)
				}
			}(sub, g)
		}
	}
	defer func() { close(stop); wg.Wait() }()

	time.Sleep(200 * time.Millisecond)
	for _, sub := range subjects {
		if d, err := sub.rl.Check(bg, key(t), lim); err != nil || d.Source != SourceServer {
			t.Fatalf("%s before the kill: %+v %v", sub.mode, d, err)
		}
	}
	s.Kill()
	for _, sub := range subjects {
		if !waitFor(10*time.Second, func() bool { return sub.rl.Breaker() == BreakerOpen }) {
			t.Fatalf("%s: the breaker did not open: %s", sub.mode, sub.rec.stateLog())
		}
	}
	for _, sub := range subjects {
		k := key(t)
		two := Limit{Rate: 2, Period: time.Hour}
		d1, err1 := sub.rl.Check(bg, k, two)
		d2, _ := sub.rl.Check(bg, k, two)
		d3, _ := sub.rl.Check(bg, k, two)
		switch sub.mode {
		case FailOpen:
			if err1 != nil || !d1.Allowed || !d3.Allowed || d1.Source != SourceFallback {
				t.Errorf("open: %+v %+v %v", d1, d3, err1)
			}
		case FailClosed:
			if err1 != nil || d1.Allowed || d1.Source != SourceFallback || d1.RetryAfter <= 0 || d1.RetryAfter > cooldown {
				t.Errorf("closed: %+v %v", d1, err1)
			}
		case FailLocal:
			if err1 != nil || !d1.Allowed || !d2.Allowed || d3.Allowed || d3.RetryAfter <= 0 || d3.Source != SourceFallback {
				t.Errorf("local: %+v %+v %+v %v", d1, d2, d3, err1)
			}
		case FailError:
			var u *UnavailableError
			if !isUnavailable(err1) || !errorsAs(err1, &u) || !u.BreakerOpen {
				t.Errorf("error: %v", err1)
			}
		}
	}
	// A group and a lease follow the same policy while the breaker is open.
	for _, sub := range subjects {
		one := Limit{Rate: 1, Period: time.Hour}
		tag := "{" + key(t) + "}"
		g := []Request{{Key: tag + ":a", Limit: one}, {Key: tag + ":b", Limit: one}}
		m1, err1 := sub.rl.CheckAll(bg, g...)
		m2, _ := sub.rl.CheckAll(bg, g...)
		l, errL := sub.rl.Acquire(bg, key(t), 1, time.Minute, 1)
		switch sub.mode {
		case FailOpen:
			if err1 != nil || !m1.Allowed || !m2.Allowed || m1.Source != SourceFallback || errL != nil || !l.Acquired || l.ID != "" {
				t.Errorf("open: %+v %+v %+v %v %v", m1, m2, l, err1, errL)
			}
		case FailClosed:
			if err1 != nil || m1.Allowed || m1.RetryAfter <= 0 || len(m1.DeniedBy) != 2 || errL != nil || l.Acquired {
				t.Errorf("closed: %+v %+v %v %v", m1, l, err1, errL)
			}
		case FailLocal:
			if err1 != nil || !m1.Allowed || m2.Allowed || m2.RetryAfter <= 0 || m2.Source != SourceFallback {
				t.Errorf("local: %+v %+v %v", m1, m2, err1)
			}
			lk := key(t)
			a, _ := sub.rl.Acquire(bg, lk, 1, time.Minute, 1)
			b, _ := sub.rl.Acquire(bg, lk, 1, time.Minute, 1)
			n, errR := sub.rl.Release(bg, lk, a.ID)
			c, _ := sub.rl.Acquire(bg, lk, 1, time.Minute, 1)
			if !a.Acquired || !strings.HasPrefix(a.ID, "local:") || b.Acquired || b.RetryAfter <= 0 || n != 1 || errR != nil || !c.Acquired {
				t.Errorf("local leases: %+v %+v %d %v %+v", a, b, n, errR, c)
			}
		case FailError:
			if !isUnavailable(err1) || !isUnavailable(errL) {
				t.Errorf("error: %v %v", err1, errL)
			}
		}
	}
	// With the server still away, the cooldown ends, a probe fails: open again.
	for _, sub := range subjects {
		if !waitFor(10*time.Second, func() bool {
			return sub.rec.seen(BreakerOpen, BreakerHalfOpen, BreakerOpen)
		}) {
			t.Fatalf("%s: no failed probe: %s", sub.mode, sub.rec.stateLog())
		}
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, sub := range subjects {
		ok := waitFor(15*time.Second, func() bool {
			d, err := sub.rl.Check(bg, key(t), lim)
			return err == nil && d.Source == SourceServer && d.Allowed
		})
		if !ok || sub.rl.Breaker() != BreakerClosed || !sub.rec.seen(BreakerOpen, BreakerHalfOpen, BreakerClosed) {
			t.Fatalf("%s did not recover: %s", sub.mode, sub.rec.stateLog())
		}
		sub.rec.mu.Lock()
		if sub.mode != FailError && sub.rec.decisions["true/fallback"]+sub.rec.decisions["false/fallback"] == 0 {
			t.Errorf("%s: no fallback decision counted: %v", sub.mode, sub.rec.decisions)
		}
		if sub.rec.errors["unavailable"] == 0 || sub.rec.errors["server"] != 0 || sub.rec.errors["argument"] != 0 {
			t.Errorf("%s: errors %v", sub.mode, sub.rec.errors)
		}
		sub.rec.mu.Unlock()
	}
	if u := unexpected.Load(); u != nil {
		t.Fatalf("unexpected error under load: %v", u)
	}
}

// A server that stops answering (SIGSTOP) costs a call its timeout, not go-redis's read
// timeout (30 s here), whether the bound comes from WithTimeout or from the caller's context.
func TestTimeoutWhenTheServerHangs(t *testing.T) {
	s, err := testserver.Start(testserver.Redis())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, ReadTimeout: 30 * time.Second})
	defer rdb.Close()
	rl := New(rdb, WithOnUnavailable(FailError), WithTimeout(100*time.Millisecond), WithoutBreaker())
	ctxOnly := New(rdb, WithOnUnavailable(FailError), WithTimeout(0), WithoutBreaker())
	if _, err := rl.Check(bg, key(t), PerSecond(10)); err != nil {
		t.Fatal(err)
	}
	s.Pause()
	defer s.Resume()
	start := time.Now()
	_, err = rl.Check(bg, key(t), PerSecond(10))
	if !isUnavailable(err) || time.Since(start) > 15*time.Second {
		t.Fatalf("WithTimeout: %v after %s", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = ctxOnly.Check(ctx, key(t), PerSecond(10))
	if err == nil || time.Since(start) > 15*time.Second {
		t.Fatalf("context deadline: %v after %s", err, time.Since(start))
	}

	// The caller's deadline passing is the server being too slow: the policy decides and the
	// breaker counts it. The caller cancelling is its own choice: the error comes back and
	// the breaker learns nothing.
	one := BreakerOptions{Failures: 1, Cooldown: time.Hour}
	open := New(rdb, WithTimeout(0), WithBreaker(one))
	ctx2, cancel2 := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel2()
	if d, err := open.Check(ctx2, key(t), PerSecond(10)); err != nil || !d.Allowed || d.Source != SourceFallback || open.Breaker() != BreakerOpen {
		t.Fatalf("past the caller's deadline: %+v %v, breaker %s", d, err, open.Breaker())
	}
	gone := New(rdb, WithTimeout(0), WithBreaker(one))
	ctx3, cancel3 := context.WithCancel(bg)
	time.AfterFunc(100*time.Millisecond, cancel3)
	if _, err := gone.Check(ctx3, key(t), PerSecond(10)); !errors.Is(err, context.Canceled) || gone.Breaker() != BreakerClosed {
		t.Fatalf("cancelled by the caller: %v, breaker %s", err, gone.Breaker())
	}
}

// After a denial with a RetryAfter, the denial cache answers for the key until then,
// without a round trip; then the server decides again.
func TestDenialCache(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rec := newRecorder()
		rl := New(rdb, WithDenialCache(0), WithMetrics(rec))
		lim := Limit{Rate: 1, Burst: 5, Period: time.Second} // one unit back every second
		k := key(t)
		rl.CheckN(bg, k, lim, 5)
		d, err := rl.Check(bg, k, lim)
		if err != nil || d.Allowed || d.Source != SourceServer || d.RetryAfter <= 0 {
			t.Fatalf("denial: %+v %v", d, err)
		}
		rec.mu.Lock()
		calls := rec.calls
		rec.mu.Unlock()
		c, _ := rl.Check(bg, k, lim)
		rec.mu.Lock()
		after := rec.calls
		rec.mu.Unlock()
		if c.Allowed || c.Source != SourceCache || c.RetryAfter <= 0 || c.RetryAfter > d.RetryAfter || after != calls {
			t.Fatalf("cached: %+v (round trips %d -> %d)", c, calls, after)
		}
		time.Sleep(c.RetryAfter)
		if !waitFor(2*time.Second, func() bool {
			d, err := rl.Check(bg, k, lim)
			return err == nil && d.Allowed && d.Source == SourceServer
		}) {
			t.Fatal("not admitted by the server after RetryAfter")
		}
	})
}
