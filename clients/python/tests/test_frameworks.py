"""Flask-Limiter and SlowAPI, unchanged, on storage_uri="rl+redis://...", over their HTTP test
clients; and limits' strategies on the storage, compared with what the module stores."""

from __future__ import annotations

import uuid

import pytest
import redis
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from flask import Flask
from flask_limiter import Limiter as FlaskLimiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItemPerMinute, parse
from limits.aio import strategies as aio_strategies
from limits.storage import storage_from_string
from limits.strategies import STRATEGIES
from servers import Cluster, Server
from slowapi import Limiter, _rate_limit_exceeded_handler
from slowapi.errors import RateLimitExceeded
from slowapi.util import get_remote_address as slow_remote

from redis_ratelimit import RateLimiter
from redis_ratelimit.limits_storage import RateLimitClusterStorage, RateLimitStorage

STRATEGY_NAMES = ["fixed-window", "moving-window", "sliding-window-counter"]


def flask_app(uri: str, strategy: str, **kw: object) -> tuple[Flask, FlaskLimiter]:
    app = Flask(__name__)
    limiter = FlaskLimiter(get_remote_address, app=app, storage_uri=uri, strategy=strategy,
                           headers_enabled=True, key_prefix=uuid.uuid4().hex, **kw)

    @app.route("/one")
    @limiter.limit("3/minute")
    def one() -> str:
        return "ok"

    @app.route("/two")
    @limiter.limit("2/second;4/minute")
    def two() -> str:
        return "ok"

    return app, limiter


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_flask_limiter_on_rl_redis(server: Server, strategy: str) -> None:
    app, limiter = flask_app(f"rl+redis://127.0.0.1:{server.port}", strategy)
    assert isinstance(limiter._storage, RateLimitStorage)
    c = app.test_client()
    got = [c.get("/one") for _ in range(4)]
    assert [g.status_code for g in got] == [200, 200, 200, 429]
    assert [g.headers["X-RateLimit-Remaining"] for g in got[:3]] == ["2", "1", "0"]
    assert got[0].headers["X-RateLimit-Limit"] == "3"
    assert int(got[3].headers["Retry-After"]) >= 1
    # The limiter keys are the module's: RL.INSPECT reads them.
    r = server.client()
    keys = [k for k in r.scan_iter(match="LIMITS:*") if limiter._key_prefix.encode() in k]
    assert keys and all(RateLimiter(r).inspect(k) is not None for k in keys)


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_flask_limiter_multi_limit_decorator(redis_server: Server, strategy: str) -> None:
    app, _ = flask_app(f"rl+redis://127.0.0.1:{redis_server.port}", strategy)
    c = app.test_client()
    codes = [c.get("/two").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_flask_limiter_in_memory_fallback_when_the_server_is_gone() -> None:
    victim = Server("redis")
    try:
        app, _ = flask_app(f"rl+redis://127.0.0.1:{victim.port}", "moving-window",
                                 in_memory_fallback_enabled=True)
        c = app.test_client()
        assert c.get("/one").status_code == 200
        victim.kill()
        # Our storage raises (on_unavailable="raise" by default) so Flask-Limiter's own
        # fallback takes over, as with its redis:// storage.
        assert [c.get("/one").status_code for _ in range(4)] == [200, 200, 200, 429]
    finally:
        victim.close()


def test_slowapi_on_fastapi_with_rl_redis(server: Server) -> None:
    limiter = Limiter(key_func=slow_remote, storage_uri=f"rl+redis://127.0.0.1:{server.port}",
                      strategy="moving-window", headers_enabled=True, key_prefix=uuid.uuid4().hex)
    app = FastAPI()
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]

    @app.get("/items")
    @limiter.limit("2/minute")
    async def items(request: Request, response: Response) -> dict[str, str]:
        return {"ok": "yes"}

    with TestClient(app) as c:
        got = [c.get("/items") for _ in range(3)]
    assert [g.status_code for g in got] == [200, 200, 429]
    assert got[1].headers["X-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_strategies_on_the_cluster_storage(cluster: Cluster, strategy: str) -> None:
    storage = storage_from_string(f"rl+redis+cluster://127.0.0.1:{cluster.port}")
    assert isinstance(storage, RateLimitClusterStorage)
    limiter = STRATEGIES[strategy](storage)
    item = parse("5/minute")
    ids = [f"user{i}" for i in range(20)]
    for i in ids:
        assert [limiter.hit(item, i) for _ in range(6)] == [True] * 5 + [False]
        assert limiter.get_window_stats(item, i).remaining == 0
    assert storage.reset() >= 20
    assert limiter.get_window_stats(item, ids[0]).remaining == 5


async def test_async_strategies_on_async_rl_redis(redis_server: Server) -> None:
    storage = storage_from_string(f"async+rl+redis://127.0.0.1:{redis_server.port}",
                                  key_prefix=uuid.uuid4().hex)
    item = RateLimitItemPerMinute(3)
    for cls in (aio_strategies.FixedWindowRateLimiter, aio_strategies.MovingWindowRateLimiter,
                aio_strategies.SlidingWindowCounterRateLimiter):
        lim = cls(storage)
        assert [await lim.hit(item, "u") for _ in range(4)] == [True, True, True, False]
        assert (await lim.get_window_stats(item, "u")).remaining == 0
        await lim.clear(item, "u")
        assert await lim.test(item, "u")


def test_moving_window_denials_charge_nothing_unlike_limits_fixed_counter(redis_server: Server) -> None:
    """The moving window (SLIDING_LOG) charges only admitted hits; limits' fixed window
    counts every hit (incr), which the storage keeps: both as limits' own Redis storage."""
    prefix = uuid.uuid4().hex
    storage = storage_from_string(f"rl+redis://127.0.0.1:{redis_server.port}", key_prefix=prefix)
    item = RateLimitItemPerMinute(2)
    moving, fixed = STRATEGIES["moving-window"](storage), STRATEGIES["fixed-window"](storage)
    for _ in range(5):
        moving.hit(item, "m")
        fixed.hit(item, "f")
    r = redis.Redis(port=redis_server.port)
    mw = RateLimiter(r).inspect(f"{prefix}:mw:{item.key_for('m')}")
    fw = RateLimiter(r).inspect(f"{prefix}:fw:{item.key_for('f')}")
    assert mw is not None and (mw.admitted, mw.denied) == (2, 3)
    assert fw is not None and fw.admitted == 5
    assert storage.get(item.key_for("f")) == 5


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_side_by_side_with_limits_own_redis_storage(redis_server: Server, strategy: str) -> None:
    """During a rolling switch both storages run on one server with the default prefix:
    their keys never collide (limits' LIMITS:<key> strings and lists, the module's
    LIMITS:<fw|mw|sw>:<key>)."""
    item = RateLimitItemPerMinute(2)
    ident = uuid.uuid4().hex
    theirs = STRATEGIES[strategy](storage_from_string(f"redis://127.0.0.1:{redis_server.port}"))
    ours = STRATEGIES[strategy](storage_from_string(f"rl+redis://127.0.0.1:{redis_server.port}"))
    for lim in (theirs, ours, theirs, ours, theirs, ours):
        lim.hit(item, ident)
    assert not theirs.test(item, ident) and not ours.test(item, ident)
    assert ours.get_window_stats(item, ident).remaining == 0
