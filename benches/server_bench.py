#!/usr/bin/env python3
"""The server benchmark behind `make bench`.

Starts one fresh redis-server (Debian's 7.0) with the module, pinned to one CPU, and
drives it with redis-benchmark pinned to another. In each round, against that same
server, it measures the native floors (INCR, SET PX), RL.CHECK for every algorithm,
RL.PEEK, RL.MCHECK over three keys, checks against one- and two-limit policies next to
RL.MCHECK over two keys, and a Lua twin of each algorithm called by EVALSHA;
random keys over 100,000 ids and one hot key; pipelined (-P 16) and not. It reports
requests per second, client p50 and p99, the server's own microseconds per call
(INFO commandstats), and the module's in-server p99 (RL.STATS), each as the median of
the rounds with ratios to INCR, to SET PX and to the Lua twin; then memory per key
(MEMORY USAGE and used_memory over 100,000 keys) against the Lua structures. Writes
docs/benchmarks.md and docs/benchmarks.png.

Usage: python3 benches/server_bench.py [--rounds 3] [--requests 200000] [--out docs]
"""

import argparse
import csv
import io
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import redis

from benchlib import MODULE, REPO, Server, pinned

KEYSPACE = 100_000
CLIENTS = 50

# Faithful Lua versions of each algorithm, the way services write them today. Each
# reads the server clock (TIME), decides, stores its state and sets an expiry, and
# returns {allowed, remaining}. ARGV: limit, period_ms[, burst].
LUA = {
    # A token bucket in a hash: tokens and the last refill time.
    "TOKEN_BUCKET": """
local limit, period, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(s[1]) or burst, tonumber(s[2]) or now
tokens = math.min(burst, tokens + (now - ts) * limit / period)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * period / limit) + 1)
return {allowed, math.floor(tokens)}
""",
    # GCRA on a string holding the theoretical arrival time.
    "GCRA": """
local limit, period, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = period / limit
local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or now, now)
local new_tat = tat + interval
if new_tat - now > burst * interval then return {0, 0} end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now))
return {1, math.floor((burst * interval - (new_tat - now)) / interval)}
""",
    # INCR plus PEXPIRE on a counter per aligned window.
    "FIXED_WINDOW": """
local limit, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local key = KEYS[1] .. ':' .. math.floor(now / period)
local n = redis.call('INCR', key)
if n == 1 then redis.call('PEXPIRE', key, period) end
if n > limit then return {0, 0} end
return {1, limit - n}
""",
    # Two counters (previous and current window) in a hash, weighted.
    "SLIDING_WINDOW": """
local limit, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local start = now - now % period
local s = redis.call('HMGET', KEYS[1], 'start', 'prev', 'cur')
local wstart, prev, cur = tonumber(s[1]) or start, tonumber(s[2]) or 0, tonumber(s[3]) or 0
if wstart < start then
  if wstart == start - period then prev = cur else prev = 0 end
  cur = 0
end
local est = prev * (period - (now - start)) / period + cur
if est + 1 > limit then return {0, 0} end
cur = cur + 1
redis.call('HSET', KEYS[1], 'start', start, 'prev', prev, 'cur', cur)
redis.call('PEXPIRE', KEYS[1], 2 * period)
return {1, math.floor(limit - est - 1)}
""",
    # A sorted set of admitted request times.
    "SLIDING_LOG": """
local limit, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then return {0, 0} end
redis.call('ZADD', KEYS[1], now, t[1] .. t[2] .. ':' .. n)
redis.call('PEXPIRE', KEYS[1], period)
return {1, limit - n - 1}
""",
}

