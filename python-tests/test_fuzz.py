"""A bounded fuzzer against the live server: random and structure-aware argument
vectors for every RL command (random bytes, empty strings, huge and negative numbers,
repeated and unknown options, wrong key types, multi-megabyte arguments, every
algorithm, RL.APPLY payloads built from real values and mutated), on RESP2 and RESP3.
The server must answer every command, PING throughout, never log a panic, never echo
key or argument bytes in an error, and return to its memory baseline after FLUSHALL.

RL_FUZZ_COMMANDS sets the commands per server kind (default 50,000: half RESP2, half
RESP3); `make fuzz` runs 1,000,000 per kind. RL_FUZZ_SEED picks the seed (printed)."""

import json
import os
import random

import redis

from helpers import CELL_COMPAT, ModuleDump, check

N = int(os.environ.get("RL_FUZZ_COMMANDS", "50000"))
SEED = int(os.environ.get("RL_FUZZ_SEED", "20261123"))
BATCH = 500
# In every key and random argument, so an error that echoes one is caught.
MARK = b"Zq7mark"
ALGORITHMS = [b"TOKEN_BUCKET", b"GCRA", b"FIXED_WINDOW", b"SLIDING_WINDOW", b"SLIDING_LOG",
              b"CALENDAR"]
POLICY_NAMES = [b"free", b"pro", b"two", b"shadow"]
# Keys of every other type, and the command that creates each.
OTHER_TYPES = {"str": ["SET", "v"], "list": ["RPUSH", "v"], "hash": ["HSET", "f", "v"],
               "set": ["SADD", "v"], "zset": ["ZADD", 1, "v"], "stream": ["XADD", "*", "f", "v"]}


