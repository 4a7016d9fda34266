package ratelimit

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis-ratelimit/redis-ratelimit/clients/go/internal/testserver"
)

func get(t *testing.T, url string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// Over real HTTP: headers on every response, 429 with Retry-After rounded up, keys by API
// key header, skip, and refunds of the requests the hook says not to count.
func TestMiddlewareOverHTTP(t *testing.T) {
	rdb := newClient(t, servers[0])
	rl := New(rdb)
	prefix := key(t) + ":"
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "boom", http.StatusBadGateway)
			return
		}
		io.WriteString(w, "ok")
	})
	mw := rl.Middleware(MiddlewareOptions{
		Limit:     Limit{Rate: 3, Period: time.Minute},
		Key:       KeyByHeader("X-API-Key"),
		KeyPrefix: prefix,
		Skip:      func(r *http.Request) bool { return r.URL.Path == "/health" },
	})
	srv := httptest.NewServer(mw(handler))
	defer srv.Close()
	// Count only failures: successful requests are refunded. (A fixed window: on GCRA and
	// TOKEN_BUCKET a refund a millisecond after its check gives back nothing on a rested
	// key, see docs/clients/go.md.)
	bucket := Limit{Algorithm: FixedWindow, Rate: 3, Period: time.Hour}
	refunding := httptest.NewServer(rl.Middleware(MiddlewareOptions{
		Limit: bucket, Key: KeyByHeader("X-API-Key"), KeyPrefix: prefix,
		RefundIf: func(r *http.Request, status int) bool { return status < 400 },
	})(handler))
	defer refunding.Close()
	alice := map[string]string{"X-API-Key": "alice"}

	for i := 0; i < 3; i++ {
		res := get(t, srv.URL+"/", alice)
		// t: 20 s a unit, rounded up; a stall between requests may take a second or two off.
		var r, reset int
		_, err := fmt.Sscanf(res.Header.Get("RateLimit"), `"default";r=%d;t=%d`, &r, &reset)
		if res.StatusCode != 200 || res.Header.Get("RateLimit-Policy") != `"default";q=3;w=60` || err != nil ||
			r != 2-i || reset > 20*(i+1) || reset < 20*(i+1)-3 {
			t.Fatalf("request %d: %d %v", i, res.StatusCode, res.Header)
		}
	}
	res := get(t, srv.URL+"/", alice)
	retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	if res.StatusCode != 429 || retry < 1 || retry > 20 || !strings.HasPrefix(res.Header.Get("RateLimit"), `"default";r=0;`) {
		t.Fatalf("4th: %d %v", res.StatusCode, res.Header)
	}
	// Another key has its own quota; a request without a key is limited by its IP, apart
	// from an API key equal to that IP; skipped paths are free.
	if res := get(t, srv.URL+"/", map[string]string{"X-API-Key": "bob"}); res.StatusCode != 200 {
		t.Fatalf("bob: %d", res.StatusCode)
	}
	for i := 0; i < 3; i++ {
		if res := get(t, srv.URL+"/", map[string]string{"X-API-Key": "127.0.0.1"}); res.StatusCode != 200 {
			t.Fatalf("API key 127.0.0.1, request %d: %d", i, res.StatusCode)
		}
	}
	for i := 0; i < 3; i++ {
		res := get(t, srv.URL+"/", nil)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("RateLimit"), fmt.Sprintf(`"default";r=%d;`, 2-i)) {
			t.Fatalf("no key, request %d: %d %v", i, res.StatusCode, res.Header)
		}
	}
	if res := get(t, srv.URL+"/", nil); res.StatusCode != 429 {
		t.Fatalf("no key, 4th: %d", res.StatusCode)
	}
	if d, _ := rl.Peek(bg, prefix+"ip:127.0.0.1", Limit{Rate: 3, Period: time.Minute}, 0); d.Remaining != 0 {
		t.Fatalf("the IP's key has %d left", d.Remaining)
	}
	if res := get(t, srv.URL+"/health", alice); res.StatusCode != 200 || res.Header.Get("RateLimit") != "" {
		t.Fatalf("skipped: %d %v", res.StatusCode, res.Header)
	}
	// carol's successful requests are given back; her failures count.
	carol := map[string]string{"X-API-Key": "carol"}
	for i := 0; i < 5; i++ {
		if res := get(t, refunding.URL+"/", carol); res.StatusCode != 200 {
			t.Fatalf("refunded request %d: %d", i, res.StatusCode)
		}
	}
	if d, _ := rl.Peek(bg, prefix+"key:carol", bucket, 0); d.Remaining != 3 {
		t.Fatalf("carol has %d left after refunds", d.Remaining)
	}
	for i := 0; i < 3; i++ {
		get(t, refunding.URL+"/fail", carol)
	}
	if res := get(t, refunding.URL+"/fail", carol); res.StatusCode != 429 {
		t.Fatalf("the 4th failure: %d", res.StatusCode)
	}
}

