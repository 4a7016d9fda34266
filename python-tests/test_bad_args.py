"""Argument validation: every bad vector gets its exact error, creates nothing, and
leaves the server healthy. One server of each kind is shared by the whole file."""

import random

import pytest

from helpers import (
    LATENCY_NAMES,
    STATS_FIELDS,
    GCRA,
    MAX,
    SL,
    STATS_NAMES,
    TB,
    algorithm_error,
    apply_payload,
    arity_error,
    burst_error,
    call_error,
    check,
    cost_error,
    encode_gcra,
    encode_token_bucket,
    inspect,
    limit_error,
    missing_value_error,
    number_for_algorithm_error,
    option_error,
    peek,
    period_error,
    same_error,
    server_time_ms,
    sl_period_error,
    twice_error,
)

# RL.CHECK's positions: key 1, algorithm 2, limit 3, period 4, then options from 5.
ARITY = arity_error("rl.check")
LIMIT = limit_error(3)
PERIOD = period_error(4)
BURST = burst_error(6)
COST = cost_error(6)
BURST_MISSING = missing_value_error("BURST", 5)
COST_MISSING = missing_value_error("COST", 5)
ALGO = algorithm_error(2)
NUMBER_FOR_ALGO = number_for_algorithm_error(2)
OPTION = option_error(5)
BURST_TWICE = twice_error("BURST", 7)
COST_TWICE = twice_error("COST", 7)
BAD_PAYLOAD = "ERR invalid RL.APPLY payload"

K = b"ZZkeyQQ"  # distinctive bytes that must never show up in an error reply
HUGE_KEY = b"H" * 1_000_000

