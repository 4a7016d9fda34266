package ratelimit

import (
	"sync"
	"time"
)

// denialCache remembers keys the server denied, until their RetryAfter is over, so that a
// client hammering a denied key is answered without a round trip. It errs towards denying
// smaller requests too (a cost-5 denial also denies a cost-1 request until then).
type denialCache struct {
	mu    sync.Mutex
	until *lru[time.Time]
}

func newDenialCache(size int) *denialCache { return &denialCache{until: newLRU[time.Time](size)} }

// check returns how long key is still denied (0: not cached).
func (c *denialCache) check(key string, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.until.get(key)
	if !ok {
		return 0
	}
	if left := until.Sub(now); left > 0 {
		return left
	}
	c.until.remove(key)
	return 0
}

func (c *denialCache) deny(key string, until time.Time) {
	c.mu.Lock()
	c.until.put(key, until)
	c.mu.Unlock()
}

func (c *denialCache) forget(key string) {
	c.mu.Lock()
	c.until.remove(key)
	c.mu.Unlock()
}
