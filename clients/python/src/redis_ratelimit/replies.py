"""Turns the module's RESP2 arrays and RESP3 maps into the same dataclasses.

redis-py gives RESP3 maps as dicts whose keys are bytes or str (decode_responses), RESP2
replies as lists; both are accepted everywhere.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from .errors import ServerError
from .model import Decision, Inspection, Lease, MultiDecision

_DECISION = ("allowed", "limit", "remaining", "retry_after_ms", "reset_after_ms")
_LEASE = ("acquired", "limit", "remaining", "retry_after_ms", "lease_id")


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _map(reply: Any) -> dict[str, Any]:
    return {_text(k): v for k, v in reply.items()}


def _bad(what: str) -> ServerError:
    return ServerError(f"unexpected {what} reply from the server (is the module loaded?)")


def decision(reply: Any) -> Decision:
    if isinstance(reply, dict):
        m = _map(reply)
        try:
            vals = [int(m[n]) for n in _DECISION]
        except (KeyError, TypeError, ValueError):
            raise _bad("RL.CHECK") from None
        granted = m.get("granted")
        g = None if granted is None else int(granted)
        if "decided_by" in m or "shadow_denied" in m:
            by, sh = m.get("decided_by"), m.get("shadow_denied")
            return Decision(vals[0] == 1, vals[1], vals[2], vals[3], vals[4], g, "server",
                            None if by is None else int(by), None if sh is None else int(sh) == 1)
    elif isinstance(reply, (list, tuple)) and len(reply) in (5, 6):
        vals = [int(v) for v in reply[:5]]
        g = int(reply[5]) if len(reply) == 6 else None
    else:
        raise _bad("RL.CHECK")
    return Decision(vals[0] == 1, vals[1], vals[2], vals[3], vals[4], g)


def multi(reply: Any) -> MultiDecision:
    if isinstance(reply, dict):
        m = _map(reply)
        allowed, retry, results = m.get("allowed"), m.get("retry_after_ms"), m.get("results")
    elif isinstance(reply, (list, tuple)) and len(reply) >= 3:
        allowed, retry, results = reply[0], reply[1], reply[2:]
    else:
        raise _bad("RL.MCHECK")
    if allowed is None or retry is None or not isinstance(results, (list, tuple)):
        raise _bad("RL.MCHECK")
    return MultiDecision(int(allowed) == 1, int(retry), tuple(decision(r) for r in results))


def inspection(reply: Any) -> Optional[Inspection]:
    if reply is None:
        return None
    if isinstance(reply, dict):
        m = _map(reply)
    elif isinstance(reply, (list, tuple)) and len(reply) % 2 == 0:
        m = {_text(reply[i]): reply[i + 1] for i in range(0, len(reply), 2)}
    else:
        raise _bad("RL.INSPECT")
    common = ("limit", "period_ms", "burst", "remaining", "reset_after_ms", "ttl_ms")
    try:
        nums = {n: int(m.pop(n)) for n in (*common, "admitted", "denied")}
        algorithm, period = _text(m.pop("algorithm")), _text(m.pop("period"))
    except (KeyError, TypeError, ValueError):
        raise _bad("RL.INSPECT") from None
    extra: dict[str, Union[int, str, None]] = {
        k: (v if v is None or isinstance(v, int) else _text(v)) for k, v in m.items()
    }
    return Inspection(algorithm=algorithm, period=period, extra=extra, **nums)


def lease(reply: Any) -> Lease:
    if isinstance(reply, dict):
        m = _map(reply)
        vals = [m.get(n) for n in _LEASE]
    elif isinstance(reply, (list, tuple)) and len(reply) == 5:
        vals = list(reply)
    else:
        raise _bad("RL.ACQUIRE")
    try:
        acquired, limit, remaining, retry = (int(v) for v in vals[:4])  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _bad("RL.ACQUIRE") from None
    lease_id = None if vals[4] is None else _text(vals[4])
    return Lease(acquired == 1, limit, remaining, retry, lease_id)
