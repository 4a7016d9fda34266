"""Accuracy under concurrency: 64 threads, each with its own connection, hammer a few
keys of every algorithm for a couple of seconds. Long periods must admit exactly the
limit (no refill worth a unit happens during the run); short periods must stay inside
each algorithm's bound; each key's admitted/denied totals must equal the replies seen.

Server times are bounded by the local clock read before sending and after receiving
each reply (same host, same CLOCK_REALTIME)."""

import collections
import math
import random
import threading
import time

from helpers import FW, GCRA, SL, SW, TB, check, inspect, mcheck

THREADS = 64
RUN_S = 2.0
DAY = 86_400_000
HOUR = 3_600_000

Reply = collections.namedtuple("Reply", "key cost allowed reply sent_ms recv_ms")


def hammer(server, choose, seconds=RUN_S, threads=THREADS):
    """Runs `threads` clients until `seconds` have passed; choose(rng) -> (key, algorithm,
    limit, period, cost). Returns every Reply."""
    results, errors = [], []
    barrier = threading.Barrier(threads)

    def worker(i):
        c = server.client()
        rng = random.Random(i)
        out = []
        try:
            barrier.wait(timeout=30)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                key, algorithm, limit, period, cost = choose(rng)
                sent = time.time()
                reply = check(c, key, algorithm, limit, period, cost=cost)
                recv = time.time()
                out.append(Reply(key, cost, reply[0] == 1, reply, math.floor(sent * 1000),
                                 math.ceil(recv * 1000)))
        except Exception as e:  # reported below; a dead thread must fail the test
            errors.append(repr(e))
        finally:
            c.close()
            results.extend(out)

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=seconds + 60)
    assert not any(t.is_alive() for t in workers), "a client thread hung"
    assert not errors, errors[:3]
    by_key = collections.defaultdict(list)
    for rep in results:
        by_key[rep.key].append(rep)
    return by_key


def units(replies, allowed=True):
    return sum(r.cost for r in replies if r.allowed == allowed)


def window_of(rep, period, reset_offset):
    """The aligned window (its start) a reply was decided in, from reset_after_ms:
    `now + reset` is the window's start + reset_offset (FIXED_WINDOW: its end, one
    period; SLIDING_WINDOW: two periods), with now between the send and receive times."""
    lo = rep.sent_ms + rep.reply[4] - reset_offset
    hi = rep.recv_ms + rep.reply[4] - reset_offset
    first = math.ceil(lo / period) * period
    candidates = list(range(first, hi + 1, period))
    assert len(candidates) == 1, (rep, candidates)
    return candidates[0]


def assert_totals_match(c, key, replies, info=None):
    info = info or inspect(c, key)
    assert info is not None, key
    assert (info["admitted"], info["denied"]) == (units(replies), units(replies, False)), key


def assert_totals_cover_a_suffix(info, replies, min_gap):
    """A key's totals equal the replies', unless the key expired and was re-created.
    Expiry needs the limiter to rest with no admission in between, which takes at least
    `min_gap` after an admission (SLIDING_LOG: a whole period, as its newest unit must
    leave; a bucket: one interval, period / limit), as when a 2-core machine stalls under
    64 clients. Then the totals are at most the replies' and at least the admissions sent
    after the last such idle stretch (no expiry can follow it)."""
    got = (info["admitted"], info["denied"])
    if got == (units(replies), units(replies, False)):
        return
    admitted = sorted((r for r in replies if r.allowed), key=lambda r: r.sent_ms)
    idle = [b for a, b in zip(admitted, admitted[1:]) if b.recv_ms - a.sent_ms >= min_gap]
    assert idle, f"totals {got} differ from the replies, yet the key never sat idle"
    assert got[0] <= units(replies) and got[1] <= units(replies, False), got
    after = units([r for r in admitted if r.sent_ms > idle[-1].recv_ms])
    assert got[0] >= after, (got, after)


def assert_totals_cover_the_last_windows(info, windows):
    """A FIXED_WINDOW key's totals cover the windows since it was last created: the last
    window, or the last few when a check came in the very millisecond a window ended
    (the key still exists then and rolls over)."""
    assert info["window_start_ms"] == max(windows)
    order = sorted(windows)
    suffixes = {
        (sum(units(windows[w]) for w in order[i:]), sum(units(windows[w], False) for w in order[i:]))
        for i in range(len(order))
    }
    assert (info["admitted"], info["denied"]) in suffixes, (info, suffixes)


# -- long periods: exact --------------------------------------------------------------

