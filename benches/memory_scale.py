#!/usr/bin/env python3
"""Memory and persistence at scale (issue 17): fills one server with --keys keys of
each kind in turn (plain SET PX strings, the integer-string GCRA time stamp that
redis-cell and Lua GCRA scripts keep, and RL.CHECK keys of each algorithm), then
reports per kind: used_memory per key, MEMORY USAGE of a key, RDB bytes per key, the
time of SAVE and of DEBUG RELOAD (save and load).

    python3 benches/memory_scale.py [--keys 1000000] [--module target/release/...so]
                                    [--server /usr/bin/redis-server] [--doc docs/benchmarks.md]

Keys are `rl:00000000`... (11 bytes), each written once (limit 10 per day: no key
expires during the run). The
server is started here with the module (`--save '' --appendonly no`, its own temp
dir) and stopped by PID. With --doc, the table for this key count replaces its
table in the "## Memory per key at scale" section (other key counts' tables stay).
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HOUR = 3_600_000
# Limiter keys rest (and expire) long after the run: 10 per day.
LIMIT, DAY = 10, 24 * HOUR
SECTION = "## Memory per key at scale"

KINDS = [
    ("SET PX (plain string with expiry)", lambda i: ["SET", key(i), "v", "PX", HOUR]),
    ("GCRA time stamp as an integer string with PX (redis-cell, Lua GCRA)",
     lambda i: ["SET", key(i), 1_764_633_600_000_000 + i, "PX", HOUR]),
    ("RL.CHECK TOKEN_BUCKET", lambda i: ["RL.CHECK", key(i), "TOKEN_BUCKET", LIMIT, DAY]),
    ("RL.CHECK GCRA", lambda i: ["RL.CHECK", key(i), "GCRA", LIMIT, DAY]),
    ("RL.CHECK FIXED_WINDOW", lambda i: ["RL.CHECK", key(i), "FIXED_WINDOW", LIMIT, DAY]),
    ("RL.CHECK SLIDING_WINDOW", lambda i: ["RL.CHECK", key(i), "SLIDING_WINDOW", LIMIT, DAY]),
    ("RL.CHECK SLIDING_LOG (one unit)",
     lambda i: ["RL.CHECK", key(i), "SLIDING_LOG", LIMIT, DAY]),
]


def key(i):
    return f"rl:{i:08d}"


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(port, n, make):
    """Writes n commands through `redis-cli --pipe` (mass insertion)."""
    p = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    chunk = []
    for i in range(n):
        chunk.append(resp(make(i)))
        if len(chunk) == 10_000:
            p.stdin.write(b"".join(chunk))
            chunk = []
    p.stdin.write(b"".join(chunk))
    p.stdin.close()
    out = p.stdout.read().decode()
    p.wait()
    m = re.search(r"errors: (\d+), replies: (\d+)", out)
    assert m and m.group(1) == "0" and int(m.group(2)) == n, out


def measure(r, port, rdb, n, make, repeat):
    base = r.info("memory")["used_memory"]
    fill(port, n, make)
    assert r.dbsize() == n, r.dbsize()
    grown = r.info("memory")["used_memory"] - base
    sample = [key(i) for i in range(0, n, max(1, n // 1000))]
    usage = sum(r.memory_usage(k, samples=0) for k in sample) / len(sample)
    # The fastest of `repeat` runs: the one other load on the machine disturbed least.
    save_s = reload_s = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        r.save()
        save_s = min(save_s, time.perf_counter() - t)
        rdb_bytes = os.path.getsize(rdb)
        t = time.perf_counter()
        r.execute_command("DEBUG", "RELOAD")
        reload_s = min(reload_s, time.perf_counter() - t)
        assert r.dbsize() == n
    return grown / n, usage, rdb_bytes / n, save_s, reload_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--module", default=os.path.join(REPO, "target", "release",
                                                     "libredis_ratelimit.so"))
    ap.add_argument("--server", default="/usr/bin/redis-server")
    ap.add_argument("--doc", help="write the table into this Markdown file")
    ap.add_argument("--label", default="", help="a note after the table's title")
    ap.add_argument("--repeat", type=int, default=3,
                    help="SAVE and DEBUG RELOAD each this many times; the fastest counts")
    args = ap.parse_args()
    rows = run(args)
    table = format_table(args, rows)
    print("\n".join(table))
    if args.doc:
        write_doc(args.doc, table)


def run(args):
    """One fresh server per kind (a flushed server keeps some of what it freed)."""
    rows, version = [], None
    for name, make in KINDS:
        started = time.time()
        with Server(args) as (r, port, rdb):
            rows.append((name, *measure(r, port, rdb, args.keys, make, args.repeat)))
            version = r.info("server").get("redis_version")
        print(f"{name}: {rows[-1][1:]} ({time.time() - started:.0f} s)", file=sys.stderr)
    return rows + [version]


class Server:
    """A server with the module on a free port in its own temp dir, stopped by PID."""

    def __init__(self, args):
        self.args = args

    def __enter__(self):
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="rl-memscale-")
        argv = [self.args.server, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.tmp, "--save", "", "--appendonly", "no",
                "--enable-debug-command", "yes",
                "--loadmodule", os.path.abspath(self.args.module)]
        self.log = open(os.path.join(self.tmp, "server.log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        r = redis.Redis(port=self.port, socket_timeout=3600)
        for _ in range(200):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        return r, self.port, os.path.join(self.tmp, "dump.rdb")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def format_table(args, rows):
    version = rows.pop()
    gcra_int = rows[1]
    out = [f"### {args.keys:,} keys{(' (' + args.label + ')') if args.label else ''}", "",
           f"`python3 benches/memory_scale.py --keys {args.keys}` on "
           f"{os.path.basename(args.server)} {version} (limiter keys: limit 10 per day): `used_memory` growth per key, "
           "MEMORY USAGE (mean of 1,000 keys), the RDB file per key, SAVE and DEBUG "
           f"RELOAD of the whole data set (the fastest of {args.repeat}); the last two columns as multiples of the "
           "integer-string GCRA key's.", "",
           "| keys of | used_memory / key | MEMORY USAGE | RDB bytes / key | SAVE s | "
           "DEBUG RELOAD s | SAVE x | RELOAD x |",
           "|---|---|---|---|---|---|---|---|"]
    for name, per_key, usage, rdb, save_s, reload_s in rows:
        out.append(f"| {name} | {per_key:.0f} | {usage:.0f} | {rdb:.1f} | {save_s:.2f} | "
                   f"{reload_s:.2f} | {save_s / gcra_int[4]:.2f} | {reload_s / gcra_int[5]:.2f} |")
    return out


def write_doc(path, table):
    old = open(path).read() if os.path.exists(path) else ""
    title = table[0] + "\n"  # this run's "### N keys [(label)]" line, matched whole
    start = old.find(SECTION)
    if start < 0:
        intro = [SECTION, "",
                 "Issue 17's targets: used_memory per key at most 175 B and RDB at most 48 "
                 "bytes per key for TOKEN_BUCKET, GCRA, FIXED_WINDOW and SLIDING_WINDOW; "
                 "SAVE and load at most 1.3x the integer-string GCRA key's. "
                 "`make bench` runs 1 million keys; `make bench-scale` 10 million.",
                 ""]
        old = old.rstrip("\n") + "\n\n" + "\n".join(intro) + "\n"
        start = old.find(SECTION)
    end = old.find("\n## ", start + 1)
    end = len(old) if end < 0 else end
    section = old[start:end]
    t = section.find(title)
    block = "\n".join(table) + "\n\n"
    if t >= 0:
        t_end = section.find("\n### ", t + 1)
        t_end = len(section) if t_end < 0 else t_end + 1
        section = section[:t] + block + section[t_end:]
    else:
        section = section.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(old[:start] + section.rstrip("\n") + "\n" + old[end:])


if __name__ == "__main__":
    main()