ALGORITHMS = ["TOKEN_BUCKET", "GCRA", "FIXED_WINDOW", "SLIDING_WINDOW", "SLIDING_LOG"]
# A lease taken and given back in one call, so redis-benchmark can drive RL.RELEASE with a
# real id; commandstats times RL.ACQUIRE and RL.RELEASE (called from the script) apart.
LEASE_PAIR = """
local a = redis.call('RL.ACQUIRE', KEYS[1], ARGV[1], ARGV[2])
if a[1] == 1 then return redis.call('RL.RELEASE', KEYS[1], a[5]) end
return 0
"""
# A unit charged and given back in one call: commandstats times RL.REFUND apart.
REFUND_PAIR = """
redis.call('RL.CHECK', KEYS[1], 'TOKEN_BUCKET', ARGV[1], ARGV[2])
return redis.call('RL.REFUND', KEYS[1], 'COST', 1)
"""
# The benchmark's policies: `one` is the GCRA workload's limit, `two` adds a daily quota;
# RL.MCHECK 2 keys checks the same two limits on two keys.
POLICY_TWO = ["GCRA", "100", "1000", "FIXED_WINDOW", "10000000", "86400000"]
POLICIES = json.dumps({"policies": {
    "one": {"limits": [{"algorithm": "GCRA", "limit": 100, "period_ms": 1000, "burst": 100}]},
    "two": {"limits": [{"algorithm": "GCRA", "limit": 100, "period_ms": 1000, "burst": 100},
                       {"algorithm": "FIXED_WINDOW", "limit": 10_000_000,
                        "period_ms": 86_400_000}]}}})
# limit, period_ms: 100 per second; the sliding log keeps limit 100 (the target).
PARAMS = {a: (100, 1000) for a in ALGORITHMS}
PARAMS["SLIDING_LOG"] = (100, 60_000)


def workloads(shas):
    """(name, family, command argv with the key as {key}, command stat, lua twin)."""
    out = [
        ("INCR", "floor", ["INCR", "{key}"], "incr", None),
        ("SET PX", "floor", ["SET", "{key}", "v", "PX", "60000"], "set", None),
    ]
    for a in ALGORITHMS:
        limit, period = PARAMS[a]
        burst = ["BURST", str(limit)] if a in ("TOKEN_BUCKET", "GCRA") else []
        out.append((a, "native", ["RL.CHECK", "{key}", a, str(limit), str(period)] + burst,
                    "rl.check", f"Lua {a}"))
        out.append((f"Lua {a}", "lua",
                    ["EVALSHA", shas[a], "1", "{key}", str(limit), str(period), str(limit)],
                    "evalsha", None))
    out.append(("RL.PEEK GCRA", "native", ["RL.PEEK", "{key}", "GCRA", "100", "1000"],
                "rl.peek", None))
    # Leases: at most 100 held, each for a second (a hot key holds 100 and denies).
    out.append(("RL.ACQUIRE", "native", ["RL.ACQUIRE", "{key}", "100", "1000"],
                "rl.acquire", None))
    if "LEASE_PAIR" in shas:
        out.append(("RL.ACQUIRE+RELEASE (RL.RELEASE's µs)", "lease",
                    ["EVALSHA", shas["LEASE_PAIR"], "1", "{key}", "100", "1000"],
                    "rl.release", None))
    # The primitives (issue 15): a check on a blocked key (every key blocked first, see
    # SETUP), a calendar quota, a partial grant, a refund.
    out.append(("RL.CHECK blocked", "native",
                ["RL.CHECK", "{key}", "TOKEN_BUCKET", "100", "1000", "BLOCK", "1h"],
                "rl.check", None))
    out.append(("CALENDAR DAY", "native", ["RL.CHECK", "{key}", "CALENDAR", "100", "DAY"],
                "rl.check", None))
    out.append(("TOKEN_BUCKET AT_MOST", "native",
                ["RL.CHECK", "{key}", "TOKEN_BUCKET", "100", "1000", "COST", "5", "AT_MOST"],
                "rl.check", None))
    if "REFUND_PAIR" in shas:
        out.append(("RL.CHECK+REFUND (RL.REFUND's µs)", "refund",
                    ["EVALSHA", shas["REFUND_PAIR"], "1", "{key}", "100", "1000"],
                    "rl.refund", None))
    # Policies (issue 16): one limit against the same check with explicit arguments; two
    # limits (per second and per day) in one key against RL.MCHECK of two keys.
    out.append(("POLICY 1 limit", "native", ["RL.CHECK", "{key}", "POLICY", "one"],
                "rl.check", None))
    out.append(("POLICY 2 limits", "native", ["RL.CHECK", "{key}", "POLICY", "two"],
                "rl.check", None))
    out.append(("RL.MCHECK 2 keys", "native",
                ["RL.MCHECK", "2", "{key}:s", "{key}:d", *POLICY_TWO[:3], *POLICY_TWO[3:]],
                "rl.mcheck", None))
    out.append(("RL.MCHECK 3 keys", "native",
                ["RL.MCHECK", "3", "{key}:a", "{key}:b", "{key}:c",
                 "GCRA", "100", "1000", "FIXED_WINDOW", "1000", "60000",
                 "SLIDING_WINDOW", "100000", "86400000"], "rl.mcheck", None))
    return out


