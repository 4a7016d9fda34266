"""Persistence: DEBUG RELOAD, DUMP/RESTORE, COPY, corrupt RESTORE payloads, RDB and
AOF restarts, and an AOF replay an hour later (Valkey under faketime)."""

import glob
import io
import os
import time

import pytest
import redis

from helpers import (
    FW,
    GCRA,
    MAX,
    SL,
    SW,
    TB,
    ModuleDump,
    check,
    crc64,
    digest_value,
    encode_command,
    inspect,
    rdb_encode_len,
    read_reply,
    snapshot,
    stats,
    v3_fields,
    varint,
    varints,
    wait_until,
)

HOUR = 3_600_000


def populate(c):
    """Limiter keys of every shape and algorithm, all with windows of hours (nothing
    expires during a test), plus a plain string key. Returns the limiter key names.
    Every denied check here is on an existing key (each propagates an RL.APPLY)."""
    ops = [
        ("tb:plain", TB, 10, 10 * HOUR, None, None, 3),
        ("tb:burst-cost", TB, 5, 5 * HOUR, 8, 3, 2),
        ("tb:exhausted", TB, 2, 2 * HOUR, None, None, 3),  # the 3rd is denied
        ("gcra:plain", GCRA, 10, 10 * HOUR, None, None, 3),
        ("gcra:burst-cost", GCRA, 5, 5 * HOUR, 8, 3, 2),
        ("gcra:exhausted", GCRA, 2, 2 * HOUR, None, None, 3),
        (b"\xff\xfe\x00bin", GCRA, 3, 6 * HOUR, None, None, 1),
        ("tb:max", TB, 1, MAX, MAX, 5, 1),  # huge scaled token count, expiry i64::MAX
        ("gcra:max", GCRA, 1, MAX, MAX, MAX - 1, 1),
        ("tb:huge-rate", TB, MAX, MAX, MAX, MAX, 1),
        # Window algorithms (fixed windows of 2**40 ms end in 2039).
        ("fw:plain", FW, 10, 2**40, None, 2, 3),
        ("fw:exhausted", FW, 2, 2**40, None, None, 3),
        ("sw:plain", SW, 10, 10 * HOUR, None, 3, 2),
        ("sw:exhausted", SW, 2, 10 * HOUR, None, None, 3),
        ("sl:plain", SL, 10, 10 * HOUR, None, 2, 3),
        ("sl:exhausted", SL, 2, 10 * HOUR, None, None, 3),
        ("sl:max-period", SL, 3, 4_294_967_295, None, None, 1),
    ]
    keys = []
    for key, algorithm, limit, period, burst, cost, times in ops:
        for _ in range(times):
            check(c, key, algorithm, limit, period, burst, cost)
        keys.append(key)
    # Quota changes convert the stored state.
    for key, algorithm in (("tb:changed", TB), ("gcra:changed", GCRA)):
        check(c, key, algorithm, 5, 5 * HOUR, None, 2)
        check(c, key, algorithm, 20, 10 * HOUR, 30, 1)
        keys.append(key)
    c.set("plain-string", "v")
    for k in keys:
        assert c.type(k) == b"ratelimit", k
        assert c.pexpiretime(k) > 0, k
    return keys


def assert_same(before, after):
    d0, keys0 = before
    d1, keys1 = after
    for k in keys0:
        assert keys1[k] == keys0[k], f"{k!r}: (PEXPIRETIME, DIGEST-VALUE) {keys0[k]} -> {keys1[k]}"
    assert d1 == d0, "DEBUG DIGEST changed"


def test_debug_reload_keeps_digests_and_expiry(r):
    keys = populate(r)
    before = snapshot(r, keys)
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    assert_same(before, snapshot(r, keys))
    # The reloaded state still decides the same way.
    assert check(r, "tb:plain", TB, 10, 10 * HOUR)[:3] == [1, 10, 6]
    assert check(r, "gcra:exhausted", GCRA, 2, 2 * HOUR)[:3] == [0, 2, 0]
    assert check(r, "tb:burst-cost", TB, 5, 5 * HOUR, 8, 3)[:3] == [0, 5, 2]
    assert check(r, "fw:plain", FW, 10, 2**40)[:3] == [1, 10, 3]
    assert check(r, "sw:exhausted", SW, 2, 10 * HOUR)[:3] == [0, 2, 0]
    assert check(r, "sl:plain", SL, 10, 10 * HOUR)[:3] == [1, 10, 3]


