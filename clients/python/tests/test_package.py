"""The tests run against the built wheel installed in the test environment, not the tree."""

from __future__ import annotations

from pathlib import Path

from limits.storage import storage_from_string

import redis_ratelimit


def test_the_installed_wheel_is_under_test() -> None:
    where = Path(redis_ratelimit.__file__).parent
    assert "site-packages" in where.parts, where
    assert (where / "py.typed").exists()
    assert (where / "middleware" / "asgi.py").exists()


def test_importing_registers_the_limits_schemes() -> None:
    from limits.storage import SCHEMES

    for scheme in ("rl+redis", "rl+rediss", "rl+redis+cluster", "async+rl+redis",
                   "async+rl+rediss", "async+rl+redis+cluster"):
        assert scheme in SCHEMES
    s = storage_from_string("rl+redis://127.0.0.1:1", timeout=0.01)
    assert type(s).__module__ == "redis_ratelimit.limits_storage"
    assert s.check() is False  # nothing listens on port 1