def block_every_key(c, keys):
    """RL.CHECK blocked's setup: every key the workload names is blocked for an hour."""
    names = ["b:hot"] if keys == "hot" else [f"b:{i:012d}" for i in range(KEYSPACE)]
    pipe = c.pipeline(transaction=False)
    for i, name in enumerate(names):
        pipe.execute_command("RL.BLOCK", name, "1h")
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


# Run after FLUSHALL, before a workload that needs keys in a given state.
SETUP = {"RL.CHECK blocked": block_every_key}


def bench(port, argv, keys, pipeline, requests):
    key = "b:__rand_int__" if keys == "random" else "b:hot"
    cmd = [a.replace("{key}", key) for a in argv]
    n = requests if pipeline == 1 else requests * 4
    run = subprocess.run(
        pinned(1, ["redis-benchmark", "-p", str(port), "-n", str(n), "-c", str(CLIENTS),
                   "-P", str(pipeline), "-r", str(KEYSPACE), "--csv", *cmd]),
        capture_output=True, text=True, timeout=600)
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    if run.returncode != 0 or not rows:
        raise RuntimeError(f"redis-benchmark failed: {run.stdout}{run.stderr}")
    row = rows[-1]
    return float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"])


def usec_per_call(c, stat):
    info = c.info("commandstats").get(f"cmdstat_{stat}")
    return float(info["usec_per_call"]) if info else float("nan")


def server_p99(c, stat):
    """The server's own p99 for the command (INFO latencystats, Redis 7.0+): the same
    measure for native commands, module commands and EVALSHA."""
    info = c.info("latencystats").get(f"latency_percentiles_usec_{stat}")
    return float(info["p99"]) if info else float("nan")


def in_server_p99(c, stat):
    if not stat.startswith("rl."):
        return None
    st = c.execute_command("RL.STATS")
    fields = dict(zip(st[::2], st[1::2]))
    value = fields.get(f"{stat[3:]}_p99_us".encode())
    return float(value) if value is not None else None


def memory(c):
    """MEMORY USAGE of one key and used_memory growth per key over KEYSPACE keys,
    native against the Lua structure, per algorithm."""
    rows = []
    shas = {a: c.script_load(LUA[a]) for a in ALGORITHMS}
    for a in ALGORITHMS:
        # Periods of an hour: no key rests (and expires) before it is measured.
        limit, period = 100, 3_600_000
        burst = ["BURST", str(limit)] if a in ("TOKEN_BUCKET", "GCRA") else []
        per = {}
        for family in ("native", "lua"):
            c.execute_command("FLUSHALL", "SYNC")
            base = c.info("memory")["used_memory"]
            pipe = c.pipeline(transaction=False)
            for i in range(KEYSPACE):
                key = f"m:{i:06d}"
                if family == "native":
                    pipe.execute_command("RL.CHECK", key, a, limit, period, *burst)
                else:
                    pipe.evalsha(shas[a], 1, key, limit, period, limit)
                if i % 2000 == 1999:
                    pipe.execute()
            pipe.execute()
            grown = c.info("memory")["used_memory"] - base
            sample = "m:000042"
            if family == "lua" and a == "FIXED_WINDOW":  # a counter per window: m:000042:<n>
                sample = next(iter(c.scan_iter(match="m:000042:*")), sample)
            one = c.memory_usage(sample, samples=0) or 0
            per[family] = (one, grown / KEYSPACE)
        rows.append((a, per["native"], per["lua"]))
    # The log at its full limit of 100 entries, native against a ZSET.
    c.execute_command("FLUSHALL", "SYNC")
    c.execute_command("RL.CHECK", "log", "SLIDING_LOG", 100, 60_000, "COST", 100)
    for i in range(100):
        c.evalsha(shas["SLIDING_LOG"], 1, "zlog", 100, 60_000, 100)
    log100 = (c.memory_usage("log", samples=0), c.memory_usage("zlog", samples=0))
    c.execute_command("FLUSHALL", "SYNC")
    return rows, log100