class Gen:
    """Argument vectors, each a list of bytes, for one random command."""

    def __init__(self, rng, payloads):
        self.rng = rng
        self.payloads = payloads  # valid RL.APPLY payloads to mutate
        self.lease_ids = [b"00000000000000ff"]  # ids RL.ACQUIRE replied (run() adds them)
        self.keys = [b"rl:" + MARK + b":%d" % i for i in range(30)] + [
            b"wt:" + MARK + b":" + k.encode() for k in OTHER_TYPES] + [
            MARK + b"\x00\xff\r\n", MARK]

    def key(self):
        r = self.rng.random()
        if r < 0.02:
            return b""
        if r < 0.04:
            return MARK + bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(64)))
        return self.rng.choice(self.keys)

    def number(self):
        rng = self.rng
        return rng.choice([
            b"0", b"1", b"2", b"3", b"10", b"1000", b"86400000", b"4294967295",
            b"4294967296", b"10000", b"10001", b"10000000", b"9223372036854775807",
            b"9223372036854775808", b"18446744073709551615", b"18446744073709551616",
            b"-1", b"-0", b"+1", b"01", b"1.5", b"1e3", b" 1", b"1 ", b"0x10", b"",
            b"99999999999999999999999999", b"-9223372036854775808",
            str(rng.randrange(1, 1000)).encode(), str(rng.randrange(1, 2**63)).encode(),
            self.junk(),
        ])

    def period(self):
        """A number, or a duration with a unit (valid, out of range, or malformed)."""
        if self.rng.random() < 0.6:
            return self.number()
        return self.rng.choice([
            b"1ms", b"250MS", b"1s", b"60s", b"1m", b"1M", b"90m", b"1h", b"24H", b"1d",
            b"49d", b"50d", b"0s", b"0ms", b"s", b"ms", b"1.5s", b"1 s", b"1min", b"1sec",
            b"1w", b"-1s", b"9223372036854775s", b"9223372036854776s", b"106751991168d",
            b"9223372036854775807ms", b"@1000", str(self.rng.randrange(1, 10**6)).encode() + b"s",
            self.junk() + b"s",
        ])

    def junk(self):
        n = self.rng.choice([0, 1, 3, 8, 40])
        return MARK + bytes(self.rng.randrange(256) for _ in range(n))

    def algorithm(self):
        r = self.rng.random()
        if r < 0.8:
            return self.rng.choice(ALGORITHMS)
        if r < 0.9:
            return self.rng.choice(ALGORITHMS).lower()
        return self.rng.choice([b"", b"LEAKY", b"GCRA ", b"TOKEN-BUCKET", self.junk()])

    def options(self):
        out = []
        for _ in range(self.rng.choice([0, 0, 1, 1, 2, 3])):
            word = self.rng.choice([b"BURST", b"COST", b"burst", b"cost", b"LIMIT", b"BLOCK",
                                    b"UTC_OFFSET", b"AT_MOST", b"", self.junk()])
            out.append(word)
            if self.rng.random() < 0.9:
                out.append(self.number())
        return out

    def spec(self):
        out = [self.algorithm(), self.number(), self.period()] + self.options()
        if self.rng.random() < 0.05:
            out = out[: self.rng.randrange(len(out) + 1)]
        return out

    def sane_pair(self):
        """A limiter key and a spec that usually parses, with the algorithm that key
        mostly holds (others give mismatch errors), so the algorithms get exercised."""
        i = self.rng.randrange(30)
        key = b"rl:" + MARK + b":%d" % i
        if self.rng.random() < 0.1:
            return key, self.sane_spec()
        return key, self.sane_spec(ALGORITHMS[i % len(ALGORITHMS)])

    def sane_spec(self, algorithm=None):
        """A spec that usually parses."""
        rng = self.rng
        algorithm = algorithm or rng.choice(ALGORITHMS)
        periods = ([b"DAY", b"week", b"MONTH", b"1d"] if algorithm == b"CALENDAR" else
                   [b"1", b"50", b"1000", b"3600000", b"1s", b"50ms", b"1h", b"1m"])
        out = [algorithm, str(rng.choice([1, 2, 5, 100])).encode(), rng.choice(periods)]
        if algorithm == b"CALENDAR" and rng.random() < 0.5:
            out += [b"UTC_OFFSET", rng.choice([b"0", b"-300", b"+540", b"1080", b"1081"])]
        if algorithm in (b"TOKEN_BUCKET", b"GCRA") and rng.random() < 0.3:
            out += [b"BURST", str(rng.choice([1, 3, 200])).encode()]
        if rng.random() < 0.3:
            out += [b"COST", str(rng.choice([0, 1, 2, 7, 500])).encode()]
        if rng.random() < 0.1:
            out += [b"BLOCK", rng.choice([b"1", b"20", b"1s"])]
        return out

    def policy_name(self):
        r = self.rng.random()
        if r < 0.85:
            return self.rng.choice(POLICY_NAMES)
        return self.rng.choice([b"", b"a" * 129, b"a b", b"nope", MARK + b"!"])

    def policy_spec(self, shadow_ok):
        rng = self.rng
        out = [rng.choice([b"POLICY", b"policy"]), self.policy_name()]
        if rng.random() < 0.4:
            out += [b"COST", str(rng.choice([0, 1, 2, 50])).encode() if rng.random() < 0.9
                    else self.number()]
        if rng.random() < 0.2:
            out.append(b"SHADOW" if shadow_ok or rng.random() < 0.3 else self.junk())
        if rng.random() < 0.05:
            out += [b"BURST", b"2"]
        return out

    def limit_json(self):
        """One limit: usually valid, sometimes a field out of range or unknown."""
        rng = self.rng
        algorithm = rng.choice(ALGORITHMS).decode()
        limit = {"algorithm": algorithm, "limit": rng.choice([1, 2, 5, 100])}
        if algorithm == "CALENDAR":
            limit["period"] = rng.choice(["DAY", "WEEK", "month"])
            if rng.random() < 0.3:
                limit["utc_offset"] = rng.choice([-300, 0, 60, 330, 1081])
        elif rng.random() < 0.5:
            limit["period_ms"] = rng.choice([50, 1000, 3_600_000])
        else:
            limit["period"] = rng.choice(["1s", "1m", "1h", "50ms", "1d"])
        if algorithm in ("TOKEN_BUCKET", "GCRA") and rng.random() < 0.3:
            limit["burst"] = rng.choice([1, 3, 200])
        if rng.random() < 0.1:
            limit["block_ms"] = rng.choice([1, 1000, 60_000])
        if rng.random() < 0.1:
            field = rng.choice(["limit", "period_ms", "burst", "algorithm", "cost", "period"])
            limit[field] = rng.choice([0, -1, 1.5, 2**63, "x", None, [], "1w", "LEAKY",
                                       MARK.decode()])
        return limit

    def policy_json(self):
        rng = self.rng
        policy = {"limits": [self.limit_json() for _ in range(rng.choice([1, 1, 2, 3, 8, 9]))]}
        if rng.random() < 0.3:
            policy["shadow"] = rng.random() < 0.7 or MARK.decode()
        text = json.dumps(policy).encode()
        r = rng.random()
        if r < 0.05:
            return text[: rng.randrange(len(text))]
        if r < 0.1:
            return self.junk()
        return text

    def policy_command(self):
        rng = self.rng
        sub = rng.choices([b"SET", b"set", b"GET", b"DEL", b"LIST", b"LOAD", b"RELOAD",
                           b"DIGEST", self.junk()], weights=[30, 5, 10, 5, 5, 8, 2, 5, 2])[0]
        upper = sub.upper()
        if upper == b"SET":
            args = [self.policy_name(), self.policy_json()]
        elif upper in (b"GET", b"DEL"):
            args = [self.policy_name()]
        elif upper == b"LOAD":
            names = rng.sample(POLICY_NAMES, rng.randrange(len(POLICY_NAMES) + 1))
            body = b",".join(b'"%s": %s' % (n, self.policy_json()) for n in names)
            args = [b'{"policies": {' + body + b"}}" if rng.random() < 0.9 else self.junk()]
        else:
            args = []
        if rng.random() < 0.05:
            args.append(self.junk())
        return [sub] + args

    def payload(self):
        rng = self.rng
        r = rng.random()
        if r < 0.3 and self.payloads:
            return rng.choice(self.payloads)
        if r < 0.7 and self.payloads:
            p = bytearray(rng.choice(self.payloads))
            for _ in range(rng.choice([1, 2, 4])):
                i = rng.randrange(len(p))
                p[i] = rng.randrange(256)
            cut = rng.random()
            if cut < 0.2:
                p = p[: rng.randrange(len(p) + 1)]
            elif cut < 0.3:
                p += bytes(8 * rng.randrange(1, 4))
            return bytes(p)
        first = rng.choice([1, 2, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0, 255])
        words = rng.randrange(0, 12)
        return bytes([first]) + bytes(rng.randrange(256) for _ in range(8 * words + rng.randrange(8)))

    def command(self):
        rng = self.rng
        name = rng.choices(
            [b"RL.CHECK", b"rl.check", b"RL.PEEK", b"Rl.Peek", b"RL.MCHECK", b"RL.INSPECT",
             b"RL.RESET", b"RL.STATS", b"RL.METRICS", b"RL.APPLY", b"CL.THROTTLE",
             b"RL.REFUND", b"RL.ACQUIRE", b"RL.RELEASE", b"rl.renew", b"RL.BLOCK", b"RL.POLICY"],
            weights=[25, 5, 8, 2, 15, 5, 5, 3, 2, 17, 15, 6, 10, 5, 4, 3, 8])[0]
        upper = name.upper()
        if upper in (b"RL.CHECK", b"RL.PEEK") and rng.random() < 0.2:
            # A policy check: mostly a policy that exists (and its keys), sometimes not.
            key = (b"rl:" + MARK + b":p%d" % rng.randrange(6) if rng.random() < 0.8
                   else self.key())
            return [name, key] + self.policy_spec(upper == b"RL.CHECK")
        if upper == b"RL.POLICY":
            return [name] + self.policy_command()
        if upper in (b"RL.ACQUIRE", b"RL.RELEASE", b"RL.RENEW"):
            # Mostly the lease keys (a few of them, so the cap and the limit are hit),
            # sometimes any key (mismatches, wrong types, junk).
            key = (b"rl:" + MARK + b":lease:%d" % rng.randrange(4) if rng.random() < 0.8
                   else self.key())
            sane = rng.random() < 0.75
            lease_ms = str(rng.choice([1, 50, 1000, 3_600_000])).encode() if sane else self.number()
            if upper == b"RL.ACQUIRE":
                args = [key, str(rng.choice([1, 3, 50])).encode() if sane else self.number(),
                        lease_ms]
                if rng.random() < 0.3:
                    args += [rng.choice([b"COST", b"cost", b"BURST", self.junk()]),
                             str(rng.choice([0, 1, 2, 60])).encode()]
                if rng.random() < 0.03:
                    args = args[: rng.randrange(len(args) + 1)]
            else:
                lease_id = (rng.choice(self.lease_ids[-50:]) if rng.random() < 0.6
                            else rng.choice([b"", b"0" * 16, b"f" * 17, self.junk(),
                                             b"%016x" % rng.randrange(2**64)]))
                args = [key, lease_id] + ([lease_ms] if upper == b"RL.RENEW" else [])
                if rng.random() < 0.03:
                    args.append(self.junk())
        elif upper in (b"RL.CHECK", b"RL.PEEK"):
            if rng.random() < 0.7:
                key, spec = self.sane_pair()
            else:
                key, spec = self.key(), self.spec()
            args = [key] + spec
        elif upper == b"RL.MCHECK":
            n = rng.choice([1, 2, 3, 5])
            pairs = [self.sane_pair() if rng.random() < 0.8 else (self.key(), self.spec())
                     for _ in range(n + rng.choice([0, 0, 0, 0, 0, -1, 1]))]
            keys = [k for k, _ in pairs[:n]] + [self.key() for _ in range(n - len(pairs))]
            specs = [x for _, spec in pairs for x in spec]
            numkeys = str(n).encode() if rng.random() < 0.85 else self.number()
            args = [numkeys] + keys + specs
        elif upper == b"RL.INSPECT":
            args = [self.key()] + ([self.junk()] if rng.random() < 0.05 else [])
        elif upper == b"RL.RESET":
            args = [self.key() for _ in range(rng.choice([0, 1, 1, 2, 5]))]
        elif upper == b"RL.STATS":
            args = rng.choice([[], [], [b"RESET"], [b"reset"], [self.junk()], [b"RESET", b"x"]])
        elif upper == b"RL.METRICS":
            args = rng.choice([[], [], [], [self.junk()]])
        elif upper == b"RL.BLOCK":
            ms = rng.choice([b"1", b"50", b"1s", b"2m"]) if rng.random() < 0.7 else self.number()
            args = [self.key(), ms][: rng.choice([2, 2, 2, 2, 1, 0])]
            if rng.random() < 0.05:
                args.append(self.junk())
        elif upper == b"RL.REFUND":
            word = rng.choice([b"COST", b"cost", b"COST", self.junk()])
            value = str(rng.choice([1, 2, 5, 1000])).encode() if rng.random() < 0.8 else self.number()
            args = [self.key(), word, value][: rng.choice([3, 3, 3, 3, 2, 1])]
            if rng.random() < 0.05:
                args.append(self.junk())
        elif upper == b"RL.APPLY":
            args = []
            for _ in range(rng.choice([0, 1, 1, 2, 4, 5])):
                args += [self.key(), self.payload()]
            if rng.random() < 0.05:
                args.append(self.key())
        elif rng.random() < 0.6:  # CL.THROTTLE with numbers that usually parse
            args = [self.key()] + [str(rng.choice([0, 1, 5, 100])).encode() for _ in range(3)]
            args += [str(rng.choice([0, 1, 2])).encode()] if rng.random() < 0.5 else []
        else:
            args = [self.key()] + [self.number() for _ in range(rng.choice([3, 3, 4, 4, 2, 5]))]
        if rng.random() < 0.0005:
            # A multi-megabyte argument in place of one of them.
            big = MARK + b"\xab" * (2 * 1024 * 1024)
            if args:
                args[rng.randrange(len(args))] = big
            else:
                args = [big]
        return [name] + args


