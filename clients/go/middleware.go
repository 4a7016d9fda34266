package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HeaderStyle picks the IETF httpapi RateLimit header draft the middleware sends.
type HeaderStyle int

const (
	// HeadersDraft8 (the default): named policies, structured fields:
	// `RateLimit-Policy: "default";q=100;w=60` and `RateLimit: "default";r=42;t=18`.
	HeadersDraft8 HeaderStyle = iota
	// HeadersDraft7: `RateLimit-Policy: 100;w=60` and `RateLimit: limit=100, remaining=42, reset=18`.
	HeadersDraft7
	// HeadersDraft6: `RateLimit-Policy`, `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`.
	HeadersDraft6
	// NoHeaders sends no RateLimit header (Retry-After still goes with a 429).
	NoHeaders
)

// KeyFunc picks the limiter key of a request: "" lets the request through uncounted and
// without headers (as Skip), an error answers 400 (see RequireHeader).
type KeyFunc func(*http.Request) (string, error)

// MiddlewareOptions configures RateLimiter.Middleware.
type MiddlewareOptions struct {
	// Limit applies to every key.
	Limit Limit
	// Key picks the key; default KeyByIP() (the peer's address, no proxy trusted). A key
	// of "" skips the request (not counted, no headers).
	Key KeyFunc
	// KeyPrefix goes before the key (default "rl:http:").
	KeyPrefix string
	// Headers is the RateLimit header draft (default HeadersDraft8).
	Headers HeaderStyle
	// PolicyName names the limit in the RateLimit and RateLimit-Policy headers (default "default").
	PolicyName string
	// Skip: requests it returns true for are neither counted nor given headers.
	Skip func(*http.Request) bool
	// RefundIf is called after the handler with the status it wrote; true gives the unit
	// back (for "count only failures": refund when status < 400).
	RefundIf func(r *http.Request, status int) bool
	// OnDenied writes the denial; the headers (RateLimit, RateLimit-Policy, Retry-After)
	// are already set. Default: 429 "Too Many Requests".
	OnDenied func(w http.ResponseWriter, r *http.Request, d Decision)
	// OnError handles an error of the limiter (an ArgumentError or ServerError, or an
	// UnavailableError under FailError). Default: 503 for an UnavailableError, else 500.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
}

// Middleware limits an http.Handler: every counted response carries `RateLimit-Policy` and
// `RateLimit` (IETF httpapi draft 8 by default: `"default";q=100;w=60` and
// `"default";r=42;t=18`; see HeaderStyle); a denial is 429 with `Retry-After` in whole seconds
// rounded up (none when the request can never be admitted: 413).
func (r *RateLimiter) Middleware(opts MiddlewareOptions) func(http.Handler) http.Handler {
	if opts.Key == nil {
		opts.Key = KeyByIP()
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = "rl:http:"
	}
	if opts.PolicyName == "" {
		opts.PolicyName = "default"
		if opts.Limit.Policy != "" {
			opts.PolicyName = opts.Limit.Policy
		}
	}
	if opts.OnDenied == nil {
		opts.OnDenied = func(w http.ResponseWriter, _ *http.Request, d Decision) {
			status := http.StatusTooManyRequests
			if d.RetryAfter < 0 {
				status = http.StatusRequestEntityTooLarge
			}
			http.Error(w, http.StatusText(status), status)
		}
	}
	if opts.OnError == nil {
		opts.OnError = func(w http.ResponseWriter, _ *http.Request, err error) {
			status := http.StatusInternalServerError
			var u *UnavailableError
			if errors.As(err, &u) {
				status = http.StatusServiceUnavailable
			}
			http.Error(w, http.StatusText(status), status)
		}
	}
	window := ceilSeconds(opts.Limit.period())
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if opts.Skip != nil && opts.Skip(req) {
				next.ServeHTTP(w, req)
				return
			}
			k, err := opts.Key(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if k == "" {
				next.ServeHTTP(w, req)
				return
			}
			k = opts.KeyPrefix + k
			d, err := r.Check(req.Context(), k, opts.Limit)
			if err != nil {
				opts.OnError(w, req, err)
				return
			}
			h := w.Header()
			setHeaders(h, opts, window, d)
			if !d.Allowed {
				if d.RetryAfter >= 0 {
					h.Set("Retry-After", strconv.FormatInt(ceilSeconds(d.RetryAfter), 10))
				}
				opts.OnDenied(w, req, d)
				return
			}
			if opts.RefundIf == nil {
				next.ServeHTTP(w, req)
				return
			}
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, req)
			if opts.RefundIf(req, sw.status) && d.Source == SourceServer {
				// The response is sent: do not tie the refund to the request's context.
				ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), time.Second)
				r.Refund(ctx, k, 1)
				cancel()
			}
		})
	}
}