# Whole-request instruction counts: the commands callgrind measures, each from one client.
CALLGRIND_REQUESTS = 5000
# Where a run keeps its figures (`--rewrite-from`).
SAVED = os.path.join(REPO, "target", "server_bench_results.json")


def instructions(argv, keys):
    """Instructions per request of one workload, counted by valgrind's callgrind in a
    fresh redis-server: `call` (what INFO commandstats times: the command itself) and
    `processCommand` (the whole request after parsing: command filters, ACL and lookup,
    the command, propagation). None without valgrind."""
    if not shutil.which("valgrind"):
        return None
    key = "b:__rand_int__" if keys == "random" else "b:hot"
    cmd = [a.replace("{key}", key) for a in argv]
    out = {}
    for scope in ("call", "processCommand"):
        with tempfile.TemporaryDirectory(prefix="rl-cg-") as d:
            port = free_port()
            data = os.path.join(d, "cg.out")
            proc = subprocess.Popen(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={data}",
                 "--collect-atstart=no", f"--toggle-collect={scope}",
                 "redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                 "--dir", d, "--loadmodule", MODULE],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            c = redis.Redis(port=port, protocol=2)
            for _ in range(600):
                try:
                    c.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.1)
            # The policies the POLICY workloads name (counted once: noise per request).
            c.execute_command("RL.POLICY", "LOAD", POLICIES)
            subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(CALLGRIND_REQUESTS),
                            "-c", "1", "-r", str(KEYSPACE), *cmd],
                           capture_output=True, check=True, timeout=600)
            try:
                c.shutdown(nosave=True)
            except redis.ConnectionError:
                pass
            proc.wait(timeout=120)
            report = subprocess.run(["callgrind_annotate", "--inclusive=yes", data],
                                    capture_output=True, text=True).stdout
        total = shutdown = 0
        for line in report.splitlines():
            fields = line.split()
            if not fields or not fields[0][0].isdigit():
                continue
            if "PROGRAM TOTALS" in line:
                total = int(fields[0].replace(",", ""))
            elif "shutdownCommand" in line:  # the SHUTDOWN that ends the run
                shutdown = int(fields[0].replace(",", ""))
        out[scope] = (total - shutdown) / CALLGRIND_REQUESTS
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    version = subprocess.run(["redis-server", "--version"], capture_output=True,
                             text=True).stdout.split()
    return (f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
            f"{' '.join(version[:3])}")


