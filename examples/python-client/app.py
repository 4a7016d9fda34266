"""A Flask app limited two ways by the redis_ratelimit package (clients/python):

- Flask-Limiter, unchanged but for its storage URI: ``rl+redis://`` puts its limits on the
  module (moving window = SLIDING_LOG);
- the package's WSGI middleware: one GCRA limit per API key (or IP) on every request,
  with the RateLimit headers and 429 + Retry-After.

    pip install "./clients/python[limits]" flask flask-limiter
    REDIS_URL=redis://localhost:6379 flask --app examples/python-client/app.py run
"""

from __future__ import annotations

import os

import redis
from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

import redis_ratelimit  # noqa: F401  (registers rl+redis:// with limits)
from redis_ratelimit import Limit, RateLimiter
from redis_ratelimit.middleware import RateLimitMiddleware


def create_app(redis_url: str) -> Flask:
    app = Flask(__name__)
    limiter = Limiter(get_remote_address, app=app, storage_uri="rl+" + redis_url,
                      strategy="moving-window", headers_enabled=True)

    @app.route("/search")
    @limiter.limit("5/minute")
    def search() -> str:
        return "results\n"

    @app.route("/")
    def index() -> str:
        return "hello\n"

    # Every request, whatever the route: 20 per second per API key (else per IP), burst 40.
    app.wsgi_app = RateLimitMiddleware(  # type: ignore[method-assign]
        app.wsgi_app,
        RateLimiter(redis.Redis.from_url(redis_url)),
        Limit("GCRA", 20, "1s", burst=40),
        key="header:X-API-Key",
    )
    return app


app = create_app(os.environ.get("REDIS_URL", "redis://localhost:6379"))
