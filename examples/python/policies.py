"""Tiers as policies: the operator defines the limits once, in the server; the
application only names its customer's tier (RL.CHECK key POLICY name).

Needs redis-py (`make client-deps` puts it in .venv). From the repo's top directory:

Run: .venv/bin/python examples/python/policies.py

ADMIN_URL is the operator's connection (RL.POLICY is the admin user's), REDIS_URL the
application's; the defaults are the admin and app users of the repo's redis.conf on
127.0.0.1:6379.
"""

import json
import os

import redis

ADMIN_URL = "redis://admin:change-me-admin-password@127.0.0.1:6379"
APP_URL = "redis://app:change-me-app-password@127.0.0.1:6379"
TIERS = {
    "free": {"limits": [{"algorithm": "GCRA", "limit": 2, "period": "1m"}]},
    "pro": {"limits": [{"algorithm": "GCRA", "limit": 5, "period": "1m"},
                       {"algorithm": "FIXED_WINDOW", "limit": 10000, "period": "1d"}]},
}
# Which tier each API key has: in real life, the application's own database.
CUSTOMERS = {"key:alice": "free", "key:bob": "pro"}


def main():
    admin = redis.Redis.from_url(os.environ.get("ADMIN_URL", ADMIN_URL))
    admin.execute_command("RL.POLICY", "LOAD", json.dumps({"policies": TIERS}))
    app = redis.Redis.from_url(os.environ.get("REDIS_URL", APP_URL))
    for api_key, tier in CUSTOMERS.items():
        admitted = 0
        for _ in range(6):
            # RESP2 replies five integers, RESP3 a map (which adds decided_by).
            reply = app.execute_command("RL.CHECK", f"example:py:{api_key}", "POLICY", tier)
            admitted += reply[b"allowed"] if isinstance(reply, dict) else reply[0]
        print(f"{api_key} ({tier}): {admitted} of 6 admitted")


if __name__ == "__main__":
    main()