def median(values):
    values = [v for v in values if v is not None and v == v]
    return statistics.median(values) if values else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 3)))
    ap.add_argument("--requests", type=int,
                    default=int(os.environ.get("BENCH_REQUESTS", 100_000)))
    ap.add_argument("--out", default=os.path.join(REPO, "docs"))
    ap.add_argument("--no-callgrind", action="store_true",
                    help="skip the callgrind instruction counts (a quick look at the timings)")
    ap.add_argument("--scale-keys", type=int, default=1_000_000,
                    help="keys of benches/memory_scale.py's memory and persistence table "
                         "(issue 17); 10000000 for the 10-million run, 0 to skip")
    ap.add_argument("--rewrite-from", metavar="JSON",
                    help="write docs/benchmarks.md again from the figures a run saved "
                         f"({os.path.relpath(SAVED, REPO)}), measuring nothing")
    args = ap.parse_args()
    if args.rewrite_from:
        with open(args.rewrite_from) as f:
            saved = json.load(f)
        args.rounds, args.requests = saved["rounds"], saved["requests"]
        write(args, saved["shas"], {tuple(k): v for k, v in saved["results"]},
              saved["mem_rows"], saved["log100"], saved["started"],
              {tuple(k): v for k, v in saved["counted"]})
        return
    with Server() as server:
        port = server.port
        c = server.client(timeout=600)
        shas = {a: c.script_load(LUA[a]) for a in ALGORITHMS}
        shas["LEASE_PAIR"] = c.script_load(LEASE_PAIR)
        shas["REFUND_PAIR"] = c.script_load(REFUND_PAIR)
        c.execute_command("RL.POLICY", "LOAD", POLICIES)  # FLUSHALL leaves policies
        results = {}  # (name, keys, pipeline) -> list of (rps, p50, p99, usec, p99_in)
        started = time.time()
        for r in range(args.rounds):
            for keys in ("random", "hot"):
                for pipeline in (1, 16):
                    for name, family, argv, stat, twin in workloads(shas):
                        c.execute_command("FLUSHALL", "SYNC")
                        if name in SETUP:
                            SETUP[name](c, keys)
                        c.config_resetstat()
                        c.execute_command("RL.STATS", "RESET")
                        rps, p50, p99 = bench(port, argv, keys, pipeline, args.requests)
                        sample = (rps, p50, p99, usec_per_call(c, stat), in_server_p99(c, stat),
                                  server_p99(c, stat))
                        results.setdefault((name, keys, pipeline), []).append(sample)
            print(f"round {r + 1}/{args.rounds} done ({time.time() - started:.0f} s)",
                  file=sys.stderr)
        mem_rows, log100 = memory(c)
    counted = {}
    for keys in ("random", "hot"):
        for name, family, argv, stat, twin in workloads(shas):
            # A blocked check needs its keys blocked first, which callgrind would count.
            # SET PX is every ratio's base.
            if (family == "native" or name == "SET PX") \
                    and name not in ("RL.PEEK GCRA", "RL.CHECK blocked") \
                    and not args.no_callgrind:
                counted[(name, keys)] = instructions(argv, keys)
    print(f"callgrind counts done ({time.time() - started:.0f} s)", file=sys.stderr)
    # Saved before anything else can fail: `--rewrite-from` writes the doc from it.
    os.makedirs(os.path.dirname(SAVED), exist_ok=True)
    with open(SAVED, "w") as f:
        json.dump({"rounds": args.rounds, "requests": args.requests, "shas": shas,
                   "results": [[list(k), v] for k, v in results.items()],
                   "counted": [[list(k), v] for k, v in counted.items()],
                   "mem_rows": mem_rows, "log100": log100, "started": started}, f)
    if args.scale_keys:
        # Its own section of benchmarks.md ("## Memory per key at scale"), kept by write().
        subprocess.run([sys.executable, os.path.join(REPO, "benches", "memory_scale.py"),
                        "--keys", str(args.scale_keys), "--module", MODULE,
                        "--doc", os.path.join(args.out, "benchmarks.md")], check=True)
        print(f"memory at scale done ({time.time() - started:.0f} s)", file=sys.stderr)
    write(args, shas, results, mem_rows, log100, started, counted)


