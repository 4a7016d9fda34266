#!/usr/bin/env python3
"""Measures MEMORY USAGE of limiter keys against the Redis structures Lua scripts use.

Usage: start a server with the module (`make run`, or any port), then
    python3 benches/memory_per_key.py [--port 6379] [--keys 100000]
Prints Markdown tables: MEMORY USAGE per key, and the growth of INFO used_memory over
--keys keys of each algorithm (what capacity planning needs: the key's name, its
dictionary and expiry entries, the value). Uses keys under `memtest:` and deletes them
afterwards.
"""

import argparse

import redis


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--keys", type=int, default=100_000)
    args = ap.parse_args()
    r = redis.Redis(port=args.port)
    r.config_set("ratelimit.sliding-log-max-limit", 10000)
    rows = []
    for n in (1, 10, 100, 1000):
        r.delete("memtest:log", "memtest:zset")
        # One check of COST n remembers n units at once.
        r.execute_command("RL.CHECK", "memtest:log", "SLIDING_LOG", n, 3_600_000, "COST", n)
        for i in range(n):
            r.zadd("memtest:zset", {f"{i}-req": 1_700_000_000_000 + i})
        log = r.memory_usage("memtest:log", samples=0)
        zset = r.memory_usage("memtest:zset", samples=0)
        rows.append((n, log, zset))
    r.delete("memtest:log", "memtest:zset")
    print("| units remembered | SLIDING_LOG bytes | per unit | ZSET log bytes | per entry |")
    print("|---|---|---|---|---|")
    for n, log, zset in rows:
        print(f"| {n} | {log} | {log / n:.1f} | {zset} | {zset / n:.1f} |")
    for algo in ("TOKEN_BUCKET", "GCRA", "FIXED_WINDOW", "SLIDING_WINDOW"):
        r.execute_command("RL.CHECK", "memtest:k", algo, 10, 60_000)
        print(f"\n{algo}: {r.memory_usage('memtest:k', samples=0)} bytes", end="")
        r.delete("memtest:k")
    print("\n")
    print(f"| algorithm | used_memory growth over {args.keys} keys | per key |")
    print("|---|---|---|")
    for algo, extra in (("TOKEN_BUCKET", []), ("GCRA", []), ("FIXED_WINDOW", []),
                        ("SLIDING_WINDOW", []), ("SLIDING_LOG", ["COST", 10])):
        grown = fill(r, args.keys, algo, extra)
        print(f"| {label(algo, extra)} | {grown} bytes | {grown / args.keys:.0f} |")


def label(algo, extra):
    return f"{algo} (10 units remembered)" if extra else algo


def fill(r, n, algo, extra):
    """used_memory after n keys of one algorithm minus before (keys deleted after)."""
    keys = [f"memtest:{algo}:user:{i:08d}" for i in range(n)]
    base = r.info("memory")["used_memory"]
    pipe = r.pipeline(transaction=False)
    for i, key in enumerate(keys):
        pipe.execute_command("RL.CHECK", key, algo, 100, 3_600_000, *extra)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    grown = r.info("memory")["used_memory"] - base
    for i in range(0, n, 1000):
        r.delete(*keys[i:i + 1000])
    return grown


if __name__ == "__main__":
    main()