def real_payloads(c):
    """Replace payloads (encoding words + absolute expiry) of real values."""
    out = []
    for i, algorithm in enumerate(ALGORITHMS):
        key = f"seed:{i}"
        period = "DAY" if algorithm == b"CALENDAR" else 3_600_000
        check(c, key, algorithm.decode(), 5, period, None, 2)
        if i % 2:
            c.execute_command("RL.BLOCK", key, "1h")  # a blocked value's encoding
        words = ModuleDump.parse(c.dump(key)).words
        out.append(b"".join(w.to_bytes(8, "little") for w in words)
                   + (2**41).to_bytes(8, "little"))
        c.delete(key)
    # A lease key's value, and the RL.APPLY lease steps (acquire, release, renew).
    for _ in range(3):
        c.execute_command("RL.ACQUIRE", "seed:lease", 5, 3_600_000)
    words = ModuleDump.parse(c.dump("seed:lease")).words
    out.append(b"".join(w.to_bytes(8, "little") for w in words) + (2**41).to_bytes(8, "little"))
    c.delete("seed:lease")
    le = lambda *ws: b"".join(w.to_bytes(8, "little") for w in ws)  # noqa: E731
    now = 1_767_225_600_000
    out += [le(0x83, 5, 60_000, now, 7, now + 60_000, 1, now + 60_000),
            le(0x84, now, 7, now + 1), le(0x85, now, 7, now + 5000, now + 5000),
            le(0x86, 1, now + 60_000, now + 60_000)]
    c.execute_command("RL.BLOCK", "seed:blocked", "1h")  # a key holding only a block
    words = ModuleDump.parse(c.dump("seed:blocked")).words
    out.append(b"".join(w.to_bytes(8, "little") for w in words) + (2**41).to_bytes(8, "little"))
    c.delete("seed:blocked")
    return out