def write(args, shas, results, mem_rows, log100, started, counted):
    names = [(w[0], w[1], w[4]) for w in workloads(shas)]
    med = {k: tuple(median([s[i] for s in v]) for i in range(6)) for k, v in results.items()}
    lines = []
    add = lines.append
    add("# Benchmarks")
    add("")
    add("Generated by `make bench` (`python3 benches/server_bench.py --rounds "
        f"{args.rounds} --requests {args.requests}`) on {time.strftime('%Y-%m-%d', time.gmtime(started))}.")
    add(f"Machine: {machine()}. The server and redis-benchmark run pinned to different CPUs")
    add("(`taskset`); one fresh redis-server (no persistence) serves every workload of every")
    add(f"round, FLUSHALL and CONFIG RESETSTAT before each; {CLIENTS} clients; each figure is")
    add(f"the median of {args.rounds} rounds. This machine is shared and noisy: compare the")
    add("ratios measured side by side, not the absolute numbers across runs.")
    add("")
    add("Columns: requests per second and client-side p50/p99 (ms) from redis-benchmark;")
    add("`µs/call`: the server's own time per call from `INFO commandstats` (EVALSHA for the")
    add("Lua twins); `xINCR`, `xSET PX`: that time as a multiple of INCR's and SET PX's in the")
    add("same round set; `xLua`: RL.CHECK's time over its Lua twin's (lower is better);")
    add("`p99 in-server`: RL.STATS's own percentile for the module's command (µs);")
    add("`server p99`: the server's own percentile for every command, from `INFO latencystats`")
    add("(microsecond buckets), so native commands, RL commands and EVALSHA compare directly.")
    lines.extend(targets(med))
    for keys in ("random", "hot"):
        for pipeline in (1, 16):
            incr = med[("INCR", keys, pipeline)][3]
            setpx = med[("SET PX", keys, pipeline)][3]
            add("")
            add(f"## {'Random keys over 100,000 ids' if keys == 'random' else 'One hot key'}, "
                f"{'pipelined (-P 16)' if pipeline == 16 else 'not pipelined'}")
            add("")
            add("| workload | req/s | p50 ms | p99 ms | µs/call | xINCR | xSET PX | xLua | "
                "rps vs Lua | p99 in-server µs | server p99 µs |")
            add("|---|---|---|---|---|---|---|---|---|---|---|")
            for name, family, twin in names:
                rps, p50, p99, usec, p99in, p99server = med[(name, keys, pipeline)]
                xlua = rps_lua = ""
                if twin:
                    t = med[(twin, keys, pipeline)]
                    xlua = f"{usec / t[3]:.2f}"
                    rps_lua = f"{rps / t[0]:.2f}x"
                add(f"| {name} | {rps:,.0f} | {p50:.3f} | {p99:.3f} | {usec:.2f} | "
                    f"{usec / incr:.2f} | {usec / setpx:.2f} | {xlua} | {rps_lua} | "
                    f"{'' if p99in != p99in else f'{p99in:.2f}'} | {p99server:.1f} |")
    lines.extend(whole_requests(counted))
    add("")
    add("## Memory per key")
    add("")
    add(f"`MEMORY USAGE` of one key after one check, and the growth of `used_memory` over "
        f"{KEYSPACE:,} keys")
    add("(key names `m:000000`..., one check each, limit 100 per hour), native against the Lua")
    add("twin's structure")
    add("(a hash for TOKEN_BUCKET and SLIDING_WINDOW, a string for GCRA, a counter per window")
    add("for FIXED_WINDOW, a sorted set for SLIDING_LOG).")
    add("")
    add("| algorithm | native MEMORY USAGE | native per key | Lua MEMORY USAGE | Lua per key |")
    add("|---|---|---|---|---|")
    for a, (n1, nper), (l1, lper) in mem_rows:
        add(f"| {a} | {n1} | {nper:.0f} | {l1} | {lper:.0f} |")
    add("")
    add(f"A full SLIDING_LOG of limit 100: {log100[0]} bytes "
        f"({log100[0] / 100:.1f} per remembered unit) against {log100[1]} bytes for the ZSET "
        f"log ({log100[1] / 100:.1f} per entry).")
    fixed = max(nper for a, (_, nper), _ in mem_rows
                if a in ("TOKEN_BUCKET", "GCRA", "FIXED_WINDOW", "SLIDING_WINDOW"))
    add("")
    add(f"Targets (issue 17): used_memory per key of TOKEN_BUCKET, GCRA, FIXED_WINDOW and "
        f"SLIDING_WINDOW at most 175 bytes: {fixed:.0f} ({'yes' if fixed <= 175 else '**no**'}); "
        f"SLIDING_LOG at most 8 bytes per remembered unit: {log100[0] / 100:.1f} "
        f"({'yes' if log100[0] <= 800 else '**no**'}). MEMORY USAGE counts the key's expiry "
        "entry and its share of the keyspace tables (within 10% of used_memory, "
        "python-tests/test_memory.py). At 1 and 10 million keys, with RDB size and "
        "persistence times: [Memory per key at scale](#memory-per-key-at-scale).")
    add("")
    add("![server µs per call, as a multiple of INCR](benchmarks.png)")
    add("")
    add("## Reproduce")
    add("")
    add("```")
    add("make bench                  # criterion micro-benchmarks, then this server benchmark")
    add(f"python3 benches/server_bench.py --rounds {args.rounds} --requests {args.requests}")
    add("```")
    add("")
    add("The commands each workload sends (`b:__rand_int__` is the random key, `b:hot` the")
    add("hot one; redis-benchmark `-n " + str(args.requests) + "` without pipelining, four")
    add("times that with `-P 16`, `-c " + str(CLIENTS) + " -r " + str(KEYSPACE) + "`):")
    add("")
    for name, family, argv, stat, twin in workloads(shas):
        add(f"- {name}: `{' '.join(argv).replace('{key}', 'b:__rand_int__')}`")
    add("")
    add("The Lua twins are in `benches/server_bench.py` (`LUA`).")
    criterion = criterion_table()
    if criterion:
        add("")
        add("## Micro-benchmarks (criterion)")
        add("")
        add("One decision per algorithm with a manual clock (`cargo bench --no-default-features "
            "--bench algorithms`), limit 100 per second, the clock one millisecond on per call "
            "(`check_*`); a denial recorded in the most-denied sketch (`top_denied_record`); one "
            "lookup in the sketch's ten-name index by hasher (`hash_*`: aHash, which the sketch "
            "uses, against the word hasher it replaced and std's SipHash):")
        add("")
        add("| benchmark | ns per call |")
        add("|---|---|")
        lines.extend(criterion)
    path = os.path.join(args.out, "benchmarks.md")
    # Keep the sections other scripts wrote: `make soak`'s, filter_cost.py's and each
    # client package's benchmark ("## Client: <language>").
    old = open(path).read() if os.path.exists(path) else ""
    for title in ("## Memory per key at scale", "## Soak", "## Command filter cost",
                  "## Client: "):
        start = old.find(title)
        while start >= 0:
            end = old.find("\n## ", start + 1)
            lines += ["", old[start:end if end >= 0 else None].rstrip("\n")]
            start = old.find(title, end + 1) if end >= 0 and title.endswith(": ") else -1
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    chart(args, names, med)