def test_dump_restore_keeps_the_value(r):
    keys = populate(r)
    for k in keys:
        payload = r.dump(k)
        expiry = r.pexpiretime(k)
        dv = digest_value(r, k)
        # Into a new key. DIGEST-VALUE mixes in whether the key has a TTL (not its
        # value), so a copy without TTL differs until it gets one.
        copy = b"copy:" + (k if isinstance(k, bytes) else k.encode())
        assert r.restore(copy, 0, payload) == b"OK"
        assert r.pexpiretime(copy) == -1 and r.type(copy) == b"ratelimit"
        assert r.pexpireat(copy, expiry) is True
        assert digest_value(r, copy) == dv
        # Over the original, with its absolute expiry.
        with pytest.raises(redis.ResponseError, match="BUSYKEY"):
            r.restore(k, 0, payload)
        assert r.restore(k, expiry, payload, replace=True, absttl=True) == b"OK"
        assert (r.pexpiretime(k), digest_value(r, k)) == (expiry, dv)
    # A restored copy decides exactly like the original.
    a = check(r, "tb:exhausted", TB, 2, 2 * HOUR)
    b = check(r, "copy:tb:exhausted", TB, 2, 2 * HOUR)
    assert a[:3] == b[:3] == [0, 2, 0]
    assert check(r, "copy:gcra:plain", GCRA, 10, 10 * HOUR)[:3] == [1, 10, 6]


def test_copy_is_equal_and_independent(r):
    keys = populate(r)
    for k in keys:
        dst = b"dst:" + (k if isinstance(k, bytes) else k.encode())
        assert r.copy(k, dst) is True
        assert digest_value(r, dst) == digest_value(r, k)
        assert r.pexpiretime(dst) == r.pexpiretime(k)
    before = (r.pexpiretime("gcra:plain"), digest_value(r, "gcra:plain"))
    assert check(r, "dst:gcra:plain", GCRA, 10, 10 * HOUR)[:3] == [1, 10, 6]
    assert digest_value(r, "dst:gcra:plain") != before[1]
    assert (r.pexpiretime("gcra:plain"), digest_value(r, "gcra:plain")) == before
    assert check(r, "gcra:plain", GCRA, 10, 10 * HOUR)[:3] == [1, 10, 6]
    # COPY ... REPLACE over an existing limiter.
    assert r.copy("tb:plain", "tb:exhausted", replace=True) is True
    assert digest_value(r, "tb:exhausted") == digest_value(r, "tb:plain")
    assert check(r, "tb:exhausted", TB, 10, 10 * HOUR)[:3] == [1, 10, 6]


ALGORITHM_IDS = {TB: 1, GCRA: 2, FW: 3, SW: 4, SL: 5}
BIG = 1000 * HOUR  # fits a SLIDING_LOG period (at most 4294967295 ms)


def make_source(c, key, algorithm, cost=2):
    """3 per 1000 hours (BURST 5 for the burst-capable pair), COST `cost` admitted."""
    burst = 5 if algorithm in (TB, GCRA) else None
    assert check(c, key, algorithm, 3, BIG, burst, cost)[0] == 1