def seed_policies(c):
    """Policies the checks name (RL.POLICY commands then change them at random)."""
    limit = {"algorithm": "GCRA", "limit": 5, "period": "1s"}
    day = {"algorithm": "FIXED_WINDOW", "limit": 50, "period": "1d"}
    c.execute_command("RL.POLICY", "LOAD", json.dumps({"policies": {
        "free": {"limits": [limit]}, "pro": {"limits": [day]},
        "two": {"limits": [limit, day]}, "shadow": {"limits": [limit], "shadow": True}}}))


def create_other_types(c):
    for name, (command, *rest) in OTHER_TYPES.items():
        c.execute_command(command, b"wt:" + MARK + b":" + name.encode(), *rest)


def run(server, protocol, rng, n, payloads):
    c = server.client(protocol=protocol, socket_timeout=60)
    gen = Gen(rng, payloads)
    sent = errors = decided = 0
    while sent < n:
        pipe = c.pipeline(transaction=False)
        batch = [gen.command() for _ in range(min(BATCH, n - sent))]
        for argv in batch:
            pipe.execute_command(*argv)
        replies = pipe.execute(raise_on_error=False)
        assert len(replies) == len(batch)
        for argv, reply in zip(batch, replies):
            if argv[0].upper() in (b"RL.CHECK", b"RL.MCHECK", b"CL.THROTTLE") and \
                    isinstance(reply, (list, dict)):
                decided += 1
            if argv[0].upper() == b"RL.ACQUIRE" and isinstance(reply, (list, dict)):
                lease_id = reply[4] if isinstance(reply, list) else reply[b"lease_id"]
                if lease_id:
                    gen.lease_ids.append(lease_id)
            if isinstance(reply, redis.ResponseError):
                errors += 1
                text = str(reply).encode("utf-8", "surrogateescape")
                assert MARK not in text, (argv[:3], str(reply)[:200])
        sent += len(batch)
        assert c.ping() is True
        if rng.random() < 0.05:
            create_other_types(c)  # RL.RESET and RL.APPLY may have replaced them
    c.close()
    return errors, decided


