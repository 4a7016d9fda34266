"""High availability under clock skew (Valkey, manual clocks): a primary and two
replicas whose clocks run an hour ahead and an hour behind it take at least 100,000
random operations over every algorithm and command while time advances and keys
expire; all three end with the same DEBUG DIGEST, and so does the primary restarted
from its AOF and from its RDB. Promoting a skewed replica goes on with the limits
within the documented bound (docs/operations.md).

RL_HA_OPS sets the number of operations (`make test-ha-long` runs a million)."""

import os
import random

from helpers import (
    ALL_ALGORITHMS,
    CELL_COMPAT,
    GCRA,
    T0,
    TB,
    attach,
    check,
    digest,
    inspect,
    mcheck,
    peek,
    throttle,
)
from test_replication import (
    HOUR,
    count_decisions,
    lengthen_short_keys,
    long_quota,
    wait_replicas,
)

N_OPS = int(os.environ.get("RL_HA_OPS", "100000"))
BATCH = 1000


class Clocks:
    """The primary's manual clock and its replicas' (offset by their skew), moved in
    lockstep."""

    def __init__(self, servers_and_offsets):
        self.members = servers_and_offsets
        self.now = T0

    def advance(self, ms):
        self.now += ms
        for server, offset in self.members:
            server.set_clock(self.now + offset)


def skewed_trio(server_factory, options=None):
    primary = server_factory("valkey", clock_ms=T0, module_args=CELL_COMPAT,
                             options={"repl-ping-replica-period": "3600", **(options or {})},
                             name="valkey-primary")
    ahead = server_factory("valkey", clock_ms=T0 + HOUR, module_args=CELL_COMPAT,
                           name="valkey-replica+1h")
    behind = server_factory("valkey", clock_ms=T0 - HOUR, module_args=CELL_COMPAT,
                            name="valkey-replica-1h")
    clocks = Clocks([(primary, 0), (ahead, HOUR), (behind, -HOUR)])
    return primary, ahead, behind, clocks


