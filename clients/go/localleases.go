package ratelimit

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// localLeasePrefix marks the ids of leases FailLocal granted in this process.
const localLeasePrefix = "local:"

// localLeases is FailLocal's in-process concurrency limit: per key, at most limit units
// held by unexpired leases (per process, so N processes hold up to N times the limit).
type localLeases struct {
	mu   sync.Mutex
	held *lru[[]localLease]
	seq  int64
	now  func() time.Time
}

type localLease struct {
	id      string
	units   int
	expires time.Time
}

func newLocalLeases(size int) *localLeases {
	return &localLeases{held: newLRU[[]localLease](size), now: time.Now}
}

// live drops the expired leases of key and returns the rest and the units they hold.
func (l *localLeases) live(key string, now time.Time) ([]localLease, int) {
	all, _ := l.held.get(key)
	kept, units := all[:0], 0
	for _, x := range all {
		if now.Before(x.expires) {
			kept = append(kept, x)
			units += x.units
		}
	}
	return kept, units
}

func (l *localLeases) acquire(key string, limit int, ttl time.Duration, cost int) Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	leases, held := l.live(key, now)
	out := Lease{Limit: limit, RetryAfter: -1, Source: SourceFallback}
	if cost > limit {
		out.Remaining = limit - held
		l.held.put(key, leases)
		return out
	}
	if held+cost > limit {
		out.Remaining = limit - held
		// The wait until enough leases expire, the earliest first.
		free, wait := limit-held, time.Duration(0)
		for _, x := range sortedByExpiry(leases) {
			free += x.units
			wait = x.expires.Sub(now)
			if free >= cost {
				break
			}
		}
		out.RetryAfter = wait
		l.held.put(key, leases)
		return out
	}
	l.seq++
	id := localLeasePrefix + strconv.FormatInt(l.seq, 10)
	l.held.put(key, append(leases, localLease{id: id, units: cost, expires: now.Add(ttl)}))
	out.Acquired, out.ID, out.Remaining = true, id, limit-held-cost
	return out
}

func sortedByExpiry(ls []localLease) []localLease {
	c := append([]localLease(nil), ls...)
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j].expires.Before(c[j-1].expires); j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
	return c
}

// release frees a local lease and returns its units (0 when not held).
func (l *localLeases) release(key, id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	leases, _ := l.live(key, l.now())
	for i, x := range leases {
		if x.id == id {
			l.held.put(key, append(leases[:i], leases[i+1:]...))
			return x.units
		}
	}
	l.held.put(key, leases)
	return 0
}

// renew extends a held local lease; false when it is not held.
func (l *localLeases) renew(key, id string, ttl time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	leases, _ := l.live(key, now)
	defer l.held.put(key, leases)
	for i := range leases {
		if leases[i].id == id {
			leases[i].expires = now.Add(ttl)
			return true
		}
	}
	return false
}

func isLocalLease(id string) bool { return strings.HasPrefix(id, localLeasePrefix) }