func TestKeyByIPHonoursOnlyTrustedProxies(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.5:4321"
	req.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.0.0.7")
	if k, _ := KeyByIP()(req); k != "10.0.0.5" {
		t.Fatalf("no proxy trusted: %s", k)
	}
	if k, _ := KeyByIP("10.0.0.0/8")(req); k != "203.0.113.9" {
		t.Fatalf("trusted 10/8: %s", k)
	}
	req.RemoteAddr = "198.51.100.1:1"
	if k, _ := KeyByIP("10.0.0.0/8")(req); k != "198.51.100.1" {
		t.Fatalf("an untrusted peer's header: %s", k)
	}
}

// By IP over real HTTP, and the fail-closed policy's 429 while the server is away.
func TestMiddlewareByIP(t *testing.T) {
	rl := New(newClient(t, servers[0]))
	srv := httptest.NewServer(rl.Middleware(MiddlewareOptions{Limit: Limit{Rate: 1, Period: time.Hour}, KeyPrefix: key(t) + ":"})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer srv.Close()
	if res := get(t, srv.URL, nil); res.StatusCode != 200 {
		t.Fatalf("first: %d", res.StatusCode)
	}
	// X-Forwarded-For is not trusted: the second request from 127.0.0.1 is denied.
	if res := get(t, srv.URL, map[string]string{"X-Forwarded-For": "1.2.3.4"}); res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("second: %d %v", res.StatusCode, res.Header)
	}
}

// RequireHeader refuses a request without the header (400); a key function returning ""
// lets the request through uncounted, without headers.
func TestMiddlewareRequireHeaderAndEmptyKey(t *testing.T) {
	rl := New(newClient(t, servers[0]))
	prefix := key(t) + ":"
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	lim := Limit{Rate: 1, Period: time.Hour}
	strict := httptest.NewServer(rl.Middleware(MiddlewareOptions{Limit: lim, Key: RequireHeader("X-API-Key"), KeyPrefix: prefix})(ok))
	defer strict.Close()
	if res := get(t, strict.URL, nil); res.StatusCode != 400 {
		t.Fatalf("no key: %d", res.StatusCode)
	}
	if res := get(t, strict.URL, map[string]string{"X-API-Key": "dave"}); res.StatusCode != 200 {
		t.Fatalf("dave: %d", res.StatusCode)
	}
	if d, _ := rl.Peek(bg, prefix+"dave", lim, 0); d.Remaining != 0 {
		t.Fatalf("dave's key has %d left", d.Remaining)
	}
	byTenant := func(r *http.Request) (string, error) { return r.Header.Get("X-Tenant"), nil }
	optional := httptest.NewServer(rl.Middleware(MiddlewareOptions{Limit: lim, Key: byTenant, KeyPrefix: prefix})(ok))
	defer optional.Close()
	for i := 0; i < 3; i++ {
		if res := get(t, optional.URL, nil); res.StatusCode != 200 || res.Header.Get("RateLimit") != "" {
			t.Fatalf("no tenant, request %d: %d %v", i, res.StatusCode, res.Header)
		}
	}
	get(t, optional.URL, map[string]string{"X-Tenant": "t1"})
	if res := get(t, optional.URL, map[string]string{"X-Tenant": "t1"}); res.StatusCode != 429 {
		t.Fatalf("tenant t1, 2nd: %d", res.StatusCode)
	}
}

// Without the server: FailClosed answers 429 with Retry-After; FailError's error is a 503.
func TestMiddlewareWithoutTheServer(t *testing.T) {
	s, err := testserver.Start(testserver.Redis())
	if err != nil {
		t.Fatal(err)
	}
	rdb := newClient(t, s)
	s.Stop()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	lim := Limit{Rate: 5, Period: time.Second}
	closed := httptest.NewServer(New(rdb, WithOnUnavailable(FailClosed)).Middleware(MiddlewareOptions{Limit: lim})(ok))
	defer closed.Close()
	if res := get(t, closed.URL, nil); res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("FailClosed: %d %v", res.StatusCode, res.Header)
	}
	failing := httptest.NewServer(New(rdb, WithOnUnavailable(FailError)).Middleware(MiddlewareOptions{Limit: lim})(ok))
	defer failing.Close()
	if res := get(t, failing.URL, nil); res.StatusCode != 503 {
		t.Fatalf("FailError: %d", res.StatusCode)
	}
}

// The older drafts' header forms, for clients that read them.
func TestMiddlewareHeaderStyles(t *testing.T) {
	rl := New(newClient(t, servers[0]))
	lim := Limit{Rate: 4, Period: time.Minute}
	for style, want := range map[HeaderStyle]map[string]string{
		HeadersDraft7: {"RateLimit-Policy": "4;w=60", "RateLimit": "limit=4, remaining=3, reset=15"},
		HeadersDraft6: {"RateLimit-Policy": "4;w=60", "RateLimit-Limit": "4", "RateLimit-Remaining": "3", "RateLimit-Reset": "15"},
		NoHeaders:     {"RateLimit-Policy": "", "RateLimit": ""},
	} {
		srv := httptest.NewServer(rl.Middleware(MiddlewareOptions{Limit: lim, Headers: style, KeyPrefix: key(t) + ":"})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
		res := get(t, srv.URL, nil)
		srv.Close()
		for name, v := range want {
			if got := res.Header.Get(name); got != v {
				t.Errorf("style %d: %s = %q, want %q", style, name, got, v)
			}
		}
	}
}
