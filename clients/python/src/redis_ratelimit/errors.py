"""The three error classes every client of the module raises (docs/clients/python.md#errors)."""

from __future__ import annotations


class RateLimitError(Exception):
    """Base of every error this package raises."""


class ArgumentError(RateLimitError, ValueError):
    """The limit or the key is invalid. Raised before the network when possible; never retried and
    never counted by the circuit breaker."""


class ServerError(RateLimitError):
    """The server refused the command (WRONGTYPE, another algorithm on the key, NOPERM, ...).
    The server is up, so this never trips the circuit breaker."""


class UnavailableError(RateLimitError):
    """The server could not be reached in time: connection refused or lost, timeout, breaker open.
    Handled by the ``on_unavailable`` policy, raised only when that policy says so."""