MODES = [("random", 1, "random keys"), ("random", 16, "random, -P 16"), ("hot", 1, "hot key"),
         ("hot", 16, "hot, -P 16")]


def targets(med):
    """The performance targets of the project (issue 7), measured in every mode."""
    out = ["", "## Targets", "",
           "Each cell: the measured figure, and whether it meets the target.", "",
           "| target | " + " | ".join(m[2] for m in MODES) + " |",
           "|---|" + "---|" * len(MODES)]

    def row(label, cell):
        out.append(f"| {label} | " + " | ".join(cell(k, p) for k, p, _ in MODES) + " |")

    def mark(value, ok, fmt):
        return f"{fmt.format(value)} {'yes' if ok else '**no**'}"

    for a in ALGORITHMS:
        limit = 1.8 if a == "SLIDING_LOG" else 1.4
        row(f"{a} µs/call <= {limit}x SET PX's",
            lambda k, p, a=a, limit=limit: mark(
                med[(a, k, p)][3] / med[("SET PX", k, p)][3],
                med[(a, k, p)][3] / med[("SET PX", k, p)][3] <= limit, "{:.2f}x"))
    for a in ALGORITHMS:
        row(f"{a} req/s >= 3x its Lua twin's (pipelined)",
            lambda k, p, a=a: mark(med[(a, k, p)][0] / med[(f"Lua {a}", k, p)][0],
                                   med[(a, k, p)][0] / med[(f"Lua {a}", k, p)][0] >= 3,
                                   "{:.2f}x") if p == 16 else "")
    for name in ("RL.ACQUIRE", "RL.ACQUIRE+RELEASE (RL.RELEASE's µs)", "CALENDAR DAY",
                 "TOKEN_BUCKET AT_MOST", "RL.CHECK+REFUND (RL.REFUND's µs)"):
        row(f"{name} µs/call <= 1.2x TOKEN_BUCKET's",
            lambda k, p, name=name: mark(
                med[(name, k, p)][3] / med[("TOKEN_BUCKET", k, p)][3],
                med[(name, k, p)][3] / med[("TOKEN_BUCKET", k, p)][3] <= 1.2, "{:.2f}x"))
    ratio = (lambda a, b, k, p: med[(a, k, p)][3] / med[(b, k, p)][3])
    for name, base, limit in (("POLICY 1 limit", "GCRA", 1.05),
                              ("POLICY 2 limits", "POLICY 1 limit", 1.3),
                              ("POLICY 2 limits", "RL.MCHECK 2 keys", 0.7)):
        row(f"{name} µs/call <= {limit}x {base}'s",
            lambda k, p, name=name, base=base, limit=limit: mark(
                ratio(name, base, k, p), ratio(name, base, k, p) <= limit, "{:.2f}x"))
    row("RL.CHECK blocked µs/call <= 0.6x TOKEN_BUCKET's",
        lambda k, p: mark(
            med[("RL.CHECK blocked", k, p)][3] / med[("TOKEN_BUCKET", k, p)][3],
            med[("RL.CHECK blocked", k, p)][3] / med[("TOKEN_BUCKET", k, p)][3] <= 0.6,
            "{:.2f}x"))
    for a in ALGORITHMS:
        row(f"{a} in-server p99 <= 5 µs",
            lambda k, p, a=a: mark(med[(a, k, p)][4], med[(a, k, p)][4] <= 5, "{:.2f} µs")
            + f" (SET PX's server p99: {med[('SET PX', k, p)][5]:.1f})")
    return out