@pytest.mark.parametrize("algorithm", [TB, GCRA, FW, SW, SL])
def test_dump_layout_and_crc64_match_the_documented_format(r, algorithm):
    """Type encoding 2 (src/types/encoding.rs, docs/replication.md): one string, the
    encoding version 3 body: varints of a header, limit, period (in the header's unit),
    [burst], admitted, [denied], then the algorithm's state."""
    make_source(r, "k", algorithm)
    assert check(r, "k", algorithm, 3, BIG, 5 if algorithm in (TB, GCRA) else None, 9)[0] == 0
    payload = r.dump("k")
    assert crc64(payload[:-8]) == int.from_bytes(payload[-8:], "little"), "crc64 helper"
    md = ModuleDump.parse(payload)
    assert md.encver == 2 and md.body is not None
    header = varints(md.body)[0]
    burst_capable = algorithm in (TB, GCRA)
    # BIG is a whole number of hours: unit code 3; the denied total is stored (9).
    assert header == ALGORITHM_IDS[algorithm] | 3 << 3 | (0 if burst_capable else 32)
    alg, limit, period, burst, admitted, denied, state = v3_fields(md.body)
    assert (alg, limit, period, admitted, denied) == (ALGORITHM_IDS[algorithm], 3, BIG, 2, 9)
    assert burst == (5 if burst_capable else 3)
    if algorithm == TB:
        # Capacity minus tokens (2 units used, scaled by period_ms), then updated_ms.
        assert len(state) == 2 and state[0] == 2 * BIG
        assert abs(state[1] - r.pexpiretime("k") + 2 * BIG // 3) <= 1
    elif algorithm == GCRA:
        # TAT in units of 1/limit ms: 2 units of T = BIG/3 past the rested instant.
        assert len(state) == 1 and abs(state[0] - 3 * r.pexpiretime("k")) <= 3
    elif algorithm == FW:
        # The window's start in periods, then the count.
        assert len(state) == 2 and state[1] == 2
        assert r.pexpiretime("k") == (state[0] + 1) * BIG
    elif algorithm == SW:
        assert len(state) == 3 and state[1:] == [0, 2]
    else:
        # n, base_ms, then each offset as the gap from the one before: 2 units at once.
        assert state[0] == 2 and state[2:] == [0, 0]
        assert r.pexpiretime("k") == state[1] + BIG
    # What 0.1.0 saved for the same value (type encoding 1, one word each) still loads.
    assert len(md.body) < 8 * len(md.words) // 3
    assert md.build() == payload, "rebuilding the payload reproduces the real DUMP"
    expiry = r.pexpiretime("k")
    assert r.restore("k2", expiry, md.build(), absttl=True) == b"OK"
    assert (r.pexpiretime("k2"), digest_value(r, "k2")) == (expiry, digest_value(r, "k"))
    assert r.restore("k3", expiry, md.build(words=md.words), absttl=True) == b"OK"
    assert digest_value(r, "k3") == digest_value(r, "k")
    assert r.dump("k3") == payload, "an old value is saved in the new encoding"


@pytest.mark.parametrize("algorithm", [TB, GCRA])
def test_version_1_values_still_restore_with_zero_totals(r, algorithm):
    """Encoding version 1 (0.1.0 development builds, no totals) is still read."""
    make_source(r, "k", algorithm)
    md = ModuleDump.parse(r.dump("k"))
    w = md.words
    v1 = [1 | ALGORITHM_IDS[algorithm] << 8] + w[1:4] + w[6:]
    expiry = r.pexpiretime("k")
    assert r.restore("old", expiry, md.build(v1), absttl=True) == b"OK"
    info = inspect(r, "old")
    assert (info["admitted"], info["denied"], info["limit"], info["burst"]) == (0, 0, 3, 5)
    assert info["remaining"] == inspect(r, "k")["remaining"] == 3
    assert ModuleDump.parse(r.dump("old")).words == w[:4] + [0, 0] + w[6:], "re-saved as version 2"
    assert check(r, "old", algorithm, 3, BIG, 5)[:3] == [1, 3, 2]


def _corrupt_cases():
    def hdr(version=2, algorithm=1, extra=0):
        return version | algorithm << 8 | extra

    # Words: 0 header, 1 limit, 2 period_ms, 3 burst, 4 admitted, 5 denied, 6.. state.
    return {
        # name: (source algorithm, function of the real words -> corrupt words)
        "encoding-version-0": (TB, lambda w: [hdr(version=0)] + w[1:]),
        "encoding-version-3": (TB, lambda w: [hdr(version=3)] + w[1:]),
        "encoding-version-255": (GCRA, lambda w: [hdr(version=255, algorithm=2)] + w[1:]),
        "header-high-bits": (TB, lambda w: [hdr(extra=1 << 16)] + w[1:]),
        "algorithm-0": (TB, lambda w: [hdr(algorithm=0)] + w[1:]),
        "algorithm-6": (TB, lambda w: [hdr(algorithm=6)] + w[1:]),
        "algorithm-255": (GCRA, lambda w: [hdr(algorithm=255)] + w[1:]),
        "no-words": (TB, lambda w: []),
        "header-only": (TB, lambda w: w[:1]),
        "no-totals": (GCRA, lambda w: w[:4]),
        "truncated-token-bucket": (TB, lambda w: w[:-1]),
        "truncated-gcra": (GCRA, lambda w: w[:-1]),
        "truncated-fixed-window": (FW, lambda w: w[:-1]),
        "truncated-sliding-window": (SW, lambda w: w[:-1]),
        "truncated-sliding-log": (SL, lambda w: w[:-1]),
        "gcra-words-under-token-bucket-header": (GCRA, lambda w: [hdr(algorithm=1)] + w[1:]),
        "token-bucket-words-under-gcra-header": (TB, lambda w: [hdr(algorithm=2)] + w[1:]),
        "fixed-window-words-under-sliding-window-header": (FW, lambda w: [hdr(algorithm=4)] + w[1:]),
        "trailing-word-token-bucket": (TB, lambda w: w + [0]),
        "trailing-word-gcra": (GCRA, lambda w: w + [7]),
        "trailing-word-fixed-window": (FW, lambda w: w + [0]),
        "trailing-word-sliding-log": (SL, lambda w: w + [0]),
        "limit-0": (TB, lambda w: w[:1] + [0] + w[2:]),
        "period-0": (GCRA, lambda w: w[:2] + [0] + w[3:]),
        "burst-0": (TB, lambda w: w[:3] + [0] + w[4:]),
        "limit-above-i64": (GCRA, lambda w: w[:1] + [2**63] + w[2:]),
        "tokens-above-capacity": (TB, lambda w: w[:6] + [w[3] * w[2] + 1, 0] + w[8:]),
        "tokens-far-negative": (TB, lambda w: w[:6] + [0, 2**63] + w[8:]),
        "updated-above-i64": (TB, lambda w: w[:8] + [2**64 - 1]),
        "gcra-tat-above-max": (GCRA, lambda w: w[:6] + [0, 2**64 - 1]),
        "window-burst-differs-from-limit": (FW, lambda w: w[:3] + [w[1] + 1] + w[4:]),
        "fixed-window-start-not-aligned": (FW, lambda w: w[:6] + [w[6] + 1] + w[7:]),
        "fixed-window-count-above-i64": (FW, lambda w: w[:7] + [2**63]),
        "sliding-window-start-not-aligned": (SW, lambda w: w[:6] + [w[6] + 1] + w[7:]),
        "sliding-window-previous-above-i64": (SW, lambda w: w[:7] + [2**63] + w[8:]),
        "sliding-log-period-above-u32": (SL, lambda w: w[:2] + [2**32] + w[3:]),
        "sliding-log-limit-above-max-units": (
            SL, lambda w: w[:1] + [10_000_001, w[2], 10_000_001] + w[4:]),
        "sliding-log-base-above-i64": (SL, lambda w: w[:6] + [2**63] + w[7:]),
        "sliding-log-count-far-too-large": (SL, lambda w: w[:7] + [2**40] + w[8:]),
        "sliding-log-count-above-its-words": (SL, lambda w: w[:7] + [5] + w[8:]),
        "sliding-log-padding-not-zero": (SL, lambda w: w[:7] + [1, 1 << 32]),
        "window-algorithm-in-version-1": (FW, lambda w: [hdr(version=1, algorithm=3)] + w[1:4] + w[6:]),
    }


CORRUPT = _corrupt_cases()


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_restore_payload_is_refused_and_server_stays_up(server, r, case):
    algorithm, corrupt = CORRUPT[case]
    make_source(r, "src", algorithm)
    md = ModuleDump.parse(r.dump("src"))
    payload = md.build(corrupt(list(md.words)))
    # The payload is otherwise well-formed: the server's own checks (RDB version, CRC)
    # pass, so the module's loader is what must refuse it.
    assert crc64(payload[:-8]) == int.from_bytes(payload[-8:], "little")
    with pytest.raises(redis.ResponseError):
        r.restore("bad", 0, payload)
    assert r.exists("bad") == 0
    assert r.ping() is True
    server.assert_healthy()
    # The untouched original still works and restores.
    assert r.restore("good", 0, md.build()) == b"OK"
    burst = 5 if algorithm in (TB, GCRA) else None
    expected = [1, 3, 2] if burst else [1, 3, 0]
    assert check(r, "good", algorithm, 3, BIG, burst)[:3] == expected


def _corrupt_v3_cases():
    def enc(fields):
        return b"".join(varint(f) for f in fields)

    def sl_body(limit, units, gap=0):
        """A version 3 SLIDING_LOG body: `units` units `gap` ms apart from a base."""
        head = 5 | 3 << 3 | 32 | 64
        return (varint(head) + varint(limit) + varint(1000) + varint(units)
                + varint(units) + varint(1_700_000_000_000) + varint(0)
                + varint(gap) * (units - 1))

    return {
        # name: (source algorithm, function of the real body -> corrupt body)
        "empty": (TB, lambda b: b""),
        "truncated": (TB, lambda b: b[:-1]),
        "trailing-byte": (GCRA, lambda b: b + b"\x00"),
        "unknown-header-bit": (TB, lambda b: varint(varints(b)[0] | 128) + b[1:]),
        "algorithm-0": (TB, lambda b: bytes([b[0] & ~7]) + b[1:]),
        "algorithm-7": (TB, lambda b: bytes([b[0] | 7]) + b[1:]),
        "overlong-varint": (GCRA, lambda b: b[:1] + bytes([b[1] | 0x80, 0]) + b[2:]),
        "limit-0": (TB, lambda b: b[:1] + b"\x00" + b[2:]),
        "period-times-unit-above-i64": (
            TB, lambda b: b[:2] + varint(2**62) + b[2 + len(varint(varints(b)[2])):]),
        # Fields of make_source's values: header, 3, 1000 (hours), [5], 2, state.
        "gcra-tat-above-max": (GCRA, lambda b: enc(varints(b)[:-1] + [2**127 + 1])),
        "token-bucket-deficit-below-the-debt-floor": (
            TB, lambda b: enc(varints(b)[:5] + [2**127, 1])),
        "token-bucket-updated-above-i64": (TB, lambda b: enc(varints(b)[:6] + [2**63])),
        "fixed-window-start-above-i64": (FW, lambda b: enc(varints(b)[:4] + [2**62, 2])),
        "sliding-log-count-above-its-offsets": (SL, lambda b: sl_body(100, 2)[:-1]),
        "sliding-log-offset-above-u32": (SL, lambda b: sl_body(5, 2, 2**32)),
        # A genuinely oversized log: limit 5, seven units (what no check leaves).
        "sliding-log-more-units-than-its-limit": (SL, lambda b: sl_body(5, 7)),
    }


CORRUPT_V3 = _corrupt_v3_cases()


@pytest.mark.parametrize("case", list(CORRUPT_V3))
def test_corrupt_compact_payload_is_refused_and_server_stays_up(server, r, case):
    algorithm, corrupt = CORRUPT_V3[case]
    make_source(r, "src", algorithm)
    md = ModuleDump.parse(r.dump("src"))
    with pytest.raises(redis.ResponseError):
        r.restore("bad", 0, md.build(body=corrupt(md.body)))
    assert r.exists("bad") == 0
    server.assert_healthy()
    assert r.restore("good", 0, md.build()) == b"OK"


@pytest.mark.parametrize("encoding", ["compact", "0.1.0 words"])
def test_a_sliding_log_holding_more_units_than_its_limit_never_loads(server, r, encoding):
    """RL.APPLY refuses to grow a log beyond its limit; RESTORE and RDB loading (the
    same loader) refuse such a log too, in either encoding, and RL.APPLY's replace
    payload (the AOF's) as well."""
    assert check(r, "src", SL, 10, HOUR, None, 7)[0] == 1
    md = ModuleDump.parse(r.dump("src"))
    w = md.words
    assert w[7] == 7
    # The same seven units under limit 5, then under limit 7 (which is valid).
    over = w[:1] + [5, w[2], 5] + w[4:]
    exact = w[:1] + [7, w[2], 7] + w[4:]
    if encoding == "compact":
        body = md.body
        over_p = md.build(body=body[:1] + varint(5) + body[2:])
        exact_p = md.build(body=body[:1] + varint(7) + body[2:])
    else:
        over_p, exact_p = md.build(words=over), md.build(words=exact)
    with pytest.raises(redis.ResponseError):
        r.restore("over", 0, over_p)
    assert r.exists("over") == 0
    assert r.restore("exact", 0, exact_p) == b"OK"
    assert inspect(r, "exact")["entries"] == 7
    replace = b"".join(x.to_bytes(8, "little") for x in over) + (2**41).to_bytes(8, "little")
    with pytest.raises(redis.ResponseError):
        r.execute_command("RL.APPLY", "over", replace)
    assert r.exists("over") == 0
    server.assert_healthy()


def test_restore_with_a_non_uint_opcode_is_refused(server, r):
    check(r, "src", TB, 3, HOUR)
    md = ModuleDump.parse(r.dump("src"))
    md.header = md.with_encver(1)
    # Same words (type encoding 1), but the limit saved as a string opcode (5) instead
    # of UINT (2).
    ops = b""
    for i, w in enumerate(md.words):
        if i == 1:
            ops += rdb_encode_len(5) + rdb_encode_len(1) + b"3"
        else:
            ops += rdb_encode_len(2) + rdb_encode_len(w)
    with pytest.raises(redis.ResponseError):
        r.restore("bad", 0, md.build(opcodes=ops))
    assert r.exists("bad") == 0
    server.assert_healthy()


def test_rdb_restart_keeps_state(server):
    c = server.client()
    keys = populate(c)
    before = snapshot(c, keys)
    size = c.dbsize()
    server.restart(options={"save": "3600 1"}, save=True)
    assert os.path.exists(os.path.join(server.dir, "dump.rdb"))
    c = server.client()
    assert c.dbsize() == size
    assert_same(before, snapshot(c, keys))
    assert check(c, "gcra:plain", GCRA, 10, 10 * HOUR)[:3] == [1, 10, 6]


def aof_files(server):
    return sorted(glob.glob(os.path.join(server.dir, "appendonlydir", "*")))


def read_aof(server, suffix):
    data = b""
    for path in aof_files(server):
        if path.endswith(suffix):
            with open(path, "rb") as f:
                data += f.read()
    return data


APPLY_CMD = b"$8\r\nRL.APPLY\r\n"


def aof_commands(data):
    """The commands of a RESP AOF file, each as a list of bytes arguments."""
    f = io.BytesIO(data)
    out = []
    while f.tell() < len(data):
        out.append(read_reply(f))
    return out


def propagated_checks(incr, since_ms, until_ms):
    """The number of effects in an incremental AOF: RL.APPLY commands and RL.CHECK /
    RL.MCHECK commands, asserting that each of the latter carries the primary's time
    stamp (its last argument, @<unix ms>) from within [since_ms, until_ms]."""
    n = 0
    for cmd in aof_commands(incr):
        name = cmd[0].upper()
        if name in (b"RL.CHECK", b"RL.MCHECK"):
            assert cmd[-1].startswith(b"@"), cmd
            assert since_ms <= int(cmd[-1][1:]) <= until_ms, (cmd, since_ms, until_ms)
            n += 1
        elif name == b"RL.APPLY":
            n += 1
    return n


def wait_for_rewrite(c):
    def done():
        p = c.info("persistence")
        return not p["aof_rewrite_in_progress"] and not p["aof_rewrite_scheduled"]

    wait_until(done, timeout=20, what="AOF rewrite")
    assert c.info("persistence")["aof_last_bgrewrite_status"] == "ok"


@pytest.mark.parametrize("rewrite", [False, True], ids=["no-rewrite", "rewrite"])
@pytest.mark.parametrize("preamble", ["no", "yes"], ids=["preamble-no", "preamble-yes"])
def test_aof_restart_keeps_state_and_does_not_extend_windows(server_factory, kind, preamble, rewrite):
    opts = {"appendonly": "yes", "aof-use-rdb-preamble": preamble, "appendfsync": "always"}
    s = server_factory(kind, options=opts)
    c = s.client()
    started_ms = int(time.time() * 1000)
    keys = populate(c)
    limiters_at_rewrite = c.dbsize() - 1  # all but the plain string
    if rewrite:
        c.bgrewriteaof()
        wait_for_rewrite(c)
    # Every check so far reached a decision on an existing key or created one.
    decided_before_rewrite = stats(c)["allowed"] + stats(c)["denied"]
    # Activity after the (optional) rewrite goes to the incremental file.
    allowed_after = 0
    for _ in range(3):
        allowed_after += check(c, "tb:after", TB, 2, 2 * HOUR)[0]  # the 3rd is denied
    allowed_after += check(c, "gcra:exhausted", GCRA, 2, 2 * HOUR)[0]  # denied
    assert check(c, "missing", SL, 2, 2 * HOUR, None, 3)[0] == 0  # creates nothing
    assert allowed_after == 2
    assert c.execute_command("RL.RESET", "tb:plain") == 1
    keys = [k for k in keys if k != "tb:plain"] + ["tb:after"]
    before = snapshot(c, keys)

    incr = read_aof(s, ".incr.aof")
    # A check is logged as itself with the primary's time stamp (or as RL.APPLY), so
    # the replay evaluates at that instant, never at its own clock.
    effects = propagated_checks(incr, started_ms - 1000, int(time.time() * 1000) + 1000)
    if rewrite:
        # Only what followed the rewrite: two admitted checks, two denied checks on
        # existing keys (their denied totals), one DEL; the denied check on a missing
        # key added nothing.
        assert effects == 4
        base = read_aof(s, ".base.aof") + read_aof(s, ".base.rdb")
        if preamble == "yes":
            assert base.startswith(b"REDIS") or base.startswith(b"VALKEY"), base[:16]
        else:
            assert base.count(APPLY_CMD) == limiters_at_rewrite
            assert b"PEXPIREAT" in base.upper()
    else:
        # One effect per admitted check and per denied check on an existing key since
        # start, nothing for the denied check on a missing key.
        assert effects == decided_before_rewrite + 4
        assert stats(c)["denied"] >= 3
    assert b"$3\r\nDEL\r\n" in incr.upper()

    time.sleep(0.05)  # a replay that re-evaluated would now compute later expiries
    s.restart(save=None)
    c = s.client()
    assert c.exists("tb:plain") == 0 and c.exists("missing") == 0
    assert_same(before, snapshot(c, keys))
    assert inspect(c, "gcra:exhausted")["denied"] == 2
    assert inspect(c, "tb:after")["denied"] == 1
    assert check(c, "tb:after", TB, 2, 2 * HOUR)[0] == 0
    assert check(c, "gcra:plain", GCRA, 10, 10 * HOUR)[:3] == [1, 10, 6]


def test_aof_replay_evaluates_each_check_at_its_stamp_never_at_its_own_clock(server_factory, kind):
    s = server_factory(kind, options={"appendonly": "yes", "appendfsync": "always"})
    s.client().set("plain", "1")
    s.stop()
    # Checks as a primary logs them, stamped half an hour ago; and one without a stamp,
    # which only a hand-edited file can hold: its replay is refused, not evaluated now.
    stamp = int(time.time() * 1000) - 30 * 60_000
    logged = (
        encode_command("RL.CHECK", "tb", "TOKEN_BUCKET", 1, HOUR, f"@{stamp}")
        + encode_command("RL.MCHECK", 1, "gcra", "GCRA", 1, HOUR, f"@{stamp}")
        + encode_command("RL.CHECK", "unstamped", "GCRA", 1, HOUR)
    )
    (incr,) = [p for p in aof_files(s) if p.endswith(".incr.aof")]
    with open(incr, "ab") as f:
        f.write(logged)
    s.restart()
    c = s.client()
    assert c.get("plain") == b"1" and c.exists("unstamped") == 0
    for key in ("tb", "gcra"):
        # Charged half an hour ago, so full again (and gone) in half an hour, not one.
        assert 29 * 60_000 < c.pttl(key) <= 30 * 60_000, key
    tb, gcra = inspect(c, "tb"), inspect(c, "gcra")
    assert (tb["updated_ms"], tb["admitted"]) == (stamp, 1)
    assert (gcra["tat_ms"], gcra["admitted"]) == (stamp + HOUR, 1)


def test_a_clients_stamp_is_replaced_and_a_stale_one_replicates_as_apply(server_factory, kind):
    s = server_factory(kind, options={"appendonly": "yes", "appendfsync": "always"})
    c = s.client()
    since = int(time.time() * 1000) - 1000
    far = since + 10 * HOUR
    # A stamp of the client's own is replaced by the primary's clock: the bucket of one
    # per hour admits once, and a stamp ten hours ahead does not refill it.
    assert c.execute_command("RL.CHECK", "k", TB, 1, HOUR, f"@{far}")[0] == 1
    assert c.execute_command("RL.CHECK", "k", TB, 1, HOUR, f"@{far}")[0] == 0
    # Queued in a MULTI, a check is stamped at queue time; run at EXEC later, it is
    # evaluated at EXEC's clock and so propagates as its effect (RL.APPLY).
    with c.pipeline(transaction=False) as raw:
        raw.execute_command("MULTI")
        raw.execute_command("RL.CHECK", "m", GCRA, 5, HOUR)
        raw.execute()
        time.sleep(0.05)
        raw.execute_command("EXEC")
        (replies,) = raw.execute()
    assert replies[0][0] == 1
    until = int(time.time() * 1000) + 1000
    cmds = [cmd for cmd in aof_commands(read_aof(s, ".incr.aof"))
            if cmd[0].upper() in (b"RL.CHECK", b"RL.APPLY")]
    names = [cmd[0].upper() for cmd in cmds]
    # Admitted, denied on an existing key (both stamped), then the stale MULTI one.
    assert names == [b"RL.CHECK", b"RL.CHECK", b"RL.APPLY"], names
    for cmd in cmds[:2]:
        assert cmd[-1] != f"@{far}".encode() and since <= int(cmd[-1][1:]) <= until, cmd
    s.restart()
    c = s.client()
    assert check(c, "k", TB, 1, HOUR)[0] == 0
    assert check(c, "m", GCRA, 5, HOUR)[:3] == [1, 5, 3]


@pytest.mark.parametrize(
    "preamble, rewrite", [("no", False), ("yes", True), ("no", True)],
    ids=["commands", "rdb-preamble-rewrite", "command-rewrite"],
)
def test_aof_replay_an_hour_later_keeps_long_windows_and_drops_ended_ones(
    server_factory, preamble, rewrite
):
    opts = {"appendonly": "yes", "aof-use-rdb-preamble": preamble, "appendfsync": "always"}
    s = server_factory("valkey", options=opts)
    c = s.client()
    ended = []  # windows far shorter than an hour
    for i, (algorithm, limit, period) in enumerate(
        [(TB, 1, 500), (GCRA, 1, 500), (TB, 2, 30 * 60_000), (GCRA, 1, 30 * 60_000)]
    ):
        key = f"ended:{i}"
        assert check(c, key, algorithm, limit, period)[0] == 1
        ended.append(key)
    long = []  # windows of several hours: still open an hour later
    for algorithm in (TB, GCRA):
        key = f"long:{algorithm}"
        for _ in range(3):
            assert check(c, key, algorithm, 3, 3 * HOUR)[0] == 1  # rested in 3 hours
        assert check(c, key, algorithm, 3, 3 * HOUR)[0] == 0
        long.append(key)
        key = f"long-burst:{algorithm}"
        assert check(c, key, algorithm, 1, 2 * HOUR, 4, 3)[0] == 1  # rested in 6 hours
        long.append(key)
    for algorithm, period in ((FW, 2**40), (SW, 3 * HOUR), (SL, 3 * HOUR)):
        key = f"long:{algorithm}"
        for _ in range(3):
            assert check(c, key, algorithm, 3, period)[0] == 1
        assert check(c, key, algorithm, 3, period)[0] == 0  # its denied total
        long.append(key)
        key = f"ended:{algorithm}"
        assert check(c, key, algorithm, 1, 500)[0] == 1
        ended.append(key)
    if rewrite:
        c.bgrewriteaof()
        wait_for_rewrite(c)
    before = {k: (c.pexpiretime(k), digest_value(c, k)) for k in long}
    t_before = c.time()[0]

    s.restart(save=None, faketime="+1h")
    c = s.client()
    assert c.time()[0] - t_before >= 3600, "the restarted server runs an hour ahead"
    for k in ended:
        assert c.exists(k) == 0, f"{k} outlived its window"
    after = {k: (c.pexpiretime(k), digest_value(c, k)) for k in long}
    assert after == before, "a replay an hour later must not move expiries or state"
    assert c.dbsize() == len(long)
    # The hour passed for the limiters too: one of the 3 units per 3 hours came back.
    for algorithm in (TB, GCRA):
        assert check(c, f"long:{algorithm}", algorithm, 3, 3 * HOUR)[:3] == [1, 3, 0]
        assert check(c, f"long:{algorithm}", algorithm, 3, 3 * HOUR)[0] == 0
    # The log's units are still within their 3 hours; the fixed window is still open.
    assert check(c, f"long:{SL}", SL, 3, 3 * HOUR)[:3] == [0, 3, 0]
    assert check(c, f"long:{FW}", FW, 3, 2**40)[:3] == [0, 3, 0]
    for algorithm, denied in ((FW, 2), (SW, 1), (SL, 2)):
        info = inspect(c, f"long:{algorithm}")
        assert (info["admitted"], info["denied"]) == (3, denied), algorithm
    # A fresh window starts from the faked clock.
    assert check(c, "ended:0", TB, 1, 500) == [1, 1, 0, -1, 500]
    assert check(c, f"ended:{SL}", SL, 1, 500) == [1, 1, 0, -1, 500]


def test_redis_dump_restores_into_valkey(server_factory):
    """A DUMP made by Redis 7.0 (RDB 10) restores into Valkey 9 with the same value."""
    src = server_factory("redis").client()
    dst = server_factory("valkey").client()
    keys = populate(src)
    for k in keys:
        expiry = src.pexpiretime(k)
        assert dst.restore(k, expiry, src.dump(k), absttl=True) == b"OK"
        assert (dst.pexpiretime(k), digest_value(dst, k)) == (expiry, digest_value(src, k))
    assert check(dst, "gcra:plain", GCRA, 10, 10 * HOUR)[:3] == [1, 10, 6]
    assert check(dst, "tb:exhausted", TB, 2, 2 * HOUR)[:3] == [0, 2, 0]