def random_ops(pc, rng, n_ops, clocks):
    """n_ops random RL.CHECK (five algorithms), RL.MCHECK, CL.THROTTLE, RL.PEEK,
    RL.INSPECT and RL.RESET, pipelined in batches; between batches every clock moves
    0-150 ms, so short keys (windows of 20-120 ms) expire and come back. Ends with a
    pass that gives every short key a window of hours. Returns the keys and the
    numbers of admitted and denied decisions."""
    long_keys = {f"long:{a}:{i}": a for a in ALL_ALGORITHMS for i in range(20)}
    short_keys = {f"short:{a}:{i}": a for a in ALL_ALGORITHMS for i in range(4)}
    cell_keys = [f"cell:{i}" for i in range(5)]
    lease_keys = [f"lease:{i}" for i in range(8)]
    calendar_keys = [f"cal:{i}" for i in range(6)]
    banned_keys = [f"ban:{i}" for i in range(4)]
    lease_ids = []  # ids RL.ACQUIRE replied in earlier batches
    every = list(long_keys) + list(short_keys)
    allowed = denied = 0
    done = 0
    while done < n_ops:
        pipe = pc.pipeline(transaction=False)
        kinds = []
        for _ in range(min(BATCH, n_ops - done)):
            roll = rng.random()
            if roll < 0.02:
                pipe.execute_command("RL.RESET", *rng.sample(every, 2))
                kinds.append("other")
            elif roll < 0.50:
                key = rng.choice(list(long_keys))
                limit, period, burst = long_quota(rng, long_keys[key])
                check(pipe, key, long_keys[key], limit, period, burst,
                      rng.choice([None, 1, 2, 3, 20]))
                kinds.append("check")
            elif roll < 0.62:
                specs = []
                for key in rng.sample(list(long_keys), rng.choice([2, 3, 4])):
                    limit, period, burst = long_quota(rng, long_keys[key])
                    specs.append((key, long_keys[key], limit, period, burst,
                                  rng.choice([None, 1, 2])))
                mcheck(pipe, specs)
                kinds.append("check")
            elif roll < 0.70:
                count = rng.choice([1, 2])
                throttle(pipe, rng.choice(cell_keys), rng.choice([0, 1, 3]), count,
                         count * rng.choice([7200, 10800]), rng.choice([None, None, 0, 1, 2, 5]))
                kinds.append("throttle")
            elif roll < 0.75:
                key = rng.choice(list(long_keys))
                limit, period, burst = long_quota(rng, long_keys[key])
                peek(pipe, key, long_keys[key], limit, period, burst)
                kinds.append("other")
            elif roll < 0.78:
                pipe.execute_command("RL.INSPECT", rng.choice(every))
                kinds.append("other")
            elif roll < 0.87:
                # The primitives that read the clock: refunds, blocks (a denial with BLOCK,
                # RL.BLOCK), calendar quotas; the skewed replicas and the AOF must apply
                # the primary's effect, never evaluate with their own clock.
                op = rng.random()
                key = rng.choice(list(long_keys))
                limit, period, burst = long_quota(rng, long_keys[key])
                if op < 0.25:
                    pipe.execute_command("RL.REFUND", key, "COST", rng.choice([1, 2]))
                    kinds.append("other")
                elif op < 0.5:
                    args = ["RL.CHECK", key, long_keys[key], limit, period]
                    args += ["BURST", burst] if burst else []
                    pipe.execute_command(*args, "COST", rng.choice([1, 3]),
                                         "BLOCK", rng.choice([60, 2 * HOUR]))
                    kinds.append("check")
                elif op < 0.6:
                    pipe.execute_command("RL.BLOCK", rng.choice(banned_keys + [key]),
                                         rng.choice([70, 2 * HOUR]))
                    kinds.append("other")
                else:
                    i = rng.randrange(len(calendar_keys))
                    pipe.execute_command("RL.CHECK", calendar_keys[i], "CALENDAR",
                                         rng.choice([3, 50]), ["DAY", "WEEK", "MONTH"][i % 3],
                                         "UTC_OFFSET", [0, -300, 540][i % 3],
                                         "COST", rng.choice([1, 2]))
                    kinds.append("check")
            elif roll < 0.90:
                # Leases: evaluated on the primary only (its clock, its random ids),
                # applied as RL.APPLY lease steps by the skewed replicas and the AOF.
                key, op = rng.choice(lease_keys), rng.random()
                if op < 0.5 or not lease_ids:
                    pipe.execute_command("RL.ACQUIRE", key, rng.choice([2, 5]),
                                         rng.choice([40, 120, 2 * HOUR]),
                                         "COST", rng.choice([1, 2]))
                    kinds.append(("acquire", key))
                elif op < 0.8:
                    k, lease_id = rng.choice(lease_ids)
                    pipe.execute_command("RL.RELEASE", k, lease_id)
                    kinds.append("other")
                else:
                    k, lease_id = rng.choice(lease_ids)
                    pipe.execute_command("RL.RENEW", k, lease_id, rng.choice([50, 2 * HOUR]))
                    kinds.append("other")
            else:
                key = rng.choice(list(short_keys))
                algorithm = short_keys[key]
                burst = rng.choice([None, 1, 3]) if algorithm in (TB, GCRA) else None
                check(pipe, key, algorithm, rng.choice([1, 2, 3]), rng.choice([20, 50, 120]),
                      burst, rng.choice([None, 1, 2]))
                kinds.append("check")
        replies = pipe.execute(raise_on_error=True)
        for kind, reply in zip(kinds, replies):
            if isinstance(kind, tuple) and reply[0] == 1:
                lease_ids.append((kind[1], reply[4]))
        lease_ids = lease_ids[-200:]
        kinds = ["other" if isinstance(k, tuple) else k for k in kinds]
        a, d = count_decisions(kinds, replies)
        allowed, denied = allowed + a, denied + d
        done += len(kinds)
        clocks.advance(rng.randrange(0, 151))
    lengthen_short_keys(pc, short_keys)
    return (list(long_keys) + list(short_keys) + cell_keys + calendar_keys + banned_keys,
            allowed, denied)