// setHeaders writes d's RateLimit fields in the chosen draft's form.
func setHeaders(h http.Header, opts MiddlewareOptions, window int64, d Decision) {
	limit, remaining, reset := opts.Limit.Rate, d.Remaining, ceilSeconds(d.ResetAfter)
	if opts.Limit.Policy != "" {
		// The server's policy has the numbers: the deciding limit's, without a window.
		limit = d.Limit
	}
	switch opts.Headers {
	case HeadersDraft8:
		if window > 0 {
			h.Set("RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=%d", opts.PolicyName, limit, window))
		} else {
			h.Set("RateLimit-Policy", fmt.Sprintf("%q;q=%d", opts.PolicyName, limit))
		}
		h.Set("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", opts.PolicyName, remaining, reset))
	case HeadersDraft7:
		if window > 0 {
			h.Set("RateLimit-Policy", fmt.Sprintf("%d;w=%d", limit, window))
		}
		h.Set("RateLimit", fmt.Sprintf("limit=%d, remaining=%d, reset=%d", limit, remaining, reset))
	case HeadersDraft6:
		if window > 0 {
			h.Set("RateLimit-Policy", fmt.Sprintf("%d;w=%d", limit, window))
		}
		h.Set("RateLimit-Limit", strconv.Itoa(limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("RateLimit-Reset", strconv.FormatInt(reset, 10))
	}
}

// ceilSeconds rounds d up to whole seconds, so a client that waits that long is admitted.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// KeyByIP keys by the client's IP: the peer's address, or, when the peer is one of the
// trusted proxies (CIDRs such as "10.0.0.0/8" or single IPs), the rightmost address of
// X-Forwarded-For that is not a trusted proxy. With no trusted proxy X-Forwarded-For is
// ignored, so a client cannot choose its own key.
func KeyByIP(trustedProxies ...string) KeyFunc {
	var nets []*net.IPNet
	for _, p := range trustedProxies {
		if !strings.Contains(p, "/") {
			if strings.Contains(p, ":") {
				p += "/128"
			} else {
				p += "/32"
			}
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			panic(fmt.Sprintf("ratelimit.KeyByIP: %q is not an IP or CIDR", p))
		}
		nets = append(nets, n)
	}
	trusted := func(ip net.IP) bool {
		for _, n := range nets {
			if n.Contains(ip) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) (string, error) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip := net.ParseIP(host)
		if ip == nil || !trusted(ip) {
			return host, nil
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := net.ParseIP(strings.TrimSpace(hops[i]))
			if hop == nil {
				break
			}
			if !trusted(hop) {
				return hop.String(), nil
			}
		}
		return host, nil
	}
}

// ErrNoKey is RequireHeader's error for a request without the header (answered 400).
var ErrNoKey = errors.New("ratelimit: the request has no rate-limit key")

// KeyByHeader keys by a request header such as an API key ("X-API-Key"); a request
// without it is limited by its IP instead (KeyByIP with the trusted proxies given), as the
// Python and Node middleware do. The two are kept apart in the keyspace ("key:<value>",
// "ip:<address>"), so a client cannot spend another client's IP quota by sending that IP
// as its API key. RequireHeader refuses such a request instead.
func KeyByHeader(name string, trustedProxies ...string) KeyFunc {
	byIP := KeyByIP(trustedProxies...)
	return func(r *http.Request) (string, error) {
		if v := r.Header.Get(name); v != "" {
			return "key:" + v, nil
		}
		ip, err := byIP(r)
		if err != nil || ip == "" {
			return ip, err
		}
		return "ip:" + ip, nil
	}
}

// RequireHeader keys by a request header such as an API key, the value as it is; a request
// without it is refused with 400 (ErrNoKey), for APIs where every caller has a key.
func RequireHeader(name string) KeyFunc {
	return func(r *http.Request) (string, error) {
		if v := r.Header.Get(name); v != "" {
			return v, nil
		}
		return "", ErrNoKey
	}
}
