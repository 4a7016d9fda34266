"""Rate limiting with redis-py: one RL.CHECK per request.

Needs redis-py (`make client-deps` puts it in .venv). From the repo's top directory:

Run: .venv/bin/python examples/python/check.py

REDIS_URL says where and as whom; the default is the app user of the repo's redis.conf on
127.0.0.1:6379 (`make run` prints the URL for the port it uses).
"""

import os

import redis

DEFAULT_URL = "redis://app:change-me-app-password@127.0.0.1:6379"
FIELDS = ("allowed", "limit", "remaining", "retry_after_ms", "reset_after_ms")


def check(r, key, algorithm, limit, period_ms, cost=1):
    """RL.CHECK as a dict. RESP2 replies a five-integer array, RESP3 a map."""
    reply = r.execute_command("RL.CHECK", key, algorithm, limit, period_ms, "COST", cost)
    if isinstance(reply, dict):
        return {k.decode() if isinstance(k, bytes) else k: v for k, v in reply.items()}
    return dict(zip(FIELDS, reply))


def main():
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", DEFAULT_URL))
    # 5 requests per 10 seconds for user 42, spread evenly (GCRA).
    for i in range(6):
        d = check(r, "example:py:user:42", "GCRA", 5, 10_000)
        if d["allowed"]:
            print(f"request {i + 1}: allowed, {d['remaining']} left")
        else:
            print(f"request {i + 1}: denied, retry in {d['retry_after_ms']} ms")


if __name__ == "__main__":
    main()
