"""The WSGI middleware on a Flask app and the ASGI middleware on Starlette and FastAPI, over
their HTTP test clients (werkzeug's and httpx's), against a real server with the module."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aredis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from flask import Flask, Response
from servers import Server
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from redis_ratelimit import AsyncRateLimiter, Limit, RateLimiter
from redis_ratelimit.middleware import AsyncRateLimitMiddleware, RateLimitMiddleware


def flask_app(server: Server, limits: object, **kw: object) -> Flask:
    app = Flask(__name__)

    @app.route("/")
    def index() -> str:
        return "ok"

    @app.route("/fail")
    def fail() -> Response:
        return Response("nope", status=500)

    app.wsgi_app = RateLimitMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, RateLimiter(server.client()), limits, prefix=f"t:{uuid.uuid4().hex}:", **kw
    )
    return app


def test_wsgi_headers_and_429(redis_server: Server) -> None:
    c = flask_app(redis_server, Limit("GCRA", 2, "1m")).test_client()
    got = [c.get("/") for _ in range(3)]
    assert [g.status_code for g in got] == [200, 200, 429]
    assert got[0].headers["RateLimit-Policy"] == '"default";q=2;w=60'
    assert got[0].headers["RateLimit"] == '"default";r=1;t=30'
    assert got[2].headers["Retry-After"] == "30"
    assert "Retry-After" not in got[0].headers


def test_wsgi_never_admissible_is_413_without_retry_after(redis_server: Server) -> None:
    c = flask_app(redis_server, Limit("TOKEN_BUCKET", 2, "1m", cost=3)).test_client()
    resp = c.get("/")
    assert resp.status_code == 413 and "Retry-After" not in resp.headers
    assert resp.headers["RateLimit-Policy"] == '"default";q=2;w=60'


def test_wsgi_key_choices(redis_server: Server) -> None:
    c = flask_app(redis_server, Limit("FIXED_WINDOW", 1, "1h"), key="header:X-API-Key").test_client()
    assert c.get("/", headers={"X-API-Key": "a"}).status_code == 200
    assert c.get("/", headers={"X-API-Key": "a"}).status_code == 429
    assert c.get("/", headers={"X-API-Key": "b"}).status_code == 200
    assert c.get("/").status_code == 200  # no key: limited by IP
    c2 = flask_app(redis_server, Limit("FIXED_WINDOW", 1, "1h"), trust_proxy=1).test_client()
    assert c2.get("/", headers={"X-Forwarded-For": "10.0.0.1"}).status_code == 200
    assert c2.get("/", headers={"X-Forwarded-For": "10.0.0.2"}).status_code == 200
    assert c2.get("/", headers={"X-Forwarded-For": "6.6.6.6, 10.0.0.1"}).status_code == 429
    c3 = flask_app(redis_server, Limit("FIXED_WINDOW", 1, "1h"), key=lambda env: env.get("PATH_INFO"),
                   skip=lambda env: env.get("HTTP_X_INTERNAL") == "1").test_client()
    assert c3.get("/").status_code == 200
    assert c3.get("/").status_code == 429
    assert c3.get("/", headers={"X-Internal": "1"}).status_code == 200
    assert c3.get("/fail").status_code == 500  # another path, another key
    # A key function returning None or "" lets the request through, uncounted, without headers.
    for skipped in (None, ""):
        c4 = flask_app(redis_server, Limit("FIXED_WINDOW", 1, "1h"),
                       key=lambda env, k=skipped: env.get("HTTP_X_TENANT", k)).test_client()
        got = [c4.get("/") for _ in range(3)]
        assert [g.status_code for g in got] == [200] * 3 and "RateLimit" not in got[2].headers
        assert [c4.get("/", headers={"X-Tenant": "t"}).status_code for _ in range(2)] == [200, 429]


def test_wsgi_refund_counts_only_failures(redis_server: Server) -> None:
    c = flask_app(redis_server, Limit("SLIDING_LOG", 2, "1h"), refund_when=lambda s: s < 400).test_client()
    assert [c.get("/").status_code for _ in range(5)] == [200] * 5
    assert [c.get("/fail").status_code for _ in range(3)] == [500, 500, 429]


def test_wsgi_several_limits_are_checked_together(redis_server: Server) -> None:
    c = flask_app(redis_server, [Limit("GCRA", 5, "1s"), Limit("FIXED_WINDOW", 3, "1h")]).test_client()
    got = [c.get("/") for _ in range(4)]
    assert [g.status_code for g in got] == [200, 200, 200, 429]
    assert got[0].headers["RateLimit-Policy"] == '"l1";q=5;w=1, "l2";q=3;w=3600'
    assert got[0].headers["RateLimit"].startswith('"l1";r=4;t=')
    assert '"l2";r=2;t=' in got[0].headers["RateLimit"]


def asgi_limiter(server: Server) -> AsyncRateLimiter:
    return AsyncRateLimiter(aredis.Redis(port=server.port))


@pytest.mark.parametrize("framework", ["starlette", "fastapi"])
def test_asgi_headers_429_and_refund(server: Server, framework: str) -> None:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def boom(request: object) -> PlainTextResponse:
        return PlainTextResponse("nope", status_code=503)

    app: Starlette
    if framework == "starlette":
        app = Starlette(routes=[Route("/", ok), Route("/fail", boom)])
    else:
        app = FastAPI()
        app.add_api_route("/", lambda: PlainTextResponse("ok"))
        app.add_api_route("/fail", lambda: PlainTextResponse("nope", status_code=503))
    app.add_middleware(
        AsyncRateLimitMiddleware,  # type: ignore[arg-type]
        limiter=asgi_limiter(server),
        limits=Limit("SLIDING_LOG", 2, "1m"),
        prefix=f"t:{uuid.uuid4().hex}:",
        key="header:X-API-Key",
        refund_when=lambda status: status >= 500,
    )
    with TestClient(app) as c:
        assert [c.get("/fail", headers={"X-API-Key": "k"}).status_code for _ in range(3)] == [503] * 3
        got = [c.get("/", headers={"X-API-Key": "k"}) for _ in range(3)]
        assert [g.status_code for g in got] == [200, 200, 429]
        assert got[0].headers["ratelimit-policy"] == '"default";q=2;w=60'
        assert got[1].headers["ratelimit"] == '"default";r=0;t=60'
        assert got[2].headers["retry-after"] == "60"
        assert c.get("/", headers={"X-API-Key": "other"}).status_code == 200


def test_asgi_several_limits_and_custom_denial(redis_server: Server) -> None:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def denied(scope, receive, send, headers, verdict):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(k.encode(), v.encode()) for k, v in headers]})
        await send({"type": "http.response.body", "body": b"slow down"})

    app = Starlette(routes=[Route("/", ok)])
    app.add_middleware(
        AsyncRateLimitMiddleware,  # type: ignore[arg-type]
        limiter=asgi_limiter(redis_server),
        limits=[Limit("GCRA", 10, "1s"), Limit("SLIDING_WINDOW", 2, "1h")],
        prefix=f"t:{uuid.uuid4().hex}:",
        on_denied=denied,
    )
    with TestClient(app) as c:
        got = [c.get("/") for _ in range(3)]
    assert [g.status_code for g in got] == [200, 200, 503]
    assert got[2].text == "slow down" and "retry-after" in got[2].headers


def test_asgi_never_admissible_is_413(redis_server: Server) -> None:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", ok)])
    app.add_middleware(
        AsyncRateLimitMiddleware,  # type: ignore[arg-type]
        limiter=asgi_limiter(redis_server),
        limits=Limit("GCRA", 2, "1m", cost=5),
        prefix=f"t:{uuid.uuid4().hex}:",
    )
    with TestClient(app) as c:
        resp = c.get("/")
    assert resp.status_code == 413 and "retry-after" not in resp.headers
