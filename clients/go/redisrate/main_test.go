package redis_rate_test

// redis_rate's own tests (rate_test.go, vendored) run against a real server with the
// module: this file starts it on a free port. RL_SERVER=valkey picks Valkey.

import (
	"fmt"
	"os"
	"testing"

	"github.com/redis-ratelimit/redis-ratelimit/clients/go/internal/testserver"
)

var serverAddr string

func TestMain(m *testing.M) {
	bin := testserver.Redis()
	for _, b := range testserver.Binaries() {
		if b.Name == os.Getenv("RL_SERVER") {
			bin = b
		}
	}
	s, err := testserver.Start(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverAddr = s.Addr()
	fmt.Printf("redis_rate's tests on %s (%s)\n", bin.Name, serverAddr)
	code := m.Run()
	s.Stop()
	os.Exit(code)
}
