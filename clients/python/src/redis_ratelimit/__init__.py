"""Client for the redis-ratelimit module: ``RateLimiter`` over redis-py, ``AsyncRateLimiter``
over redis-py's asyncio clients, a ``limits`` storage (``rl+redis://``) and HTTP middleware.

Importing this package registers the ``limits`` storage schemes when ``limits`` is installed.
"""

from __future__ import annotations

from .aio import AsyncRateLimiter
from .client import RateLimiter
from .errors import ArgumentError, RateLimitError, ServerError, UnavailableError
from .metrics import Metrics
from .model import Decision, Inspection, Lease, Limit, MultiDecision, PolicyRef
from .resilience import BreakerOptions

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "AsyncRateLimiter",
    "BreakerOptions",
    "Decision",
    "Inspection",
    "Lease",
    "Limit",
    "Metrics",
    "MultiDecision",
    "PolicyRef",
    "RateLimitError",
    "RateLimiter",
    "ServerError",
    "UnavailableError",
]

try:  # the drop-in storage for limits, Flask-Limiter and SlowAPI registers itself on import
    import limits as _limits  # noqa: F401
except ImportError:  # pragma: no cover - limits is optional
    pass
else:
    from . import limits_aio as _limits_aio  # noqa: F401
    from . import limits_storage as _limits_storage  # noqa: F401
