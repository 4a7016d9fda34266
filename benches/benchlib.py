"""What server_bench.py and soak.py share: the module path, CPU pinning, and one
fresh redis-server with the module on a free port."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import redis

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.environ.get("RL_MODULE") or os.path.join(
    REPO, "target", "release", "libredis_ratelimit.so")


def pinned(cpu, argv):
    """argv run on one CPU (taskset), when there is more than one."""
    return (["taskset", "-c", str(cpu)] if shutil.which("taskset") and os.cpu_count() > 1
            else []) + argv


class Server:
    """redis-server (no persistence) with the module, pinned to CPU 0; a context
    manager that stops it and removes its directory."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="rl-bench-")
        self.proc = subprocess.Popen(
            pinned(0, ["redis-server", "--port", str(self.port), "--save", "",
                       "--appendonly", "no", "--dir", self.dir, "--loadmodule", MODULE]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def client(self, timeout):
        """A RESP2 client, once the server answers PING."""
        c = redis.Redis(port=self.port, socket_timeout=timeout, protocol=2)
        for _ in range(200):
            try:
                c.ping()
                return c
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)
