"""Redis Cluster: three primaries with a replica each, the module on every node,
redis-py's RedisCluster as the client. Checks over many keys land on the node that
owns their slot; RL.MCHECK works with a hash tag and gets CROSSSLOT without one;
resharding (`redis-cli --cluster reshard`, and one slot moved by hand with MIGRATE)
moves limiter keys with their state and TTL intact; a manual failover and a killed
primary both keep every key's state. RL_HA_KEYS sets how many keys the load checks
(`make test-ha-long`: 6000)."""

import json
import os
import subprocess
import time

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from helpers import GCRA, SL, TB, FW, SW, digest_value, inspect, wait_until

HOUR = 3_600_000
N_KEYS = int(os.environ.get("RL_HA_KEYS", "600"))
ALGORITHMS = [TB, GCRA, FW, SW, SL]
NODE_OPTIONS = {
    "cluster-enabled": "yes",
    "cluster-config-file": "nodes.conf",
    "cluster-node-timeout": "1000",
    "repl-diskless-sync-delay": "0",
}


def period(algorithm):
    """Two hours; windows aligned to the epoch get 2**40 ms (ending in 2033), so no key
    expires at a window boundary in the middle of a test."""
    return 2**40 if algorithm in (FW, SW) else 2 * HOUR


def cli(*args):
    """Debian's redis-cli (7.0) with --cluster subcommands; fails the test on error."""
    done = subprocess.run(["redis-cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def node_info(c):
    """CLUSTER NODES as {node id: {port, role, slots}} from one node's view."""
    nodes = {}
    raw = c.execute_command("CLUSTER", "NODES")
    text = raw.decode() if isinstance(raw, bytes) else raw
    for line in text.strip().splitlines():
        parts = line.split()
        slots = set()
        for r in parts[8:]:
            if r.startswith("["):
                continue
            lo, _, hi = r.partition("-")
            slots.update(range(int(lo), int(hi or lo) + 1))
        nodes[parts[0]] = {
            "port": int(parts[1].split(":")[1].split("@")[0]),
            "role": "master" if "master" in parts[2] else "slave",
            "failed": "fail" in parts[2] and "fail?" not in parts[2],
            "slots": slots,
        }
    return nodes


def cluster_ok(c):
    try:
        return c.cluster("info")["cluster_state"] == "ok"
    except (redis.ConnectionError, redis.ResponseError):
        return False


@pytest.fixture
def cluster(server_factory, kind):
    nodes = [server_factory(kind, options=NODE_OPTIONS, cluster=True, name=f"{kind}-node{i}")
             for i in range(6)]
    cli("--cluster", "create", *[f"127.0.0.1:{n.port}" for n in nodes],
        "--cluster-replicas", 1, "--cluster-yes")
    for n in nodes:
        c = n.client(decode_responses=True)
        wait_until(lambda: cluster_ok(c), timeout=30, what=f"{n.name} cluster_state:ok")
    # Every replica in sync before the test starts.
    by_port = {n.port: n for n in nodes}
    view = node_info(nodes[0].client())
    for info in view.values():
        if info["role"] == "slave":
            rc = by_port[info["port"]].client(decode_responses=True)
            wait_until(lambda: rc.info("replication").get("master_link_status") == "up",
                       timeout=30, what="replica link")
    return nodes


def wait_all_ok(nodes):
    """Until every live node reports cluster_state:ok in one pass, twice in a row 0.2 s
    apart: right after a failover one node can still flip to fail for a moment."""
    alive = [n for n in nodes if n.proc is not None]

    def all_ok():
        return all(cluster_ok(n.client(decode_responses=True)) for n in alive)

    wait_until(lambda: all_ok() and (time.sleep(0.2) or all_ok()), timeout=60,
               what="every node: cluster_state:ok")


def client(nodes):
    alive = [n for n in nodes if n.proc is not None]
    return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in alive],
                        socket_timeout=10, protocol=2)


def snapshot(nodes):
    """{key: (node port, DEBUG DIGEST-VALUE, PEXPIRETIME)} over every live primary."""
    out = {}
    for n in nodes:
        if n.proc is None:
            continue
        c = n.client()
        if c.info("replication")["role"] != "master":
            continue
        for key in c.scan_iter(count=1000):
            assert key not in out, f"{key!r} on two primaries"
            out[key] = (n.port, digest_value(c, key), c.pexpiretime(key))
    return out


def states(snap):
    """A snapshot without where the keys live."""
    return {k: v[1:] for k, v in snap.items()}


def assert_moved_intact(before, after):
    """Same keys with the same value digests; MIGRATE (what resharding uses) sends a
    TTL relative to the source's clock and the target adds its own, so an expiry may
    move later by the time the transfer took, never earlier (docs/operations.md)."""
    assert set(after) == set(before)
    for key, (_, value, expiry) in before.items():
        _, value_after, expiry_after = after[key]
        assert value_after == value, key
        assert 0 <= expiry_after - expiry <= 1000, (key, expiry, expiry_after)


