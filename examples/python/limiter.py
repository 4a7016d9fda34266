"""The redis_ratelimit package (clients/python) in one script: checks, a server-side policy,
and the ASGI middleware in front of a bare ASGI app (Starlette and FastAPI take it the same
way, with app.add_middleware).

    pip install ./clients/python
    REDIS_URL=redis://127.0.0.1:6379 python3 examples/python/limiter.py

(The raw-redis-py examples next to it, check.py and friends, show the RL.* commands themselves.)
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import redis
import redis.asyncio as aredis

from redis_ratelimit import AsyncRateLimiter, Limit, PolicyRef, RateLimiter
from redis_ratelimit.middleware import AsyncRateLimitMiddleware

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")


def checks(rl: RateLimiter) -> None:
    # 3 requests per hour, exactly (a sliding log): the 4th is denied with a retry time.
    limit = Limit("SLIDING_LOG", 3, "1h")
    rl.reset("example:user:42")
    for i in range(1, 5):
        d = rl.check("example:user:42", limit)
        wait = f", retry in {d.retry_after_ms // 1000 + 1} s" if not d.allowed else ""
        print(f"request {i}: {'allowed' if d.allowed else 'denied'}, {d.remaining} left{wait}")


def policies(rl: RateLimiter) -> None:
    # A named policy: every limit of it is checked in the one key, all or nothing, and
    # changing it on the server changes every client at once.
    version = rl.policy_set("example:tier:free", [Limit("GCRA", 10, "1s"), Limit("FIXED_WINDOW", 2, "1h")])
    print(f"policy example:tier:free stored, version {version}")
    rl.reset("example:tenant:7")
    got = [rl.check("example:tenant:7", PolicyRef("example:tier:free")).allowed for _ in range(3)]
    print("tenant 7 under the free tier:", ", ".join("allowed" if a else "denied" for a in got))
    print("policies:", ", ".join(p for p in rl.policy_list() if p.startswith("example:")))
    rl.policy_del("example:tier:free")


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello\n"})


async def middleware() -> None:
    ar = aredis.Redis.from_url(URL)
    app = AsyncRateLimitMiddleware(hello, limiter=AsyncRateLimiter(ar), limits=Limit("SLIDING_LOG", 2, "1m"),
                                   key="header:X-API-Key", prefix="example:http:")
    await AsyncRateLimiter(ar).reset("example:http:key:k1")

    # One request as a server (uvicorn, hypercorn) would pass it to the app.
    async def request() -> None:
        scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"x-api-key", b"k1")],
                 "client": ("127.0.0.1", 50000)}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        start = sent[0]
        headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        extra = f" retry-after: {headers['retry-after']}" if "retry-after" in headers else ""
        print(f"GET / -> {start['status']} ratelimit: {headers['ratelimit']}{extra}")

    for _ in range(3):
        await request()
    await ar.aclose()


def main() -> None:
    rl = RateLimiter(redis.Redis.from_url(URL))
    checks(rl)
    policies(rl)
    asyncio.run(middleware())


if __name__ == "__main__":
    main()
