# Vendored from limits 5.8.0 (https://github.com/alisaifee/limits), tests/utils.py,
# to run limits' own tests against redis_ratelimit's storage.
# Adapted only in its fixtures: ALL_STORAGES and ALL_STORAGES_ASYNC list the rl+redis storages (Redis 7.0, Valkey 9, a 3-master cluster) instead of limits' own.
# Licence of the original:
#
# Copyright (c) 2023 Ali-Akber Saifee
#
# Permission is hereby granted, free of charge, to any person obtaining a copy
# of this software and associated documentation files (the "Software"), to deal
# in the Software without restriction, including without limitation the rights to
# use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
# of the Software, and to permit persons to whom the Software is furnished to do
# so, subject to the following conditions:
#
# The above copyright notice and this permission notice shall be included in all
# copies or substantial portions of the Software.
#
# THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
# IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
# FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
# AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
# LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
# OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
# SOFTWARE.

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import time

import pytest
from pytest_lazy_fixtures import lf

from limits.limits import RateLimitItem

ASYNC_REDIS_IMPLEMENTATION = os.environ.get("ASYNC_REDIS_IMPLEMENTATION", "coredis")
ASYNC_MEMCACHED_IMPLEMENTATION = os.environ.get(
    "ASYNC_MEMCACHED_IMPLEMENTATION", "memcachio"
)


def fixed_start(fn):
    @functools.wraps(fn)
    def __inner(*a, **k):
        start = time.time()

        while time.time() < math.ceil(start):
            time.sleep(0.01)

        return fn(*a, **k)

    return __inner


def timestamp_based_key_ttl(item: RateLimitItem, now: float | None = None) -> float:
    """
    Return the current timestamp-based key TTL.

    Used for some implementations of thesliding window counter that generates keys based on the timestamp.

    Args:
        item (RateLimitItem): the rate limit item
        now (Optional[float], optional): the current timestamp. If None, generates the current timestamp
    """
    if now is None:
        now = time.time()
    return item.get_expiry() - (now % item.get_expiry())


def async_fixed_start(fn):
    @functools.wraps(fn)
    async def __inner(*a, **k):
        start = time.time()

        while time.time() < math.ceil(start):
            time.sleep(0.01)

        return await fn(*a, **k)

    return __inner


@contextlib.contextmanager
def window(delay_end: float, delay: float | None = None):
    start = time.time()

    if delay is not None:
        while time.time() - start < delay:
            time.sleep(0.001)
    yield (start, start + delay_end)

    while time.time() - start < delay_end:
        time.sleep(0.001)


@contextlib.asynccontextmanager
async def async_window(delay_end: float, delay: float | None = None):
    start = time.time()

    if delay is not None:
        while time.time() - start < delay:
            await asyncio.sleep(0.001)

    yield (start, start + delay_end)

    while time.time() - start < delay_end:
        await asyncio.sleep(0.001)


# redis_ratelimit: the storages under test are the module's, on servers that
# tests/conftest.py starts (their ports come from the environment it sets).
_R = os.environ.get("RL_TEST_REDIS_PORT", "0")
_V = os.environ.get("RL_TEST_VALKEY_PORT", "0")
_C = os.environ.get("RL_TEST_CLUSTER_PORT", "0")
ALL_STORAGES = {
    "redis": pytest.param(
        f"rl+redis://127.0.0.1:{_R}", {}, lf("redis_basic"), marks=pytest.mark.redis, id="rl-redis-7.0"
    ),
    "valkey": pytest.param(
        f"rl+redis://127.0.0.1:{_V}", {}, lf("valkey_basic"), marks=pytest.mark.valkey, id="rl-valkey-9"
    ),
    "redis-cluster": pytest.param(
        f"rl+redis+cluster://127.0.0.1:{_C}",
        {},
        lf("redis_cluster"),
        marks=pytest.mark.redis_cluster,
        id="rl-redis-cluster",
    ),
}
ALL_STORAGES_ASYNC = {
    "redis": pytest.param(
        f"async+rl+redis://127.0.0.1:{_R}", {}, lf("redis_basic"), marks=pytest.mark.redis, id="rl-redis-7.0"
    ),
    "valkey": pytest.param(
        f"async+rl+redis://127.0.0.1:{_V}", {}, lf("valkey_basic"), marks=pytest.mark.valkey, id="rl-valkey-9"
    ),
    "redis-cluster": pytest.param(
        f"async+rl+redis+cluster://127.0.0.1:{_C}",
        {},
        lf("redis_cluster"),
        marks=pytest.mark.redis_cluster,
        id="rl-redis-cluster",
    ),
}

all_storage = pytest.mark.parametrize("uri, args, fixture", ALL_STORAGES.values())

moving_window_storage = pytest.mark.parametrize(
    "uri, args, fixture",
    [
        storage
        for name, storage in ALL_STORAGES.items()
        if not name.startswith("memcached")
    ],
)

sliding_window_counter_storage = pytest.mark.parametrize(
    "uri, args, fixture", ALL_STORAGES.values()
)

async_all_storage = pytest.mark.parametrize(
    "uri, args, fixture", ALL_STORAGES_ASYNC.values()
)

async_moving_window_storage = pytest.mark.parametrize(
    "uri, args, fixture",
    [
        storage
        for name, storage in ALL_STORAGES_ASYNC.items()
        if not name.startswith("memcached")
    ],
)

async_sliding_window_counter_storage = pytest.mark.parametrize(
    "uri, args, fixture", ALL_STORAGES_ASYNC.values()
)
