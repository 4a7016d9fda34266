package ratelimit

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redis-ratelimit/redis-ratelimit/clients/go/internal/testserver"
)

// servers: one Redis 7.0 and one Valkey 9 with the module, shared by the tests that
// neither kill nor reconfigure their server (each test uses its own keys).
var servers []*testserver.Server

// quiet drops go-redis's log lines (reconnect attempts while a test has killed a server).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...interface{}) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	for _, b := range testserver.Binaries() {
		s, err := testserver.Start(b)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			stopAll()
			os.Exit(1)
		}
		servers = append(servers, s)
	}
	code := m.Run()
	stopAll()
	os.Exit(code)
}

func stopAll() {
	for _, s := range servers {
		s.Stop()
	}
}

var keySeq atomic.Int64

// key is a key no other test uses.
func key(t testing.TB) string {
	return fmt.Sprintf("go:%s:%d", strings.ReplaceAll(t.Name(), "/", ":"), keySeq.Add(1))
}

// eachServer runs f on every server, over RESP2 and RESP3.
func eachServer(t *testing.T, f func(t *testing.T, rdb *redis.Client)) {
	for _, s := range servers {
		for _, proto := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/resp%d", s.Bin.Name, proto), func(t *testing.T) {
				rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), Protocol: proto})
				t.Cleanup(func() { rdb.Close() })
				f(t, rdb)
			})
		}
	}
}

func newClient(t testing.TB, s *testserver.Server) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

var bg = context.Background()
