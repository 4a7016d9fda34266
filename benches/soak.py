#!/usr/bin/env python3
"""The soak behind `make soak`: a mixed load for a bounded time, and whether memory
and latency stay flat.

Starts one redis-server (Debian's 7.0) with the module and runs five redis-benchmark
processes at once (10 clients each, 50 in all), one per algorithm, looping over
1,000,000 random keys with periods of one to ten seconds, so idle keys keep expiring.
Every interval it samples used_memory, the live limiter keys and RL.CHECK's in-server
p99 for that interval (RL.STATS, reset after each sample). After a warm-up (the first
fifth of the run, while the key population fills up to rate x period), it compares the
second half with the first: the memory per live key (used_memory above the empty
server's, over the live keys: a leak makes it grow even when the throughput, and so the
key count, varies) and the median p99 must not grow by more than the tolerances below. Prints a Markdown section and, with --doc, replaces
the "Soak" section of docs/benchmarks.md with it. Exits non-zero if memory or latency
drifted.

Usage: python3 benches/soak.py [--minutes 10] [--interval 10] [--doc docs/benchmarks.md]
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time


from benchlib import Server, pinned

LOADS = [
    ["RL.CHECK", "s:tb:__rand_int__", "TOKEN_BUCKET", "10", "1000", "BURST", "20"],
    ["RL.CHECK", "s:gcra:__rand_int__", "GCRA", "5", "2000"],
    ["RL.CHECK", "s:fw:__rand_int__", "FIXED_WINDOW", "10", "5000"],
    ["RL.CHECK", "s:sw:__rand_int__", "SLIDING_WINDOW", "10", "3000"],
    ["RL.CHECK", "s:sl:__rand_int__", "SLIDING_LOG", "20", "10000"],
]
MEMORY_TOLERANCE = 1.25  # second-half bytes per live key over first-half
P99_TOLERANCE = 2.0  # second-half median p99 over first-half median p99


def run(args, server):
    """Runs the loads against the server, sampling every interval. Returns the samples
    (elapsed s, used_memory, live keys, checks in the interval, p99 µs), the empty
    server's used_memory, and whether the server and every load stayed up."""
    c = server.client(timeout=30)
    empty = c.info("memory")["used_memory"]
    loads = []
    try:
        for argv in LOADS:
            loads.append(subprocess.Popen(
                pinned(1, ["redis-benchmark", "-p", str(server.port), "-c", "10", "-r",
                           "1000000", "-n", "1000000000", "-l", "-q", *argv]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        samples = []
        start = time.time()
        c.execute_command("RL.STATS", "RESET")
        while time.time() - start < args.minutes * 60:
            time.sleep(args.interval)
            st = c.execute_command("RL.STATS")
            fields = dict(zip(st[::2], st[1::2]))
            c.execute_command("RL.STATS", "RESET")
            samples.append((time.time() - start, c.info("memory")["used_memory"],
                            int(fields[b"keys"]), int(fields[b"checks"]),
                            float(fields[b"check_p99_us"])))
            s = samples[-1]
            print(f"{s[0]:6.0f} s  used_memory {s[1] / 2**20:7.1f} MiB  keys {s[2]:8d}  "
                  f"checks/s {s[3] / args.interval:9.0f}  p99 {s[4]:6.2f} µs", file=sys.stderr)
        alive = all(p.poll() is None for p in loads) and server.proc.poll() is None
        return samples, empty, alive
    finally:
        for p in loads:
            p.send_signal(signal.SIGINT)
        for p in loads:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 10)))
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--doc", default=None)
    args = ap.parse_args()
    with Server() as server:
        samples, empty, alive = run(args, server)
    steady = samples[len(samples) // 5:]
    half = len(steady) // 2
    first, second = steady[:half], steady[half:]

    def per_key(part):
        return statistics.median((s[1] - empty) / max(s[2], 1) for s in part)
    mem_ratio = per_key(second) / per_key(first)
    p99_ratio = statistics.median(s[4] for s in second) / statistics.median(s[4] for s in first)
    ok = alive and mem_ratio <= MEMORY_TOLERANCE and p99_ratio <= P99_TOLERANCE
    section = report(args, samples, mem_ratio, p99_ratio, ok, per_key(steady))
    print(section)
    if args.doc:
        write_section(args.doc, section)
    sys.exit(0 if ok else 1)


def report(args, samples, mem_ratio, p99_ratio, ok, bytes_per_key):
    lines = [
        "## Soak",
        "",
        f"`make soak` (`python3 benches/soak.py --minutes {args.minutes:g}`), "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}: five redis-benchmark processes at once "
        "(50 clients), one per algorithm, over 1,000,000 random keys with periods of 1 to 10 s "
        f"so idle keys keep expiring; a sample every {args.interval:g} s (RL.CHECK's in-server "
        "p99 over that interval only).",
        "",
        "| elapsed s | used_memory MiB | live keys | checks/s | p99 µs |",
        "|---|---|---|---|---|",
    ]
    step = max(1, len(samples) // 12)
    for s in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        lines.append(f"| {s[0]:.0f} | {s[1] / 2**20:.1f} | {s[2]:,} | "
                     f"{s[3] / args.interval:,.0f} | {s[4]:.2f} |")
    lines += [
        "",
        f"After the warm-up (the first fifth), second half against first: memory per live "
        f"key x{mem_ratio:.2f} (limit {MEMORY_TOLERANCE}; {bytes_per_key:.0f} bytes per live "
        f"key overall), median p99 x{p99_ratio:.2f} (limit {P99_TOLERANCE}): "
        f"{'flat' if ok else 'DRIFTED'}. Live keys track the throughput times the periods: "
        "idle keys expire.",
        "",
    ]
    return "\n".join(lines)


def write_section(path, section):
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    start = text.find("## Soak")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
