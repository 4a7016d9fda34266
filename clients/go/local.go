package ratelimit

import (
	"sync"
	"time"
)

// localLimiter is FailLocal's in-process limiter: GCRA with the limit's rate and burst for
// every algorithm (a window algorithm's limit becomes the burst), per process, so N
// processes admit up to N times the limit while the server is away.
type localLimiter struct {
	mu  sync.Mutex
	tat *lru[time.Time] // per key: the theoretical arrival time
	now func() time.Time
}

func newLocalLimiter(size int) *localLimiter {
	return &localLimiter{tat: newLRU[time.Time](size), now: time.Now}
}

// check charges cost units (atMost: as many as fit, up to cost) unless peek.
func (l *localLimiter) check(key string, lim Limit, cost int, atMost, peek bool) Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	t := lim.emission()
	if t <= 0 {
		t = 1
	}
	burst := lim.burst()
	tau := t * time.Duration(burst)
	tat, ok := l.tat.get(key)
	if !ok || tat.Before(now) {
		tat = now
	}
	used := tat.Sub(now)          // time the used units take to come back
	free := int((tau - used) / t) // whole units available now
	d := Decision{Limit: lim.Rate, Source: SourceFallback, Granted: -1, RetryAfter: -1}
	grant := cost
	if atMost && grant > free {
		grant = free
	}
	switch {
	case cost > burst && !atMost:
		d.Remaining = free
		d.ResetAfter = used
	case grant > free || (atMost && grant <= 0 && cost > 0):
		d.Remaining = free
		d.ResetAfter = used
		need := cost
		if atMost {
			need = 1
		}
		d.RetryAfter = used + t*time.Duration(need) - tau
	default:
		d.Allowed = true
		d.Remaining = free - grant
		d.ResetAfter = used + t*time.Duration(grant)
		if !peek && grant > 0 {
			l.tat.put(key, now.Add(d.ResetAfter))
		}
	}
	if atMost {
		d.Granted = 0
		if d.Allowed {
			d.Granted = grant
		}
	}
	return d
}
