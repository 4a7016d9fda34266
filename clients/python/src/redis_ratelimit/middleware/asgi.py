"""ASGI middleware (Starlette, FastAPI, any ASGI app):

    app.add_middleware(AsyncRateLimitMiddleware, limiter=AsyncRateLimiter(r),
                       limits=Limit("GCRA", 100, "1m"))

The same options as the WSGI middleware; functions get the ASGI ``scope``. The client IP is
``scope["client"]``, which the server's own proxy setting (uvicorn ``--proxy-headers``
``--forwarded-allow-ips``) already rewrites; ``trust_proxy=N`` reads X-Forwarded-For instead.
Only ``http`` requests are limited (websocket and lifespan pass through).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Optional, Sequence, Union

from ..aio import AsyncRateLimiter
from ..errors import UnavailableError
from ..model import LimitLike
from .common import KeyChoice, Policy, Verdict

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
OnDenied = Callable[[Scope, Receive, Send, list[tuple[str, str]], Verdict], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> Optional[str]:
    for k, v in scope.get("headers") or ():
        if k.lower() == name:
            return bytes(v).decode("latin-1")
    return None


class AsyncRateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        limiter: AsyncRateLimiter,
        limits: Union[LimitLike, Sequence[LimitLike]],
        *,
        key: KeyChoice = "ip",
        prefix: str = "rl:http:",
        trust_proxy: int = 0,
        skip: Optional[Callable[[Scope], bool]] = None,
        refund_when: Optional[Callable[[int], bool]] = None,
        on_denied: Optional[OnDenied] = None,
    ) -> None:
        self.app, self.limiter = app, limiter
        self.policy = Policy(limits, key=key, prefix=prefix, trust_proxy=trust_proxy, skip=skip,
                             refund_when=refund_when)
        self.on_denied = on_denied

    def identify(self, scope: Scope) -> Optional[str]:
        p = self.policy
        if callable(p.key):
            return p.key(scope)
        if p.header:
            value = _header(scope, p.header.lower().encode())
            if value:
                return f"key:{value}"
        client = scope.get("client")
        peer = client[0] if client else None
        return "ip:" + p.client_ip(peer, _header(scope, b"x-forwarded-for"))

    async def decide(self, ident: str) -> Verdict:
        p = self.policy
        keys = p.keys(ident)
        if len(keys) == 1:
            return Verdict.of(await self.limiter.check(keys[0], p.limits[0]), keys, p.costs)
        return Verdict.of(await self.limiter.mcheck(list(zip(keys, p.limits))), keys, p.costs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        p = self.policy
        if scope.get("type") != "http" or (p.skip is not None and p.skip(scope)):
            await self.app(scope, receive, send)
            return
        ident = self.identify(scope)
        if not ident:  # None or "": not limited
            await self.app(scope, receive, send)
            return
        verdict = await self.decide(ident)
        headers = p.headers(verdict)
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if not verdict.allowed:
            if self.on_denied is not None:
                await self.on_denied(scope, receive, send, headers, verdict)
                return
            code, _, body = p.denial(verdict)
            await send({"type": "http.response.start", "status": code,
                        "headers": [*raw, (b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})
            return
        status: list[int] = []

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
                message = {**message, "headers": [*message.get("headers", []), *raw]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
        if p.refund_when is not None and status and p.refund_when(status[-1]) and verdict.by_server:
            for k, cost in zip(verdict.keys, verdict.costs):
                try:
                    await self.limiter.refund(k, cost)
                except UnavailableError:  # the charge stays: better than failing the response
                    pass