BAD = [
    # arity
    ((), ARITY),
    ((K,), ARITY),
    ((K, GCRA), ARITY),
    ((K, GCRA, 10), ARITY),
    ((K, GCRA, 10, 1000, "BURST", 1, "COST", 1, "BLOCK", 1, "AT_MOST", "X"), ARITY),
    ((K, GCRA, 10, 1000, "BURST", 1, "COST", 1, "X"), option_error(9)),
    ((K, GCRA, 10, 1000, "BURST", 1, "COST", 1, "BLOCK", 1, "BURST", 2), ARITY),
    # algorithm (argument 2)
    ((K, "LEAKY_BUCKET", 10, 1000), ALGO),
    ((K, "TOKENBUCKET", 10, 1000), ALGO),
    ((K, "GCRA ", 10, 1000), ALGO),
    ((K, "", 10, 1000), ALGO),
    ((K, b"GCRA\x00", 10, 1000), ALGO),
    ((K, b"\xff\x00ZZalgoQQ", 10, 1000), ALGO),
    # arguments in the wrong order: a number where the algorithm belongs
    ((K, 10, 1000, TB), NUMBER_FOR_ALGO),
    ((K, 10, GCRA, 1000), NUMBER_FOR_ALGO),
    ((K, 10, 1000, GCRA, "COST", 1), NUMBER_FOR_ALGO),
    ((K, "-1", 10, 1000), ALGO),
    # limit (argument 3)
    ((K, GCRA, 0, 1000), LIMIT),
    ((K, TB, "-1", 1000), LIMIT),
    ((K, TB, "+1", 1000), LIMIT),
    ((K, GCRA, "abc", 1000), LIMIT),
    ((K, GCRA, "1.5", 1000), LIMIT),
    ((K, GCRA, "10.0", 1000), LIMIT),
    ((K, GCRA, "1e3", 1000), LIMIT),
    ((K, GCRA, " 1", 1000), LIMIT),
    ((K, GCRA, "1 ", 1000), LIMIT),
    ((K, GCRA, "", 1000), LIMIT),
    ((K, GCRA, "0x10", 1000), LIMIT),
    ((K, GCRA, "10s", 1000), LIMIT),
    ((K, GCRA, "9223372036854775808", 1000), LIMIT),
    ((K, GCRA, "18446744073709551616", 1000), LIMIT),
    ((K, GCRA, "99999999999999999999", 1000), LIMIT),
    ((K, GCRA, b"\xff\xfeZZnumQQ", 1000), LIMIT),
    # period (argument 4, checked after limit): a duration
    ((K, TB, 10, 0), PERIOD),
    ((K, TB, 10, "0s"), PERIOD),
    ((K, TB, 10, "-1000"), PERIOD),
    ((K, TB, 10, "1e3"), PERIOD),
    ((K, TB, 10, "1000.5"), PERIOD),
    ((K, TB, 10, "1.5s"), PERIOD),
    ((K, TB, 10, "1 s"), PERIOD),
    ((K, TB, 10, "1min"), PERIOD),
    ((K, TB, 10, "1sec"), PERIOD),
    ((K, TB, 10, "1w"), PERIOD),
    ((K, TB, 10, "s"), PERIOD),
    # (a last argument starting with @ is the filter's stamp, replaced; not a period)
    ((K, TB, 10, "@1000", "COST", 1), PERIOD),
    ((K, TB, 10, ""), PERIOD),
    ((K, TB, 10, "9223372036854775808"), PERIOD),
    ((K, TB, 10, "9223372036854776s"), PERIOD),
    ((K, TB, 10, "106751991168d"), PERIOD),
    ((K, TB, 10, "99999999999999999999"), PERIOD),
    ((K, TB, 10, b"ZZperiodQQs"), PERIOD),
    ((K, TB, 0, 0), LIMIT),
    ((K, SL, 10, "50d"), sl_period_error(4)),
    # BURST / COST values (argument 6)
    ((K, GCRA, 10, 1000, "BURST", 0), BURST),
    ((K, GCRA, 10, 1000, "BURST", "-5"), BURST),
    ((K, GCRA, 10, 1000, "BURST", "2.5"), BURST),
    ((K, GCRA, 10, 1000, "BURST", ""), BURST),
    ((K, GCRA, 10, 1000, "BURST", "9223372036854775808"), BURST),
    ((K, GCRA, 10, 1000, "COST", 0), COST),
    ((K, TB, 10, 1000, "COST", "-1"), COST),
    ((K, TB, 10, 1000, "COST", "1e3"), COST),
    ((K, TB, 10, 1000, "COST", "99999999999999999999"), COST),
    ((K, TB, 10, 1000, "COST", b"ZZcostQQ"), COST),
    ((K, TB, 10, "1s", "COST", 1, "BURST", "0"), burst_error(8)),
    # missing option values (the option's own position)
    ((K, GCRA, 10, 1000, "BURST"), BURST_MISSING),
    ((K, GCRA, 10, 1000, "COST"), COST_MISSING),
    ((K, GCRA, 10, 1000, "COST", 1, "BURST"), missing_value_error("BURST", 7)),
    ((K, TB, 10, 1000, "burst", 3, "cost"), missing_value_error("COST", 7)),
    # repeated options (the second one's position)
    ((K, GCRA, 10, 1000, "BURST", 1, "BURST", 2), BURST_TWICE),
    ((K, GCRA, 10, 1000, "burst", 1, "BuRsT", 1), BURST_TWICE),
    ((K, TB, 10, 1000, "COST", 1, "COST", 2), COST_TWICE),
    ((K, TB, 10, 1000, "COST", 1, "BURST", 5, "COST"), twice_error("COST", 9)),
    # unknown options
    ((K, GCRA, 10, 1000, "SPEED", 2), OPTION),
    ((K, GCRA, 10, 1000, "BURSTY", 2), OPTION),
    ((K, GCRA, 10, 1000, "", 2), OPTION),
    ((K, GCRA, 10, 1000, "BURST", 2, "ZZoptQQ"), option_error(7)),
    ((K, GCRA, 10, 1000, b"\x00\x01ZZoptQQ", 2), OPTION),
    ((K, GCRA, 10, 1000, GCRA, 2), OPTION),
    # a huge key with bad arguments
    ((HUGE_KEY, "ZZalgoQQ", 10, 1000), ALGO),
    ((HUGE_KEY, GCRA, 0, 1000), LIMIT),
    # binary junk everywhere
    ((b"\x00\xff" * 50, b"\x80\x81", b"\xfe", b"\xfd", b"\x00", b"\x01"), ALGO),
]


def case_id(case):
    args, _ = case
    text = " ".join(
        (a[:12].decode("latin-1") if isinstance(a, bytes) else str(a)) for a in args
    )
    return repr(text)[1:-1][:60] or "no-args"


