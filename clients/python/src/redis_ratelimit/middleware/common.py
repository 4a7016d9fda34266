"""What the WSGI and ASGI middleware share: who is limited, which keys, and the headers.

Headers (IETF httpapi ratelimit-headers draft, structured fields), on every response:
``RateLimit-Policy: "default";q=<limit>;w=<period s>`` and
``RateLimit: "default";r=<remaining>;t=<seconds until rested, rounded up>``; on a denial
429 with ``Retry-After`` in whole seconds rounded up (413 without it when the request can
never be admitted: its cost is above the burst; the Go and Node middleware answer the same).
With several limits, each is an item named ``l1``, ``l2``, ... in the order given, checked
together (RL.MCHECK: all or nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from ..errors import ArgumentError
from ..model import Decision, Limit, LimitLike, MultiDecision

# key=: "ip", "header:<Name>" (e.g. "header:X-API-Key", falling back to the IP when absent),
# or a function of the request (WSGI environ, ASGI scope) returning the id, or None or "" to skip.
KeyChoice = Union[str, Callable[[Any], Optional[str]]]


def ceil_s(ms: int) -> int:
    return max(0, math.ceil(ms / 1000))


@dataclass
class Verdict:
    """One request's outcome: the decisions per limit, and the keys to refund."""

    allowed: bool
    retry_after_ms: int
    decisions: tuple[Decision, ...]
    keys: tuple[str, ...]
    costs: tuple[int, ...]

    @property
    def by_server(self) -> bool:
        return all(d.source == "server" for d in self.decisions)

    @classmethod
    def of(cls, d: Union[Decision, MultiDecision], keys: Sequence[str], costs: Sequence[int]) -> Verdict:
        if isinstance(d, MultiDecision):
            return cls(d.allowed, d.retry_after_ms, d.results, tuple(keys), tuple(costs))
        return cls(d.allowed, d.retry_after_ms, (d,), tuple(keys), tuple(costs))


class Policy:
    def __init__(
        self,
        limits: Union[LimitLike, Sequence[LimitLike]],
        *,
        key: KeyChoice = "ip",
        prefix: str = "rl:http:",
        trust_proxy: int = 0,
        skip: Optional[Callable[[Any], bool]] = None,
        refund_when: Optional[Callable[[int], bool]] = None,
    ) -> None:
        seq: list[LimitLike] = (
            [limits] if isinstance(limits, (Limit, Mapping)) else list(limits)
        )
        if not seq:
            raise ArgumentError("limits: expected at least one limit")
        self.limits = [Limit.of(x) for x in seq]
        self.costs = [x.cost or 1 for x in self.limits]
        self.key = key
        self.prefix = prefix
        self.trust_proxy = trust_proxy
        self.skip = skip
        self.refund_when = refund_when
        if isinstance(key, str) and key != "ip" and not key.lower().startswith("header:"):
            raise ArgumentError("key: expected 'ip', 'header:<Name>' or a function")
        self.header = key.split(":", 1)[1].strip() if isinstance(key, str) and key != "ip" else None
        names = ["default"] if len(self.limits) == 1 else [f"l{i + 1}" for i in range(len(self.limits))]
        self.names = names
        self.policy_header = ", ".join(
            f'"{n}";q={lim.limit};w={ceil_s(lim.period_ms)}' for n, lim in zip(names, self.limits)
        )

    def client_ip(self, peer: Optional[str], forwarded_for: Optional[str]) -> str:
        """The peer address, or with ``trust_proxy=N`` the address N hops back in
        X-Forwarded-For (the N proxies in front of the app are trusted to append it)."""
        if self.trust_proxy and forwarded_for:
            hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
            if hops:
                return hops[max(0, len(hops) - self.trust_proxy)]
        return peer or "unknown"

    def keys(self, ident: str) -> list[str]:
        if len(self.limits) == 1:
            return [f"{self.prefix}{ident}"]
        # One hash slot for the group, so RL.MCHECK works in a cluster too.
        return [f"{self.prefix}{{{ident}}}:{i + 1}" for i in range(len(self.limits))]

    def headers(self, v: Verdict) -> list[tuple[str, str]]:
        items = ", ".join(
            f'"{n}";r={d.remaining};t={ceil_s(d.reset_after_ms)}' for n, d in zip(self.names, v.decisions)
        )
        out = [("RateLimit-Policy", self.policy_header), ("RateLimit", items)]
        if not v.allowed and v.retry_after_ms >= 0:
            out.append(("Retry-After", str(max(1, ceil_s(v.retry_after_ms)))))
        return out

    def denial(self, v: Verdict) -> tuple[int, str, bytes]:
        if v.retry_after_ms < 0:
            return 413, "413 Content Too Large", b"request exceeds the rate limit's burst\n"
        return 429, "429 Too Many Requests", b"rate limited\n"
