"""The server SIGKILLed under load: the breaker opens, each on_unavailable policy answers,
half-open probes, and the same process recovers when the server restarts on its port."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Callable

import pytest
import redis
import redis.asyncio as aredis
from servers import Server

from redis_ratelimit import (
    AsyncRateLimiter,
    BreakerOptions,
    Decision,
    Limit,
    RateLimiter,
    UnavailableError,
)
from redis_ratelimit.resilience import CLOSED, HALF_OPEN, OPEN

FAST_BREAKER = BreakerOptions(failures=3, window=10, cooldown=0.6, probes=1)


@pytest.fixture
def victim() -> Iterator[Server]:
    s = Server("redis")
    yield s
    s.close()


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


class Load:
    """Threads checking keys in a loop, recording every decision (or error)."""

    def __init__(self, rl: RateLimiter, lim: Limit, threads: int = 3) -> None:
        self.rl, self.lim = rl, lim
        self.results: list[tuple[float, object]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self, i: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                out: object = self.rl.check(f"load:{i}:{n % 50}", self.lim)
            except Exception as e:
                out = e
            with self._lock:
                self.results.append((time.monotonic(), out))
            time.sleep(0.002)

    def since(self, t: float) -> list[object]:
        with self._lock:
            return [o for ts, o in self.results if ts >= t]

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def sources(outs: list[object]) -> set[str]:
    return {o.source for o in outs if isinstance(o, Decision)}


def test_open_policy_breaker_half_open_and_recovery(victim: Server) -> None:
    rl = RateLimiter(victim.client(), timeout=0.2, breaker=FAST_BREAKER, on_unavailable="open")
    # Every transition, as it happens: half-open lasts only as long as one failing probe.
    transitions: list[int] = []
    assert rl._core.breaker is not None
    rl._core.breaker.on_change = transitions.append
    load = Load(rl, Limit("GCRA", 1000, "1s"))
    try:
        assert wait_for(lambda: len(load.results) > 30)
        assert sources(load.since(0)) == {"server"}
        victim.kill()
        killed = time.monotonic()
        assert wait_for(lambda: rl.breaker_state == "open")
        time.sleep(0.1)
        after = load.since(killed + 0.05)
        assert after and all(isinstance(o, Decision) and o.allowed for o in after)
        assert sources(after) == {"fallback"}
        # Cooldown over: one probe goes out, fails against the dead server, and opens it again.
        assert wait_for(lambda: transitions[:3] == [OPEN, HALF_OPEN, OPEN], 5), transitions
        victim.start()
        restarted = time.monotonic()
        assert wait_for(lambda: "server" in sources(load.since(restarted)), 10)
        assert rl.breaker_state == "closed"
        # Recovery went through a successful half-open probe.
        assert transitions[-2:] == [HALF_OPEN, CLOSED], transitions
    finally:
        load.stop()
    assert not [o for o in load.results if isinstance(o, Exception)]


def test_closed_policy_denies_with_the_cooldown_left(victim: Server) -> None:
    rl = RateLimiter(victim.client(), timeout=0.2, breaker=FAST_BREAKER, on_unavailable="closed")
    load = Load(rl, Limit("TOKEN_BUCKET", 1000, "1s"))
    try:
        assert wait_for(lambda: len(load.results) > 30)
        victim.kill()
        killed = time.monotonic()
        assert wait_for(lambda: rl.breaker_state == "open")
        time.sleep(0.1)
        after = load.since(killed + 0.05)
        assert after and all(isinstance(o, Decision) and not o.allowed for o in after)
        assert all(0 < o.retry_after_ms <= 600 for o in after if isinstance(o, Decision))
        victim.start()
        restarted = time.monotonic()
        assert wait_for(lambda: "server" in sources(load.since(restarted)), 10)
    finally:
        load.stop()


def test_local_policy_enforces_the_limit_in_process(victim: Server) -> None:
    rl = RateLimiter(victim.client(), timeout=0.2, breaker=FAST_BREAKER, on_unavailable="local")
    lim = Limit("SLIDING_LOG", 5, "1h")
    load = Load(rl, Limit("GCRA", 1000, "1s"), threads=2)
    try:
        assert wait_for(lambda: len(load.results) > 20)
        victim.kill()
        assert wait_for(lambda: rl.breaker_state == "open")
        got = [rl.check("fresh-key", lim) for _ in range(7)]
        assert [d.allowed for d in got] == [True] * 5 + [False] * 2
        assert sources(list(got)) == {"fallback"}
        assert got[-1].retry_after_ms > 0
        victim.start()
        assert wait_for(lambda: rl.check("other", lim).source == "server", 10)
    finally:
        load.stop()


def test_raise_policy_and_the_error_class(victim: Server) -> None:
    rl = RateLimiter(victim.client(), timeout=0.2, breaker=FAST_BREAKER, on_unavailable="raise")
    assert rl.check("k", Limit("GCRA", 1, "1s")).allowed
    victim.kill()
    for _ in range(3):
        with pytest.raises(UnavailableError):
            rl.check("k", Limit("GCRA", 1, "1s"))
    assert rl.breaker_state == "open"
    with pytest.raises(UnavailableError, match="breaker open"):
        rl.check("k", Limit("GCRA", 1, "1s"))


def test_timeout_answers_before_a_stalled_server(victim: Server) -> None:
    rl = RateLimiter(victim.client(), timeout=0.1, breaker=False, on_unavailable="closed")
    lim = Limit("GCRA", 10, "1s")
    assert rl.check("k", lim).source == "server"
    sleeper = threading.Thread(target=lambda: victim.client().execute_command("DEBUG", "SLEEP", "2"))
    sleeper.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    d = rl.check("k", lim)
    elapsed = time.monotonic() - t0
    sleeper.join()
    assert d.source == "fallback" and not d.allowed
    assert elapsed < 1.5  # the server answered only after 2 s
    assert wait_for(lambda: rl.check("k", lim).source == "server")


def test_denial_cache_answers_without_the_server(victim: Server) -> None:
    rl = RateLimiter(victim.client(), denial_cache=True, on_unavailable="raise", breaker=False)
    lim = Limit("FIXED_WINDOW", 1, "1h")
    assert rl.check("u", lim).allowed
    denied = rl.check("u", lim)
    assert not denied.allowed and denied.source == "server"
    victim.kill()  # from now on only the cache can answer
    cached = rl.check("u", lim)
    assert (cached.allowed, cached.source) == (False, "cache")
    assert 0 < cached.retry_after_ms <= denied.retry_after_ms
    with pytest.raises(UnavailableError):
        rl.check("someone-else", lim)


def test_server_errors_never_trip_the_breaker(victim: Server) -> None:
    r = victim.client()
    rl = RateLimiter(r, breaker=FAST_BREAKER)
    r.set("s", "x")
    for _ in range(10):
        with pytest.raises(Exception, match="WRONGTYPE"):
            rl.check("s", Limit("GCRA", 1, "1s"))
    assert rl.breaker_state == "closed"


def test_async_client_falls_back_and_recovers(victim: Server) -> None:
    async def run() -> None:
        rl = AsyncRateLimiter(aredis.Redis(port=victim.port), timeout=0.2, breaker=FAST_BREAKER)
        lim = Limit("GCRA", 100, "1s")
        assert (await rl.check("a", lim)).source == "server"
        victim.kill()
        seen = [await rl.check("a", lim) for _ in range(5)]
        assert all(d.allowed and d.source == "fallback" for d in seen)
        assert rl.breaker_state == "open"
        await asyncio.to_thread(victim.start)
        deadline = time.monotonic() + 10
        while (await rl.check("a", lim)).source != "server":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)

    asyncio.run(run())


def test_unreachable_port_is_unavailable() -> None:
    rl = RateLimiter(redis.Redis(port=1), on_unavailable="raise", breaker=False)
    with pytest.raises(UnavailableError):
        rl.check("k", Limit("GCRA", 1, "1s"))