LIMIT = 300
EXACT = {
    # key: (algorithm, period, costs)
    "tb:0": (TB, DAY, [1]),
    "tb:1": (TB, DAY, [1]),
    "tb:cost": (TB, DAY, [1, 2, 3]),
    "gcra:0": (GCRA, DAY, [1]),
    "gcra:1": (GCRA, DAY, [1]),
    "gcra:cost": (GCRA, DAY, [1, 2, 3]),
    "sl:0": (SL, DAY, [1]),
    "sl:1": (SL, DAY, [1]),
    "sl:cost": (SL, DAY, [1, 2, 3]),
    "fw:0": (FW, HOUR, [1]),
    "fw:1": (FW, HOUR, [1]),
    "fw:cost": (FW, HOUR, [1, 2, 3]),
}


def test_long_periods_admit_exactly_the_limit_under_64_clients(server):
    keys = sorted(EXACT)

    def choose(rng):
        key = rng.choice(keys)
        algorithm, period, costs = EXACT[key]
        return key, algorithm, LIMIT, period, rng.choice(costs)

    by_key = hammer(server, choose)
    c = server.client()
    total = sum(len(v) for v in by_key.values())
    print(f"\n[{server.kind}] {total} checks by {THREADS} clients in {RUN_S} s")
    for key in keys:
        algorithm, period, costs = EXACT[key]
        replies = by_key[key]
        assert units(replies, False) > 0, f"{key} was never saturated"
        if algorithm == FW:
            windows = collections.defaultdict(list)
            for rep in replies:
                windows[window_of(rep, period, period)].append(rep)
            if len(windows) > 1:  # the run crossed an hour boundary
                for w, reps in windows.items():
                    assert units(reps) <= LIMIT, (key, w)
                assert_totals_cover_the_last_windows(inspect(c, key), windows)
                continue
        assert units(replies) == LIMIT, f"{key}: admitted {units(replies)} units, limit {LIMIT}"
        if costs == [1]:
            # Every admitted reply saw a distinct remaining: 299, 298, ..., 0.
            remaining = sorted(r.reply[2] for r in replies if r.allowed)
            assert remaining == list(range(LIMIT)), key
        assert all(r.reply[2] == 0 or r.cost > r.reply[2] for r in replies if not r.allowed), key
        assert_totals_match(c, key, replies)


# -- short periods: bounds ------------------------------------------------------------

SHORT_LIMIT = 20
SHORT = {
    "sl:short": (SL, 500),
    "sw:short": (SW, 1000),
    "fw:short": (FW, 500),
    "tb:short": (TB, 500),
    "gcra:short": (GCRA, 500),
}