@pytest.mark.parametrize("args, expected", BAD, ids=[case_id(c) for c in BAD])
def test_bad_arguments_get_the_exact_error(shared, args, expected):
    c = shared.client()
    got = call_error(c, "RL.CHECK", *args)
    assert same_error(got, expected), f"got {got!r}, expected {expected!r}"
    # Nothing was created, the server is healthy and a valid check still works.
    if args:
        assert c.exists(args[0]) == 0
    assert c.ping() is True
    assert check(c, "valid", GCRA, 1_000_000, 1000)[0] == 1
    c.close()


def test_errors_never_echo_key_or_argument_bytes(shared):
    c = shared.client()
    distinctive = [
        (b"ZZkey1QQ", "ZZalgoQQ", 1, 1),
        (b"ZZkey2QQ", GCRA, "ZZlimitQQ", 1),
        (b"ZZkey3QQ", GCRA, 1, "ZZperiodQQ"),
        (b"ZZkey4QQ", GCRA, 1, 1, "BURST", "ZZburstQQ"),
        (b"ZZkey5QQ", GCRA, 1, 1, "ZZoptionQQ", 1),
        (b"ZZkey6QQ", GCRA, 1, 1, "COST"),
        (b"ZZkey7QQ", GCRA, 1, "ZZ1QQs"),
        (b"ZZkey8QQ", "1", "ZZ2QQ", GCRA),
    ]
    for args in distinctive:
        err = call_error(c, "RL.CHECK", *args)
        assert "ZZ" not in err and "QQ" not in err, err
    c.set("ZZstrQQ", "v")
    err = call_error(c, "RL.CHECK", "ZZstrQQ", GCRA, 1, 1)
    assert "ZZ" not in err, err
    err = call_error(c, "RL.APPLY", "ZZapplyQQ", b"ZZpayloadQQ")
    assert "ZZ" not in err and err == BAD_PAYLOAD
    c.delete("ZZstrQQ")


def test_i64_max_arguments_are_accepted_without_overflow(shared):
    c = shared.client()
    c.delete("m1", "m2", "m3", "m4")
    for algorithm in (TB, GCRA):
        c.delete("m1", "m2", "m3")
        # One unit per millisecond, capacity i64::MAX units.
        assert check(c, "m1", algorithm, MAX, MAX) == [1, MAX, MAX - 1, -1, 1]
        # Everything at i64::MAX: the whole burst in one request.
        assert check(c, "m2", algorithm, MAX, MAX, burst=MAX, cost=MAX) == [1, MAX, 0, -1, MAX]
        reply = check(c, "m2", algorithm, MAX, MAX, burst=MAX, cost=MAX)
        assert all(type(v) is int and -1 <= v <= MAX for v in reply), reply
        # One unit per i64::MAX ms: the reset saturates at i64::MAX, so does the expiry.
        assert check(c, "m3", algorithm, 1, MAX) == [1, 1, 0, -1, MAX]
        denied = check(c, "m3", algorithm, 1, MAX)
        assert denied[:3] == [0, 1, 0] and MAX - 10_000 <= denied[3] <= MAX, denied
        assert c.exists("m3") == 1, "a saturated expiry must not expire the key at once"
        assert c.pexpiretime("m3") > server_time_ms(c) + 10 * 365 * 86_400_000
        assert c.type("m3") == b"ratelimit"
    c.delete("m1", "m2", "m3")


APPLY_NOW = 1_700_000_000_000
VALID_TB = encode_token_bucket(10, 1000, 10, 10 * 1000, APPLY_NOW)
VALID_GCRA = encode_gcra(10, 1000, 10, APPLY_NOW * 10)

