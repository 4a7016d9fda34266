"""WSGI middleware (Flask, Django, Falcon, ...):

    app.wsgi_app = RateLimitMiddleware(app.wsgi_app, RateLimiter(r), Limit("GCRA", 100, "1m"))

Options (docs/clients/python.md#middleware): ``key`` ("ip", "header:X-API-Key" or a function
of the environ), ``prefix``, ``trust_proxy`` (hops of X-Forwarded-For to trust), ``skip``
(environ -> bool), ``refund_when`` (status -> bool: refund the charge after the response,
e.g. ``lambda s: s < 400`` to count only failures), ``on_denied`` (environ, headers,
verdict -> WSGI response iterable, after calling start_response itself).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence, Union

from ..client import RateLimiter
from ..errors import UnavailableError
from ..model import LimitLike
from .common import KeyChoice, Policy, Verdict

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
OnDenied = Callable[[dict[str, Any], StartResponse, list[tuple[str, str]], Verdict], Iterable[bytes]]


class RateLimitMiddleware:
    def __init__(
        self,
        app: WSGIApp,
        limiter: RateLimiter,
        limits: Union[LimitLike, Sequence[LimitLike]],
        *,
        key: KeyChoice = "ip",
        prefix: str = "rl:http:",
        trust_proxy: int = 0,
        skip: Optional[Callable[[dict[str, Any]], bool]] = None,
        refund_when: Optional[Callable[[int], bool]] = None,
        on_denied: Optional[OnDenied] = None,
    ) -> None:
        self.app, self.limiter = app, limiter
        self.policy = Policy(limits, key=key, prefix=prefix, trust_proxy=trust_proxy, skip=skip,
                             refund_when=refund_when)
        self.on_denied = on_denied

    def identify(self, environ: dict[str, Any]) -> Optional[str]:
        p = self.policy
        if callable(p.key):
            return p.key(environ)
        if p.header:
            value = environ.get("HTTP_" + p.header.upper().replace("-", "_"))
            if value:
                return f"key:{value}"
        return "ip:" + p.client_ip(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"))

    def decide(self, ident: str) -> Verdict:
        p = self.policy
        keys = p.keys(ident)
        if len(keys) == 1:
            return Verdict.of(self.limiter.check(keys[0], p.limits[0]), keys, p.costs)
        return Verdict.of(self.limiter.mcheck(list(zip(keys, p.limits))), keys, p.costs)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        p = self.policy
        if p.skip is not None and p.skip(environ):
            return self.app(environ, start_response)
        ident = self.identify(environ)
        if not ident:  # None or "": not limited
            return self.app(environ, start_response)
        verdict = self.decide(ident)
        headers = p.headers(verdict)
        if not verdict.allowed:
            if self.on_denied is not None:
                return self.on_denied(environ, start_response, headers, verdict)
            _, status, body = p.denial(verdict)
            start_response(status, [*headers, ("Content-Type", "text/plain")])
            return [body]
        seen: list[int] = []

        def start_with_headers(status: str, response_headers: list[tuple[str, str]],
                               exc_info: Any = None) -> Any:
            seen.append(int(status.split(" ", 1)[0]))
            return start_response(status, list(response_headers) + headers, exc_info)

        result = self.app(environ, start_with_headers)
        if p.refund_when is not None and seen and p.refund_when(seen[-1]) and verdict.by_server:
            for k, cost in zip(verdict.keys, verdict.costs):
                try:
                    self.limiter.refund(k, cost)
                except UnavailableError:  # the charge stays: better than failing the response
                    pass
        return result
