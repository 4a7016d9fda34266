"""Sentinel: a primary with two replicas (Redis 7.0, the module loaded) and three
`redis-sentinel` processes. A Sentinel-aware redis-py client checks keys in a steady
stream; the primary is killed (-9); Sentinel promotes a replica and the stream goes
on there. Replication is asynchronous: checks acknowledged by the primary but not yet
sent to a replica are lost with it, so a key can admit its limit plus those checks,
and no more (the loss window of docs/operations.md). The test makes that window
visible by pausing the replicas (SIGSTOP) and dropping their links just before the
kill, and shows that a
client that confirms each admission with `WAIT 1` never admits more than the limit."""

import os
import signal
import subprocess
import time

import pytest
import redis
from redis.sentinel import Sentinel

from helpers import GCRA, attach, free_port, inspect, wait_until

HOUR = 3_600_000
LIMIT = 40
KEYS = [f"api:{i}" for i in range(5)]
NAME = "rl"


class SentinelProcess:
    def __init__(self, tmp, primary_port):
        self.port = free_port()
        self.dir = tmp / f"sentinel-{self.port}"
        self.dir.mkdir()
        conf = self.dir / "sentinel.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"logfile {self.dir / 'sentinel.log'}\n"
            f"sentinel monitor {NAME} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {NAME} 1000\n"
            f"sentinel failover-timeout {NAME} 5000\n"
            f"sentinel parallel-syncs {NAME} 2\n"
        )
        self.proc = subprocess.Popen(["redis-sentinel", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.client = redis.Redis(port=self.port, socket_timeout=5, decode_responses=True)

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def sentinel_setup(server_factory, tmp_path):
    primary = server_factory("redis", name="redis-primary")
    replicas = [server_factory("redis", name=f"redis-replica{i}") for i in range(2)]
    for r in replicas:
        attach(primary, r)
    sentinels = [SentinelProcess(tmp_path, primary.port) for _ in range(3)]
    try:
        for s in sentinels:
            def ready(s=s):
                try:
                    return (len(s.client.sentinel_slaves(NAME)) == 2
                            and len(s.client.sentinel_sentinels(NAME)) == 2)
                except (redis.ConnectionError, redis.ResponseError):
                    return False
            wait_until(ready, timeout=30, what="sentinels to see the replicas and each other")
        yield primary, replicas, sentinels
    finally:
        for s in sentinels:
            s.stop()


def master(sentinels):
    sentinel = Sentinel([("127.0.0.1", s.port) for s in sentinels], socket_timeout=2)
    return sentinel.master_for(NAME, socket_timeout=2, protocol=2)


def checked(c, key, confirm):
    """One RL.CHECK, retried across a failover. With `confirm`, an admission counts
    only once `WAIT 1` says a replica has it; otherwise the client treats it as
    denied (fails closed)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            reply = c.execute_command("RL.CHECK", key, GCRA, LIMIT, HOUR)
            if reply[0] == 1 and confirm:
                return c.execute_command("WAIT", 1, 50) >= 1
            return reply[0] == 1
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
            assert time.monotonic() < deadline, "the stream did not resume after failover"
            time.sleep(0.05)


def run_failover(primary, replicas, sentinels, confirm):
    c = master(sentinels)
    admitted = {k: 0 for k in KEYS}
    # A steady stream, round-robin over the keys, until half of each limit is used.
    for _ in range(LIMIT // 2):
        for key in KEYS:
            admitted[key] += checked(c, key, confirm)
    # Both replicas have all of that. Then they stop (SIGSTOP) and the primary drops
    # their links, so what it acknowledges next reaches no replica: the loss window,
    # made wide. Then the primary dies.
    pc = primary.client()
    assert pc.execute_command("WAIT", 2, 10_000) == 2
    for r in replicas:
        os.kill(r.pid, signal.SIGSTOP)
    assert pc.client_kill_filter(_type="replica") == 2
    in_window = {k: 0 for k in KEYS}
    for _ in range(3):
        for key in KEYS:
            ok = checked(c, key, confirm)
            admitted[key] += ok
            in_window[key] += ok
    primary._kill()
    for r in replicas:
        os.kill(r.pid, signal.SIGCONT)
    started = time.monotonic()
    # The stream goes on: the client finds the promoted replica through Sentinel.
    for _ in range(LIMIT):
        for key in KEYS:
            admitted[key] += checked(c, key, confirm)
    promoted = [r for r in replicas if r.client().info("replication")["role"] == "master"]
    assert len(promoted) == 1, "Sentinel promoted no replica"
    return admitted, in_window, promoted[0], time.monotonic() - started


def test_failover_keeps_limits_within_the_loss_window(sentinel_setup):
    primary, replicas, sentinels = sentinel_setup
    admitted, in_window, promoted, _ = run_failover(primary, replicas, sentinels, confirm=False)
    pc = promoted.client()
    for key in KEYS:
        # The promoted replica never saw the checks of the loss window ...
        assert inspect(pc, key)["admitted"] == LIMIT, key
        assert in_window[key] == 3
        # ... so the key admitted its limit plus exactly those, and nothing more.
        assert admitted[key] == LIMIT + in_window[key], (key, admitted[key])


def test_wait_1_closes_the_loss_window(sentinel_setup):
    primary, replicas, sentinels = sentinel_setup
    admitted, in_window, promoted, _ = run_failover(primary, replicas, sentinels, confirm=True)
    pc = promoted.client()
    for key in KEYS:
        # Nothing was confirmed while the replicas were stopped ...
        assert in_window[key] == 0, key
        # ... and every confirmed admission is on the promoted replica: never above the
        # limit. (Right after the failover, until the other replica follows the new
        # primary, WAIT can time out: those admissions stay unconfirmed.)
        assert LIMIT // 2 < admitted[key] <= LIMIT, (key, admitted[key])
        assert inspect(pc, key)["admitted"] >= admitted[key]
