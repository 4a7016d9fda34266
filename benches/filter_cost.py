"""What the module's command filter costs every other command (`make bench`).

A command filter runs for every command the server executes. This counts, with
valgrind's callgrind, the instructions per command inside the server's
`processCommand()` (command filters, lookup, ACL, the command, propagation) for
pipelined native commands under three servers:

- `plain`: redis-server with no module;
- `empty filter`: a module whose filter does nothing, built here from a few lines of C
  (the server's own cost of having any filter at all);
- `module`: redis-server with this module.

and, for comparison, RL.CHECK under the module. Instructions are exact and immune to
the shared machine's noise. Writes the "Command filter cost" section of
docs/benchmarks.md (replacing it, keeping the rest of the file).

Usage: python3 benches/filter_cost.py [--requests 30000] [--server redis-server]
                                      [--module path.so] [--doc docs/benchmarks.md]
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import MODULE, REPO

# The workloads: (label, argv). One hot key each, so the figure is the filter's and the
# command's, not the key space's.
NATIVE = [
    ("GET", ["GET", "fc:k"]),
    ("INCR", ["INCR", "fc:n"]),
    ("HGET", ["HGET", "fc:h", "f"]),
    ("HSET", ["HSET", "fc:h", "f", "v"]),  # four arguments: reads its name (RL.ACQUIRE's count)
    ("SET PX", ["SET", "fc:k", "v", "PX", "60000"]),
]
RL_CHECK = ("RL.CHECK", ["RL.CHECK", "fc:rl", "GCRA", "1000000", "1000"])

SECTION = "## Command filter cost"

# The empty filter: the smallest module that registers a command filter. Only the two
# API functions it calls are declared; the server hands them out through GetApi, whose
# address is the first word of the load context (as redismodule.h's RedisModule_Init
# reads it).
EMPTY_FILTER_C = r"""
typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleCommandFilterCtx RedisModuleCommandFilterCtx;
typedef void (*Filter)(RedisModuleCommandFilterCtx *);
static void empty(RedisModuleCommandFilterCtx *f) { (void)f; }
int RedisModule_OnLoad(RedisModuleCtx *ctx, void **argv, int argc) {
    (void)argv; (void)argc;
    int (*get_api)(const char *, void *) = ((void **)ctx)[0];
    void (*attribs)(RedisModuleCtx *, const char *, int, int);
    void *(*reg)(RedisModuleCtx *, Filter, int);
    if (get_api("RedisModule_SetModuleAttribs", (void *)&attribs) ||
        get_api("RedisModule_RegisterCommandFilter", (void *)&reg))
        return 1;
    attribs(ctx, "emptyfilter", 1, 1);
    return reg(ctx, empty, 0) ? 0 : 1;
}
"""


def build_empty_filter(d):
    src = os.path.join(d, "emptyfilter.c")
    out = os.path.join(d, "emptyfilter.so")
    with open(src, "w") as f:
        f.write(EMPTY_FILTER_C)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", out, src], check=True, timeout=60)
    return out


def resp(argv):
    out = [f"*{len(argv)}\r\n".encode()]
    for a in argv:
        a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args, stdin=None, timeout=600):
    return subprocess.run(["redis-cli", "-p", str(port), *args], input=stdin,
                          capture_output=True, timeout=timeout)


def per_command(server, module, argv, requests):
    """Instructions per command, as (inside processCommand, inside the server's filter
    pass moduleCallCommandFilters): `requests` copies of `argv` sent pipelined by
    `redis-cli --pipe` into a fresh server under callgrind. The count leaves out the
    SHUTDOWN that ends the run; the one PING that waits for the server and the ECHO
    that `--pipe` appends are in it (under 0.1 instructions per command)."""
    with tempfile.TemporaryDirectory(prefix="rl-fc-") as d:
        port = free_port()
        data = os.path.join(d, "cg.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={data}",
               "--collect-atstart=no", "--toggle-collect=processCommand",
               server, "--port", str(port), "--save", "", "--appendonly", "no",
               "--dir", d]
        if module:
            cmd += ["--loadmodule", module]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 120
            while cli(port, "PING", timeout=10).stdout.strip() != b"PONG":
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{server} did not start under valgrind")
                time.sleep(0.2)
            piped = cli(port, "--pipe", stdin=resp(argv) * requests)
            if piped.returncode != 0 or b"errors: 0" not in piped.stdout:
                raise RuntimeError(f"{argv[0]}: {piped.stdout!r} {piped.stderr!r}")
            cli(port, "SHUTDOWN", "NOSAVE", timeout=60)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        report = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", data],
                                capture_output=True, text=True, timeout=120).stdout
    total = shutdown = filters = 0
    for line in report.splitlines():
        fields = line.split()
        if not fields or not fields[0][0].isdigit():
            continue
        count = int(fields[0].replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = count
        elif ":shutdownCommand " in line:
            shutdown = count
        elif ":moduleCallCommandFilters " in line:
            filters = count
    return (total - shutdown) / requests, filters / requests


def version(server):
    out = subprocess.run([server, "--version"], capture_output=True, text=True).stdout
    return " ".join(out.split()[:3])


def table(rows, args):
    """The markdown section; rows: {label: {"plain"|"empty"|"module": (whole, filters)}}."""
    out = [SECTION, "",
           f"Generated by `make bench` (`python3 benches/filter_cost.py --requests "
           f"{args.requests}`) on {time.strftime('%Y-%m-%d', time.gmtime())}, "
           f"{version(args.server)}.",
           "A module's command filter runs for every command the server executes, RL or",
           "not. Instructions per command, counted by valgrind's callgrind over "
           f"{args.requests:,}",
           "pipelined copies of one command (`redis-cli --pipe`, one hot key) into a fresh",
           "server: with no module (`plain`), with a module whose filter does nothing",
           "(`empty`: a few lines of C the script builds; the server's own cost of having a",
           "filter) and with this module. `request` is everything in the server's",
           "`processCommand()` (filters, lookup, ACL, the command, propagation); `filter",
           "pass` is the part in `moduleCallCommandFilters()`, the only place a filter",
           "runs. The filter pass figures are exact and repeat run to run; the request",
           "figures move by a few tens of instructions between runs with where the",
           "arguments land in memory (libc's string compares count differently), so",
           "compare the filter pass columns. Instructions are not time.", "",
           "| command | argc | request: plain | empty | module | module - empty | "
           "filter pass: plain | empty | module | module - empty |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    argcs = dict((label, len(argv)) for label, argv in NATIVE + [RL_CHECK])
    for label, r in rows.items():
        m = r["module"]
        if "plain" not in r:
            out.append(f"| {label} | {argcs[label]} |  |  | {m[0]:,.0f} |  |  |  | "
                       f"{m[1]:,.0f} |  |")
            continue
        p, e = r["plain"], r["empty"]
        out.append(f"| {label} | {argcs[label]} | {p[0]:,.0f} | {e[0]:,.0f} | {m[0]:,.0f} | "
                   f"{m[0] - e[0]:+,.0f} | {p[1]:,.0f} | {e[1]:,.0f} | {m[1]:,.0f} | "
                   f"{m[1] - e[1]:+,.0f} |")
    return out


def write_section(path, lines):
    """Replaces the section in `path` (or appends it), keeping everything else."""
    old = open(path).read() if os.path.exists(path) else ""
    start = old.find(SECTION)
    if start >= 0:
        end = old.find("\n## ", start + 1)
        rest = old[end + 1:] if end >= 0 else ""
        new = old[:start] + "\n".join(lines) + "\n" + ("\n" + rest if rest else "")
    else:
        new = old.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(new)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=30_000)
    ap.add_argument("--server", default="redis-server")
    ap.add_argument("--module", default=MODULE)
    ap.add_argument("--doc", default=os.path.join(REPO, "docs", "benchmarks.md"))
    ap.add_argument("--no-doc", action="store_true", help="print the table only")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind not found (make deps-bench)")
    started = time.time()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="rl-fc-build-") as d:
        empty = build_empty_filter(d)
        for label, argv in NATIVE:
            rows[label] = {name: per_command(args.server, module, argv, args.requests)
                           for name, module in (("plain", None), ("empty", empty),
                                                ("module", args.module))}
            print(f"{label}: {rows[label]}", file=sys.stderr)
    label, argv = RL_CHECK
    rows[label] = {"module": per_command(args.server, args.module, argv, args.requests)}
    print(f"{label}: {rows[label]} ({time.time() - started:.0f} s)", file=sys.stderr)
    lines = table(rows, args)
    print("\n".join(lines))
    if not args.no_doc:
        write_section(args.doc, lines)


if __name__ == "__main__":
    main()