def whole_requests(counted):
    """The callgrind table: what commandstats' µs/call leaves out."""
    if not counted or None in counted.values():
        return ["", "## Whole requests", "", "(valgrind missing: not measured)"]
    out = ["", "## Whole requests (callgrind)", "",
           "`INFO commandstats` times the command itself. Part of a check's work happens",
           "before it: on a primary, the module's command filter stamps every RL.CHECK,",
           "RL.MCHECK and RL.ACQUIRE with the arrival time (RL.ACQUIRE's with a lease id too:",
           "read the clock, create the argument, grow argv), which is what lets the command",
           "replicate as itself instead of as an `RL.APPLY` of its result",
           "([replication](replication.md)). So the same workloads are also counted",
           f"in instructions, {CALLGRIND_REQUESTS:,} requests from one client into a fresh",
           "server under valgrind's callgrind: `command` is what commandstats times (Redis's",
           "`call()`), `whole request` is everything after the request is parsed (Redis's",
           "`processCommand()`: command filters, lookup, ACL, the command, propagation).",
           "Instructions are not time, but they are exact and immune to this machine's noise.", "",
           "| workload | keys | command instr | xSET PX | whole request instr | xSET PX |",
           "|---|---|---|---|---|---|"]
    for (name, keys), v in counted.items():
        base = counted[("SET PX", keys)]
        out.append(f"| {name} | {keys} | {v['call']:,.0f} | {v['call'] / base['call']:.2f} | "
                   f"{v['processCommand']:,.0f} | "
                   f"{v['processCommand'] / base['processCommand']:.2f} |")
    # The cost targets of the targets table above, in command instructions (random keys).
    pairs = [(name, base, limit) for name, base, limit in INSTRUCTION_TARGETS
             if (name, "random") in counted and (base, "random") in counted]
    if pairs:
        out += ["", "The cost targets above in command instructions instead of µs (random keys):",
                "", "| workload | against | ratio | target |", "|---|---|---|---|"]
        for name, base, limit in pairs:
            r = counted[(name, "random")]["call"] / counted[(base, "random")]["call"]
            out.append(f"| {name} | {base} | {r:.2f}x | <= {limit}x "
                       f"{'yes' if r <= limit else '**no**'} |")
    return out


# (workload, the workload it is compared with, the most it may cost): issues 15 and 16.
INSTRUCTION_TARGETS = [
    ("RL.ACQUIRE", "TOKEN_BUCKET", 1.2),
    ("CALENDAR DAY", "TOKEN_BUCKET", 1.2),
    ("TOKEN_BUCKET AT_MOST", "TOKEN_BUCKET", 1.2),
    ("POLICY 1 limit", "GCRA", 1.05),
    ("POLICY 2 limits", "POLICY 1 limit", 1.3),
    ("POLICY 2 limits", "RL.MCHECK 2 keys", 0.7),
]


def criterion_table():
    root = os.path.join(REPO, "target", "criterion")
    rows = []
    if not os.path.isdir(root):
        return rows
    import json
    for name in sorted(os.listdir(root)):
        est = os.path.join(root, name, "new", "estimates.json")
        if os.path.exists(est):
            with open(est) as f:
                ns = json.load(f)["median"]["point_estimate"]
            rows.append(f"| {name} | {ns:.1f} |")
    return rows


def chart(args, names, med):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no chart (pip install -r benches/requirements.txt)",
              file=sys.stderr)
        return
    labels = [n for n, _, _ in names]
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.2
    for i, (keys, pipeline) in enumerate([("random", 1), ("random", 16), ("hot", 1),
                                          ("hot", 16)]):
        incr = med[("INCR", keys, pipeline)][3]
        values = [med[(n, keys, pipeline)][3] / incr for n in labels]
        ax.bar([x + i * width for x in range(len(labels))], values, width,
               label=f"{keys} keys, -P {pipeline}")
    ax.set_xticks([x + 1.5 * width for x in range(len(labels))])
    ax.set_xticklabels(labels, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("server µs per call / INCR's")
    ax.set_title("Server time per call, as a multiple of INCR (median of rounds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "benchmarks.png"), dpi=110)


if __name__ == "__main__":
    main()