GARBAGE_PAYLOADS = {
    "empty": b"",
    "one-byte": b"\x01",
    "eight-bytes": b"\x00" * 8,
    "short": b"\x01\x01" + b"\x00" * 10,
    "random": bytes(random.Random(1).randrange(256) for _ in range(58)),
    "random-long": bytes(random.Random(2).randrange(256) for _ in range(4096)),
    "version-0": apply_payload(b"\x00" + VALID_TB[1:], 0),
    "version-2": apply_payload(b"\x02" + VALID_TB[1:], 0),
    "version-255": apply_payload(b"\xff" + VALID_GCRA[1:], 0),
    "algorithm-0": apply_payload(VALID_TB[:1] + b"\x00" + VALID_TB[2:], 0),
    "algorithm-3": apply_payload(VALID_TB[:1] + b"\x03" + VALID_TB[2:], 0),
    "tb-as-gcra-length": apply_payload(VALID_TB[:1] + b"\x02" + VALID_TB[2:], 0),
    "gcra-as-tb-length": apply_payload(VALID_GCRA[:1] + b"\x01" + VALID_GCRA[2:], 0),
    "truncated": apply_payload(VALID_TB[:-1], 0),
    "trailing-byte": apply_payload(VALID_TB + b"\x00", 0),
    "limit-0": apply_payload(encode_token_bucket(0, 1000, 10, 0, APPLY_NOW), 0),
    "period-0": apply_payload(encode_gcra(10, 0, 10, 0), 0),
    "burst-0": apply_payload(encode_gcra(10, 1000, 0, 0), 0),
    "limit-above-i64": apply_payload(encode_gcra(2**63, 1000, 10, 0), 0),
    "tokens-above-capacity": apply_payload(
        encode_token_bucket(10, 1000, 10, 10 * 1000 + 1, APPLY_NOW), 0
    ),
    "tokens-i128-min": apply_payload(encode_token_bucket(10, 1000, 10, -(2**127), APPLY_NOW), 0),
    "updated-above-i64": apply_payload(encode_token_bucket(10, 1000, 10, 0, 2**64 - 1), 0),
    "tat-above-max": apply_payload(encode_gcra(10, 1000, 10, 2**128 - 1), 0),
    "negative-expiry": apply_payload(VALID_GCRA, -1),
}


@pytest.mark.parametrize("payload", GARBAGE_PAYLOADS.values(), ids=list(GARBAGE_PAYLOADS))
def test_rl_apply_rejects_invalid_payloads(shared, payload):
    c = shared.client()
    c.delete("ap")
    assert call_error(c, "RL.APPLY", "ap", payload) == BAD_PAYLOAD
    assert c.exists("ap") == 0
    # An existing limiter is left as it was.
    check(c, "ap", GCRA, 5, 3_600_000)
    before = (c.pexpiretime("ap"), c.execute_command("DEBUG", "DIGEST-VALUE", "ap"))
    assert call_error(c, "RL.APPLY", "ap", payload) == BAD_PAYLOAD
    assert (c.pexpiretime("ap"), c.execute_command("DEBUG", "DIGEST-VALUE", "ap")) == before
    c.delete("ap")


def test_rl_apply_accepts_a_valid_payload(shared):
    c = shared.client()
    c.delete("ap", "ap2", "s")
    now = server_time_ms(c)
    expire_at = now + 3_600_000
    # A full bucket of 10 per hour, as of now.
    enc = encode_token_bucket(10, 3_600_000, 10, 10 * 3_600_000, now)
    assert c.execute_command("RL.APPLY", "ap", apply_payload(enc, expire_at)) == b"OK"
    assert c.type("ap") == b"ratelimit"
    assert c.pexpiretime("ap") == expire_at
    assert check(c, "ap", TB, 10, 3_600_000)[:3] == [1, 10, 9]
    # The other algorithm's state under a GCRA key; expiry 0 leaves the key without TTL.
    enc = encode_gcra(10, 3_600_000, 10, now * 10)
    assert c.execute_command("RL.APPLY", "ap2", apply_payload(enc, 0)) == b"OK"
    assert c.pexpiretime("ap2") == -1
    assert call_error(c, "RL.CHECK", "ap2", TB, 10, 3_600_000).startswith("ERR key holds")
    assert check(c, "ap2", GCRA, 10, 3_600_000)[:3] == [1, 10, 9]
    # Onto a key of another type: WRONGTYPE, the string stays.
    c.set("s", "v")
    got = call_error(c, "RL.APPLY", "s", apply_payload(enc, 0))
    assert got.startswith("WRONGTYPE"), got
    assert c.get("s") == b"v"
    c.delete("ap", "ap2", "s")


@pytest.mark.parametrize("args", [(), ("k",), ("k", b"x", b"y")], ids=["none", "one", "three"])
def test_rl_apply_arity(shared, args):
    c = shared.client()
    assert same_error(call_error(c, "RL.APPLY", *args), arity_error("rl.apply"))


def test_rl_stats_takes_only_reset_as_an_argument(shared):
    c = shared.client()
    assert call_error(c, "RL.STATS", "x") == (
        "ERR unknown subcommand; RL.STATS takes no argument or RESET"
    )
    assert same_error(call_error(c, "RL.STATS", "RESET", "now"), arity_error("rl.stats"))
    assert len(c.execute_command("RL.STATS")) == 2 * len(STATS_FIELDS)