def load(rc):
    """Checks N_KEYS keys through the cluster client, every algorithm, some twice."""
    for i in range(N_KEYS):
        algorithm = ALGORITHMS[i % len(ALGORITHMS)]
        for _ in range(1 + i % 3):
            reply = rc.execute_command("RL.CHECK", f"user:{i}", algorithm, 2, period(algorithm))
            assert reply[1] == 2


def test_checks_route_to_the_owner_and_mcheck_needs_one_slot(cluster):
    rc = client(cluster)
    load(rc)
    snap = snapshot(cluster)
    assert len(snap) == N_KEYS
    owner = {}
    for info in node_info(cluster[0].client()).values():
        for slot in info["slots"]:
            owner[slot] = info["port"]
    for key, (port, _, expiry) in snap.items():
        assert owner[rc.keyslot(key)] == port, key
        assert expiry > 0
    assert len({port for port, _, _ in snap.values()}) == 3
    # Admitted totals follow the checks, read back through the cluster.
    for i in (0, 1, 2, 7):
        assert inspect(rc, f"user:{i}")["admitted"] == min(1 + i % 3, 2)
    # A user's per-second and per-day limits, one hash tag: one slot, all or nothing.
    args = ["RL.MCHECK", 2, "{user:42}:sec", "{user:42}:day",
            GCRA, 1, 1000, SL, 1000, 24 * HOUR]
    assert rc.execute_command(*args)[0] == 1
    assert rc.execute_command(*args)[0] == 0
    # Without a tag the keys live in different slots: redis-py refuses to route it, and
    # the server itself answers CROSSSLOT when asked directly.
    assert rc.keyslot("alpha") != rc.keyslot("beta")
    with pytest.raises(redis.exceptions.RedisClusterException):
        rc.execute_command("RL.MCHECK", 2, "alpha", "beta", GCRA, 1, 1000, GCRA, 1, 1000)
    node = next(n for n in cluster if n.port == owner[rc.keyslot("alpha")])
    with pytest.raises(redis.ResponseError, match="don't hash to the same slot"):  # CROSSSLOT
        node.client().execute_command("RL.MCHECK", 2, "alpha", "beta",
                                      GCRA, 1, 1000, GCRA, 1, 1000)


def move_slot(rc_nodes, slot, src, dst):
    """Moves one slot the way redis-cli does it: IMPORTING/MIGRATING, MIGRATE the keys,
    then assign the slot everywhere."""
    sc, dc = src.client(), dst.client()
    src_id, dst_id = sc.execute_command("CLUSTER", "MYID"), dc.execute_command("CLUSTER", "MYID")
    dc.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    sc.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    moved = 0
    while True:
        keys = sc.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
        if not keys:
            break
        sc.execute_command("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS", *keys)
        moved += len(keys)
    for n in rc_nodes:
        if n.proc is not None and n.client().info("replication")["role"] == "master":
            n.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    return moved


def test_resharding_moves_limiters_with_state_and_ttl(cluster):
    rc = client(cluster)
    load(rc)
    # Ten limiters in one slot, moved by hand with MIGRATE.
    tagged = [f"{{tenant:7}}:{i}" for i in range(10)]
    for i, key in enumerate(tagged):
        for _ in range(1 + i % 2):
            rc.execute_command("RL.CHECK", key, ALGORITHMS[i % 5], 3, period(ALGORITHMS[i % 5]))
    before = snapshot(cluster)
    slot = rc.keyslot(tagged[0])
    primaries = {n.port: n for n in cluster if n.client().info("replication")["role"] == "master"}
    src = primaries[before[tagged[0].encode()][0]]
    dst = next(n for p, n in primaries.items() if p != src.port)
    assert move_slot(cluster, slot, src, dst) == 10
    after = snapshot(cluster)
    assert_moved_intact(before, after)
    assert all(after[k.encode()][0] == dst.port for k in tagged)
    # redis-cli --cluster reshard: 1000 slots from one primary to another.
    src, dst = list(primaries.values())[:2]
    src_id = src.client().execute_command("CLUSTER", "MYID").decode()
    dst_id = dst.client().execute_command("CLUSTER", "MYID").decode()
    cli("--cluster", "reshard", f"127.0.0.1:{src.port}", "--cluster-from", src_id,
        "--cluster-to", dst_id, "--cluster-slots", 1000, "--cluster-yes")
    wait_until(lambda: cluster_ok(src.client(decode_responses=True)), timeout=30,
               what="cluster ok after reshard")
    resharded = snapshot(cluster)
    assert_moved_intact(before, resharded)
    moved = [k for k in before if before[k][0] != resharded[k][0]]
    assert len(moved) > 10, "the reshard moved no limiter keys"
    # The moved limiters go on where they were: the next check sees the used units.
    rc = client(cluster)
    for key in moved[:20]:
        state = inspect(rc, key)
        reply = rc.execute_command("RL.CHECK", key, state["algorithm"], state["limit"],
                                   state["period_ms"])
        assert reply[2] == max(state["remaining"] - 1, 0) or reply[0] == 0, (key, state, reply)
        assert inspect(rc, key)["admitted"] == state["admitted"] + reply[0]


