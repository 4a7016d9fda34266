"""HTTP middleware: ``RateLimitMiddleware`` (WSGI) and ``AsyncRateLimitMiddleware`` (ASGI)."""

from .asgi import AsyncRateLimitMiddleware
from .common import Verdict
from .wsgi import RateLimitMiddleware

__all__ = ["AsyncRateLimitMiddleware", "RateLimitMiddleware", "Verdict"]