def test_short_periods_stay_within_each_algorithms_bound(server):
    keys = sorted(SHORT)

    def choose(rng):
        key = rng.choice(keys)
        algorithm, period = SHORT[key]
        return key, algorithm, SHORT_LIMIT, period, 1

    start_ms = math.floor(time.time() * 1000)
    by_key = hammer(server, choose, seconds=2.5)
    end_ms = math.ceil(time.time() * 1000)
    c = server.client()
    # Right away: idle short keys expire within a period.
    infos = {key: inspect(c, key) for key in keys}
    span = end_ms - start_ms

    # SLIDING_LOG: exact. No limit + 1 admissions can lie within one period: sorted by
    # send time, any limit + 1 consecutive ones span at least a period (a sound check:
    # each true time lies in [sent, recv]).
    algorithm, period = SHORT["sl:short"]
    admitted = sorted((r for r in by_key["sl:short"] if r.allowed), key=lambda r: r.sent_ms)
    for i in range(len(admitted) - SHORT_LIMIT):
        group = admitted[i:i + SHORT_LIMIT + 1]
        assert max(r.recv_ms for r in group) - group[0].sent_ms >= period, (
            f"{SHORT_LIMIT + 1} admissions within one period", group[0], group[-1])
    assert len(admitted) <= SHORT_LIMIT * (span // period + 1)
    assert len(admitted) >= SHORT_LIMIT * (span // period) // 2, "far below the limit"
    assert_totals_cover_a_suffix(infos["sl:short"], by_key["sl:short"], period)

    # SLIDING_WINDOW: at most `limit` per aligned window (admitted replies carry
    # reset = 2 * period - e); over the run at most limit * (windows touched + 1).
    algorithm, period = SHORT["sw:short"]
    per_window = collections.Counter(
        window_of(r, period, 2 * period) for r in by_key["sw:short"] if r.allowed)
    assert per_window and max(per_window.values()) <= SHORT_LIMIT, per_window
    touched = end_ms // period - start_ms // period + 1
    assert sum(per_window.values()) <= SHORT_LIMIT * (touched + 1)
    assert_totals_match(c, "sw:short", by_key["sw:short"], infos["sw:short"])

    # FIXED_WINDOW: at most `limit` per window, exactly `limit` in (nearly) every window
    # that lies inside the run. The key expires at each window's end unless a check
    # comes in that very millisecond (the key still exists then and rolls over), so its
    # totals cover the windows since it was last created: a suffix of the run.
    algorithm, period = SHORT["fw:short"]
    windows = collections.defaultdict(list)
    for r in by_key["fw:short"]:
        windows[window_of(r, period, period)].append(r)
    assert max(units(reps) for reps in windows.values()) <= SHORT_LIMIT
    inner = [w for w in windows if w >= start_ms + 50 and w + period <= end_ms - 50]
    full = [w for w in inner if units(windows[w]) == SHORT_LIMIT]
    assert len(full) >= 0.8 * len(inner), {w: units(windows[w]) for w in windows}
    if infos["fw:short"] is not None:
        assert_totals_cover_the_last_windows(infos["fw:short"], windows)

    # TOKEN_BUCKET / GCRA: burst plus what the elapsed time refills, never more.
    for key in ("tb:short", "gcra:short"):
        algorithm, period = SHORT[key]
        got = units(by_key[key])
        assert got <= SHORT_LIMIT + span * SHORT_LIMIT // period + 1, (key, got, span)
        assert got >= SHORT_LIMIT + (span - 500) * SHORT_LIMIT // period // 2, (key, got, span)
        assert infos[key] is not None, key
        assert_totals_cover_a_suffix(infos[key], by_key[key], period // SHORT_LIMIT)


# -- RL.MCHECK: all or nothing under concurrency --------------------------------------


def test_mcheck_charges_all_or_nothing_under_64_clients(server):
    """Clients mix RL.MCHECK over two keys with single RL.CHECKs on one of them. Every
    admitted group charged both keys, every denied group neither, so the totals add up
    exactly, and the shared key admits exactly its limit."""
    c = server.client()
    group = [("{g}:a", GCRA, 101, DAY), ("{g}:b", SL, 301, DAY)]
    for key, algorithm, limit, period in group:  # both exist from the start
        assert check(c, key, algorithm, limit, period)[0] == 1
    counts = collections.Counter()
    errors = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def worker(i):
        cc = server.client()
        rng = random.Random(i)
        local = collections.Counter()
        try:
            barrier.wait(timeout=30)
            deadline = time.monotonic() + RUN_S
            while time.monotonic() < deadline:
                if rng.random() < 0.5:
                    reply = mcheck(cc, group)
                    local["group_allowed" if reply[0] == 1 else "group_denied"] += 1
                    assert reply[1] == -1 if reply[0] == 1 else reply[1] > 0, reply
                else:
                    reply = check(cc, "{g}:b", SL, 301, DAY)
                    local["single_allowed" if reply[0] == 1 else "single_denied"] += 1
        except Exception as e:
            errors.append(repr(e))
        finally:
            cc.close()
            with lock:
                counts.update(local)

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=RUN_S + 60)
    assert not errors, errors[:3]
    a, b = inspect(c, "{g}:a"), inspect(c, "{g}:b")
    assert counts["group_denied"] > 0 and counts["single_denied"] > 0, counts
    assert a["admitted"] == 1 + counts["group_allowed"] <= 101, (a, counts)
    assert b["admitted"] == 1 + counts["group_allowed"] + counts["single_allowed"] == 301, (b, counts)
    assert a["denied"] == counts["group_denied"], (a, counts)
    assert b["denied"] == counts["group_denied"] + counts["single_denied"], (b, counts)


def test_refunds_never_let_a_key_admit_more_than_its_limit_under_64_clients(server):
    """Clients charge and give back units at random on long-period keys of every
    algorithm. No refill worth a unit happens during the run (windows of a day), so the
    units held at the end (admitted minus given back) are at most the limit, and the key
    admits exactly the rest: no refund gave back a unit it had not charged."""
    c = server.client()
    keys = {f"{{r}}:{a}": a for a in (TB, GCRA, FW, SW, SL)}
    limit = 40
    counts = collections.Counter()
    errors = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def worker(i):
        cc = server.client()
        rng = random.Random(i)
        local = collections.Counter()
        try:
            barrier.wait(timeout=30)
            deadline = time.monotonic() + RUN_S
            while time.monotonic() < deadline:
                key = rng.choice(list(keys))
                if rng.random() < 0.6:
                    cost = rng.choice([1, 2])
                    if check(cc, key, keys[key], limit, DAY, cost=cost)[0] == 1:
                        local[(key, "admitted")] += cost
                else:
                    local[(key, "refunded")] += cc.execute_command(
                        "RL.REFUND", key, "COST", rng.choice([1, 3]))
        except Exception as e:
            errors.append(repr(e))
        finally:
            cc.close()
            with lock:
                counts.update(local)

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=RUN_S + 60)
    assert not errors, errors[:3]
    for key, algorithm in keys.items():
        held = counts[(key, "admitted")] - counts[(key, "refunded")]
        assert 0 <= held <= limit, (key, held)
        assert counts[(key, "refunded")] > 0, key
        # What the key admits now is exactly what was not held: the refunds were exact.
        more = 0
        while check(c, key, algorithm, limit, DAY)[0] == 1:
            more += 1
            assert more <= limit
        assert held + more == limit, (key, held, more)