def stats_fields(c):
    st = c.execute_command("RL.STATS")
    return dict(zip(st[::2], st[1::2]))


def test_fuzzing_every_command_never_crashes_or_leaks(server_factory, kind):
    server = server_factory(kind, module_args=CELL_COMPAT)
    c = server.client()
    c.execute_command("FLUSHALL", "SYNC")
    baseline = c.info("memory")["used_memory"]
    payloads = real_payloads(c)
    create_other_types(c)
    seed_policies(c)
    rng = random.Random(SEED)
    print(f"fuzz seed {SEED}, {N} commands on {kind}")
    errors, decided = run(server, 2, rng, N // 2, payloads)
    errors3, decided3 = run(server, 3, rng, N - N // 2, payloads)
    # Plenty of both outcomes: the generator reaches the algorithms and the error paths.
    print(f"errors {errors + errors3}, decisions {decided + decided3}")
    assert N // 20 < errors + errors3 < N - N // 20
    assert decided > N // 40 and decided3 > N // 40
    server.assert_healthy()
    c.execute_command("FLUSHALL", "SYNC")
    c.execute_command("RL.STATS", "RESET")
    # Back to the baseline, within what the server's own buffers and caches hold.
    after = c.info("memory")["used_memory"]
    assert after - baseline < 2 * 1024 * 1024, (baseline, after)
    assert stats_fields(c)[b"keys"] == 0
