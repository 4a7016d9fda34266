package ratelimit

import (
	"testing"
	"time"
)

// The breaker's rules on a manual clock: failures older than the window do not count, the
// cooldown holds it open, half-open admits only Probes calls at once, a failed probe
// reopens it and a successful one closes it.
func TestBreakerStates(t *testing.T) {
	now := time.Unix(1000, 0)
	var states []BreakerState
	b := newBreaker(BreakerOptions{Failures: 3, Window: time.Second, Cooldown: 5 * time.Second, Probes: 2},
		func(s BreakerState) { states = append(states, s) })
	b.now = func() time.Time { return now }
	fail := func() { ok, probe := b.allow(); b.done(probe, true); _ = ok }

	fail()
	fail()
	now = now.Add(1500 * time.Millisecond) // the first two leave the window
	fail()
	fail()
	if b.State() != BreakerClosed {
		t.Fatalf("opened on failures spread over %s", 1500*time.Millisecond)
	}
	fail()
	if b.State() != BreakerOpen || b.cooldownLeft() != 5*time.Second {
		t.Fatalf("state %s, cooldown %s", b.State(), b.cooldownLeft())
	}
	now = now.Add(4 * time.Second)
	if ok, _ := b.allow(); ok || b.cooldownLeft() != time.Second {
		t.Fatalf("a call let through while open (cooldown left %s)", b.cooldownLeft())
	}
	now = now.Add(time.Second)
	ok1, p1 := b.allow()
	ok2, p2 := b.allow()
	ok3, _ := b.allow()
	if !ok1 || !ok2 || !p1 || !p2 || ok3 || b.State() != BreakerHalfOpen {
		t.Fatalf("half-open admitted %v %v %v", ok1, ok2, ok3)
	}
	b.done(true, true) // a probe fails: open again for a full cooldown
	if b.State() != BreakerOpen || b.cooldownLeft() != 5*time.Second {
		t.Fatalf("after a failed probe: %s", b.State())
	}
	b.done(true, false) // the other probe's late success does not close an open breaker
	if b.State() != BreakerOpen {
		t.Fatalf("a late probe closed it")
	}
	now = now.Add(5 * time.Second)
	ok, probe := b.allow()
	b.done(probe, false)
	if !ok || b.State() != BreakerClosed {
		t.Fatalf("a successful probe left it %s", b.State())
	}
	// Server errors and successes never open it.
	for i := 0; i < 10; i++ {
		ok, probe := b.allow()
		b.done(probe, false)
		_ = ok
	}
	want := []BreakerState{BreakerOpen, BreakerHalfOpen, BreakerOpen, BreakerHalfOpen, BreakerClosed}
	if len(states) != len(want) {
		t.Fatalf("states %v", states)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states %v, want %v", states, want)
		}
	}
}

// The local fallback limiter is GCRA with the limit's rate and burst.
func TestLocalLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLocalLimiter(2)
	l.now = func() time.Time { return now }
	lim := Limit{Rate: 10, Burst: 3, Period: time.Second}
	for i := 0; i < 3; i++ {
		if d := l.check("k", lim, 1, false, false); !d.Allowed || d.Remaining != 2-i || d.Source != SourceFallback {
			t.Fatalf("check %d: %+v", i, d)
		}
	}
	d := l.check("k", lim, 1, false, false)
	if d.Allowed || d.RetryAfter != 100*time.Millisecond || d.ResetAfter != 300*time.Millisecond {
		t.Fatalf("4th: %+v", d)
	}
	if d := l.check("k", lim, 4, false, false); d.Allowed || d.RetryAfter != -1 {
		t.Fatalf("cost above the burst: %+v", d)
	}
	now = now.Add(250 * time.Millisecond)
	if d := l.check("k", lim, 5, true, false); !d.Allowed || d.Granted != 2 || d.Remaining != 0 {
		t.Fatalf("at most 5 after 250ms: %+v", d)
	}
	if d := l.check("k", lim, 5, true, false); d.Allowed || d.Granted != 0 || d.RetryAfter <= 0 {
		t.Fatalf("at most 5 again: %+v", d)
	}
	// Bounded: a third key evicts the least recently used.
	l.check("a", lim, 1, false, false)
	l.check("b", lim, 1, false, false)
	if l.tat.len() != 2 {
		t.Fatalf("%d keys kept", l.tat.len())
	}
}

// FailLocal's leases: at most limit units held, expiry frees them, release and renew.
func TestLocalLeases(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLocalLeases(10)
	l.now = func() time.Time { return now }
	a := l.acquire("k", 3, time.Second, 2)
	b := l.acquire("k", 3, 2*time.Second, 1)
	c := l.acquire("k", 3, time.Second, 1)
	if !a.Acquired || !b.Acquired || c.Acquired || c.RetryAfter != time.Second || b.Remaining != 0 {
		t.Fatalf("%+v %+v %+v", a, b, c)
	}
	if d := l.acquire("k", 3, time.Second, 4); d.Acquired || d.RetryAfter != -1 {
		t.Fatalf("cost above the limit: %+v", d)
	}
	if !l.renew("k", b.ID, 5*time.Second) || l.renew("k", "local:999", time.Second) {
		t.Fatal("renew")
	}
	now = now.Add(time.Second) // a expires
	if d := l.acquire("k", 3, time.Second, 2); !d.Acquired {
		t.Fatalf("after a's expiry: %+v", d)
	}
	if n := l.release("k", a.ID); n != 0 {
		t.Fatalf("released an expired lease: %d", n)
	}
	if n := l.release("k", b.ID); n != 1 {
		t.Fatalf("release b: %d", n)
	}
}