def primary_and_replica(cluster):
    by_port = {n.port: n for n in cluster}
    view = node_info(cluster[0].client())
    for node_id, info in view.items():
        if info["role"] == "master" and info["slots"]:
            for other in cluster:
                r = other.client().info("replication")
                if r["role"] == "slave" and r["master_port"] == info["port"]:
                    return by_port[info["port"]], other
    raise AssertionError("no primary with a replica")


def policy_digests(nodes):
    """RL.POLICY DIGEST of every live node, by `redis-cli --cluster call`."""
    alive = next(n for n in nodes if n.proc is not None)
    out = cli("--cluster", "call", f"127.0.0.1:{alive.port}", "RL.POLICY", "DIGEST")
    digests = [line.split(": ", 1)[1] for line in out.splitlines() if ": " in line]
    assert len(digests) == sum(n.proc is not None for n in nodes), out
    return digests


def set_policies_on_every_node(cluster):
    """`redis-cli --cluster call` on every node: the primaries take it and replicate it,
    the replicas refuse it; then every node's digest agrees."""
    empty = policy_digests(cluster)[0]
    tiers = {"policies": {
        "free": {"limits": [{"algorithm": "GCRA", "limit": 2, "period": "2h"}]},
        "pro": {"limits": [{"algorithm": "GCRA", "limit": 20, "period": "1s"},
                           {"algorithm": "FIXED_WINDOW", "limit": 5, "period_ms": 2**40}]}}}
    out = cli("--cluster", "call", f"127.0.0.1:{cluster[0].port}", "RL.POLICY", "LOAD",
              json.dumps(tiers))
    replies = [line.split(": ", 1)[1] for line in out.splitlines()
               if line.startswith("127.0.0.1:") and ": " in line]
    assert sorted(replies) == ["2"] * 3 + ["READONLY RL.POLICY writes go to the primary,"
                                           " which replicates them"] * 3, out
    wait_until(lambda: len(set(policy_digests(cluster))) == 1, timeout=30,
               what="every node's policies to agree")
    assert policy_digests(cluster)[0] != empty
    return policy_digests(cluster)[0]


def test_manual_failover_and_a_killed_primary_keep_every_limiter(cluster):
    rc = client(cluster)
    load(rc)
    # Policies too: set on every node, checked on every shard, kept through failovers.
    digest = set_policies_on_every_node(cluster)
    for i in range(30):
        assert rc.execute_command("RL.CHECK", f"tier:{i}", "POLICY", "pro")[0] == 1
    for n in cluster:
        c = n.client()
        if c.info("replication")["role"] == "master":
            assert c.execute_command("WAIT", 1, 10_000) == 1
    before = states(snapshot(cluster))
    # CLUSTER FAILOVER on a replica: it takes over, the old primary becomes its replica.
    primary, replica = primary_and_replica(cluster)
    replica.client().execute_command("CLUSTER", "FAILOVER")
    wait_until(lambda: replica.client().info("replication")["role"] == "master",
               timeout=30, what="manual failover")
    wait_until(lambda: primary.client().info("replication").get("master_link_status") == "up",
               timeout=30, what="old primary following")
    wait_all_ok(cluster)
    assert states(snapshot(cluster)) == before
    # kill -9 of a primary: its replica is promoted after the node timeout.
    primary, replica = primary_and_replica(cluster)
    assert primary.client().execute_command("WAIT", 1, 10_000) == 1
    primary._kill()
    wait_until(lambda: replica.client().info("replication")["role"] == "master",
               timeout=60, what="failover after a killed primary")
    wait_all_ok(cluster)
    assert states(snapshot(cluster)) == before
    assert set(policy_digests(cluster)) == {digest}
    # Checks go on through a fresh client on the surviving nodes.
    rc = client(cluster)
    key = next(k for k in before if not k.startswith(b"tier:")).decode()
    state = inspect(rc, key)
    rc.execute_command("RL.CHECK", key, state["algorithm"], state["limit"], state["period_ms"])
    assert inspect(rc, key)["admitted"] + inspect(rc, key)["denied"] \
        == state["admitted"] + state["denied"] + 1
    assert [inspect(rc, f"tier:{i}")["admitted"] for i in range(30)] == [1] * 30
    assert rc.execute_command("RL.CHECK", "tier:0", "POLICY", "pro", "COST", 5)[0] == 0
