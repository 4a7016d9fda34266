"""A WSGI middleware that rate-limits each client with RL.CHECK and answers with the
RateLimit header fields (IETF httpapi draft) and, when denied, 429 with Retry-After.

Any WSGI framework (Flask, Django, Falcon, ...) can wrap its app with it:

    r = redis.Redis.from_url(os.environ["REDIS_URL"])  # a user allowed RL.CHECK, e.g. app
    app.wsgi_app = RateLimitMiddleware(app.wsgi_app, r, limit=100, period_ms=60_000)
"""

import math

from check import check


class RateLimitMiddleware:
    def __init__(self, app, r, limit, period_ms, algorithm="GCRA", prefix="rl:http:"):
        self.app, self.r = app, r
        self.limit, self.period_ms, self.algorithm, self.prefix = limit, period_ms, algorithm, prefix

    def client_id(self, environ):
        """Who is limited: an API key if the request has one, else the remote address."""
        return environ.get("HTTP_X_API_KEY") or environ.get("REMOTE_ADDR", "unknown")

    def __call__(self, environ, start_response):
        key = self.prefix + self.client_id(environ)
        d = check(self.r, key, self.algorithm, self.limit, self.period_ms)
        headers = [
            ("RateLimit-Limit", str(d["limit"])),
            ("RateLimit-Remaining", str(d["remaining"])),
            # Milliseconds rounded up: a client that waits this long is not refused again.
            ("RateLimit-Reset", str(math.ceil(d["reset_after_ms"] / 1000))),
            ("RateLimit-Policy", f"{self.limit};w={math.ceil(self.period_ms / 1000)}"),
        ]
        if not d["allowed"]:
            if d["retry_after_ms"] < 0:  # never admissible (a cost above the burst)
                start_response("400 Bad Request", headers + [("Content-Type", "text/plain")])
                return [b"request exceeds the rate limit's burst\n"]
            headers.append(("Retry-After", str(math.ceil(d["retry_after_ms"] / 1000))))
            start_response("429 Too Many Requests", headers + [("Content-Type", "text/plain")])
            return [b"rate limited\n"]

        def start_with_headers(status, response_headers, exc_info=None):
            return start_response(status, response_headers + headers, exc_info)

        return self.app(environ, start_with_headers)