def test_skewed_replicas_and_restarts_match_the_primary_after_random_load(server_factory):
    primary, ahead, behind, clocks = skewed_trio(server_factory, {"appendonly": "yes"})
    pc = primary.client()
    rcs = [attach(primary, ahead), attach(primary, behind)]
    keys, allowed, denied = random_ops(pc, random.Random(5), N_OPS, clocks)
    assert allowed > N_OPS // 10 and denied > N_OPS // 10, (allowed, denied)
    expired = int(pc.info("stats")["expired_keys"])
    assert expired > 100, f"only {expired} keys expired during the load"
    wait_replicas(pc, 2)
    want = digest(pc)
    live = [k for k in keys if pc.exists(k)]
    assert len(live) > 100
    # Every algorithm, calendar quotas, and keys holding only a block (NONE) are there.
    assert ({inspect(pc, k)["algorithm"] for k in live}
            == set(ALL_ALGORITHMS) | {"CALENDAR", "NONE"})
    assert any(inspect(pc, k)["blocked_ms"] > 0 for k in live if k.startswith("long:"))
    for rc, replica in zip(rcs, (ahead, behind)):
        assert rc.dbsize() == pc.dbsize(), replica.name
        assert digest(rc) == want, f"{replica.name}: DEBUG DIGEST differs from the primary"
    # The primary restarted from its AOF (SHUTDOWN NOSAVE: no RDB written) ...
    primary.restart(save=False)
    assert digest(primary.client()) == want, "restarted from the AOF"
    # ... and from an RDB alone.
    primary.client().save()
    primary.restart(options={"appendonly": "no"}, save=False)
    pc = primary.client()
    assert pc.config_get("appendonly")["appendonly"] == "no"
    assert digest(pc) == want, "restarted from the RDB"


def test_promoted_skewed_replicas_go_on_within_the_bound(server_factory):
    """Promoted an hour ahead, a replica decides exactly what the old primary would
    decide an hour later: no free capacity beyond what that hour refills. Promoted an
    hour behind, it grants nothing the primary would not, and makes nobody wait more
    than an hour longer than the primary would have."""
    primary, ahead, behind, clocks = skewed_trio(server_factory)
    pc = primary.client()
    ac, bc = attach(primary, ahead), attach(primary, behind)
    # Each key exhausts a quota of 3 per 2 hours with units of different ages: three
    # rounds of checks, 20 minutes apart.
    # TOKEN_BUCKET and GCRA refill meanwhile: they take what refilled at the end.
    for _ in range(3):
        for algorithm in ALL_ALGORITHMS:
            assert check(pc, f"k:{algorithm}", algorithm, 3, 2 * HOUR)[0] == 1
        clocks.advance(20 * 60_000)
    for algorithm in ALL_ALGORITHMS:
        for _ in range(3):
            if check(pc, f"k:{algorithm}", algorithm, 3, 2 * HOUR)[0] == 0:
                break
    wait_replicas(pc, 2)
    at_t = {a: peek(pc, f"k:{a}", a, 3, 2 * HOUR) for a in ALL_ALGORITHMS}
    assert all(d[0] == 0 for d in at_t.values()), at_t
    wait_replicas(pc, 2)
    # The primary alone moves an hour on, to tell what it would decide then.
    primary.set_clock(clocks.now + HOUR)
    later = {a: peek(pc, f"k:{a}", a, 3, 2 * HOUR) for a in ALL_ALGORITHMS}
    for c in (ac, bc):
        c.replicaof("NO", "ONE")
    for algorithm in ALL_ALGORITHMS:
        key = f"k:{algorithm}"
        assert check(ac, key, algorithm, 3, 2 * HOUR) == later[algorithm], algorithm
        d = check(bc, key, algorithm, 3, 2 * HOUR)
        primary_now = at_t[algorithm]
        assert d[0] == 0 and d[2] <= primary_now[2], (algorithm, d, primary_now)
        assert primary_now[3] <= d[3] <= primary_now[3] + HOUR, (algorithm, d, primary_now)