def test_rl_reset_without_keys_is_an_arity_error(shared):
    c = shared.client()
    assert same_error(call_error(c, "RL.RESET"), arity_error("rl.reset"))


def test_huge_key_works(shared):
    c = shared.client()
    assert check(c, HUGE_KEY, TB, 2, 3_600_000)[:3] == [1, 2, 1]
    assert c.type(HUGE_KEY) == b"ratelimit"
    assert c.execute_command("RL.RESET", HUGE_KEY) == 1


def test_arity_error_text_is_exactly_the_documented_one(shared):
    """docs/commands.md and the contract: `ERR wrong number of arguments for 'rl.check'
    command` (the wording of Redis's own commands, which name themselves in lower
    case). The rest of this file compares arity errors ignoring case; this test pins
    the exact bytes."""
    c = shared.client()
    got = {
        args: call_error(c, *args)
        for args in [("RL.CHECK", "k", GCRA, 1), ("rl.check",), ("RL.RESET",),
                     ("RL.STATS", "RESET", "x"), ("RL.APPLY", "k")]
    }
    wrong = {args[0]: text for args, text in got.items() if text != arity_error(args[0].lower())}
    assert not wrong, f"arity errors differ from the documented text: {wrong}"


GOOD_PERIODS = [
    ("1", 1, "1ms"), ("250ms", 250, "250ms"), ("250MS", 250, "250ms"), ("1500", 1500, "1500ms"),
    ("1s", 1000, "1s"), ("60s", 60_000, "1m"), ("90S", 90_000, "90s"), ("1m", 60_000, "1m"),
    ("90m", 5_400_000, "90m"), ("1h", 3_600_000, "1h"), ("24h", 86_400_000, "1d"),
    ("1d", 86_400_000, "1d"), ("7d", 604_800_000, "7d"), ("3600000", 3_600_000, "1h"),
    ("9223372036854775807ms", MAX, "9223372036854775807ms"),
]


@pytest.mark.parametrize("text, ms, shown", GOOD_PERIODS, ids=[p[0] for p in GOOD_PERIODS])
def test_periods_take_a_unit_and_inspect_shows_the_largest_exact_one(shared, text, ms, shown):
    c = shared.client()
    c.delete("p", "q")
    # A burst of 1000 periods spent at once keeps the key for 1000 periods (>= 1 s).
    assert check(c, "p", GCRA, 1, text, burst=1000, cost=1000)[:3] == [1, 1, 0]
    info = inspect(c, "p")
    assert (info["period_ms"], info["period"]) == (ms, shown)
    # The same key checked with the bare milliseconds is the same quota.
    assert check(c, "p", GCRA, 1, ms, burst=1000)[1] == 1
    assert inspect(c, "p")["period_ms"] == ms
    # The shown form is accepted back.
    assert check(c, "q", GCRA, 1, shown, burst=1000, cost=1000)[0] == 1
    assert inspect(c, "q")["period_ms"] == ms
    c.delete("p", "q")


def test_a_period_in_seconds_without_a_unit_is_milliseconds(shared):
    """redis-cell's `60` means a minute; here it is 60 ms, `60s` is a minute."""
    c = shared.client()
    c.delete("cell", "unit")
    check(c, "cell", GCRA, 10, 60)
    check(c, "unit", GCRA, 10, "60s")
    assert inspect(c, "cell")["period"] == "60ms"
    assert inspect(c, "unit")["period"] == "1m"
    c.delete("cell", "unit")


def test_peek_takes_cost_zero_and_the_checks_do_not(shared):
    c = shared.client()
    c.delete("z")
    assert peek(c, "z", GCRA, 5, "1h", cost=0) == [1, 5, 5, -1, 0]
    assert c.exists("z") == 0
    for _ in range(5):
        check(c, "z", GCRA, 5, "1h")
    got = peek(c, "z", GCRA, 5, "1h", cost=0)
    assert got[:4] == [1, 5, 0, -1] and got[4] > 0, got
    assert call_error(c, "RL.CHECK", "z", GCRA, 5, "1h", "COST", 0) == cost_error(6)
    assert call_error(c, "RL.MCHECK", 1, "z", GCRA, 5, "1h", "COST", 0) == cost_error(7)
    assert call_error(c, "RL.PEEK", "z", GCRA, 5, "1h", "COST", "-1") == cost_error(6)
    c.delete("z")
