"""COMMAND DOCS and COMMAND INFO for every command (set through the raw command-info
API, so Redis 7.0 has them too): summary, since, complexity, arguments, arity, key
specs; and what the key specs do for ACL read/write key patterns."""

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time

import pytest
import redis

from helpers import GCRA, check
from helpers import flat_dict as as_dict
from helpers import raw_reply as raw

# name: (arity, key spec flags or None, top-level argument names)
EXPECTED = {
    "rl.check": (-4, ["RW", "access", "update"], ["key", "request"]),
    "rl.peek": (-4, ["RO", "access"], ["key", "request"]),
    "rl.block": (3, ["RW", "access", "update"], ["key", "ms"]),
    "rl.inspect": (2, ["RO", "access"], ["key"]),
    "rl.mcheck": (-5, ["RW", "access", "update"], ["numkeys", "key", "request"]),
    "rl.policy": (-2, None, ["subcommand"]),
    "rl.reset": (-2, ["RM", "delete"], ["key"]),
    "rl.stats": (-1, None, ["reset"]),
    "rl.metrics": (1, None, []),
    "rl.refund": (4, ["RW", "access", "update"], ["key", "cost"]),
    "rl.apply": (-3, ["OW", "update"], ["effect"]),
    "cl.throttle": (-5, ["RW", "access", "update"],
                    ["key", "max_burst", "count_per_period", "period_seconds", "quantity"]),
}




@pytest.fixture
def cell(server_factory, kind):
    return server_factory(kind, module_args=["cell-compat", "yes"]).client()


def test_every_command_has_docs_with_summary_since_complexity_and_arguments(cell):
    for name, (_, _, arg_names) in EXPECTED.items():
        reply = raw(cell, "COMMAND", "DOCS", name)
        assert reply[0].decode() == name, reply
        doc = as_dict(reply[1])
        assert doc["summary"] and doc["complexity"], (name, doc)
        assert doc["since"] == b"0.1.0" and doc["module"] == b"ratelimit"
        args = [as_dict(a) for a in doc["arguments"]]
        assert [a["name"].decode() for a in args] == arg_names, (name, args)


def forms(doc, i):
    """The blocks of a one-of argument (a spec, a policy), by name."""
    request = as_dict(doc["arguments"][i])
    assert request["type"] == b"oneof", request
    return {a["name"].decode(): a for a in map(as_dict, request["arguments"])}


def test_arguments_carry_types_tokens_and_flags(r):
    doc = as_dict(raw(r, "COMMAND", "DOCS", "rl.check")[1])
    top = {a["name"].decode(): a for a in map(as_dict, doc["arguments"])}
    assert top["key"]["type"] == b"key" and top["key"]["key_spec_index"] == 0
    spec, policy = forms(doc, 1)["spec"], forms(doc, 1)["policy"]
    args = {a["name"].decode(): a for a in map(as_dict, spec["arguments"])}
    args["key"] = top["key"]
    assert [(a["name"], a.get("token"), a.get("flags", [])) for a in
            map(as_dict, policy["arguments"])] == [
        (b"policy", b"POLICY", []), (b"name", None, []), (b"cost", b"COST", [b"optional"]),
        (b"shadow", b"SHADOW", [b"optional"])]
    assert args["key"]["type"] == b"key" and args["key"]["key_spec_index"] == 0
    assert args["limit"]["type"] == b"integer"
    # A duration (`60000`, `60s`, `1m`): a string, not an integer.
    assert args["period"]["type"] == b"string"
    assert (args["burst"]["token"], args["burst"]["flags"]) == (b"BURST", [b"optional"])
    algorithms = [as_dict(a) for a in args["algorithm"]["arguments"]]
    assert args["algorithm"]["type"] == b"oneof"
    assert [a["token"] for a in algorithms] == [
        b"TOKEN_BUCKET", b"GCRA", b"FIXED_WINDOW", b"SLIDING_WINDOW", b"SLIDING_LOG",
        b"CALENDAR"]
    mdoc = as_dict(raw(r, "COMMAND", "DOCS", "rl.mcheck")[1])
    assert as_dict(mdoc["arguments"][2])["flags"] == [b"multiple"]
    spec = forms(mdoc, 2)["spec"]
    assert spec["type"] == b"block"
    assert [as_dict(a)["name"] for a in spec["arguments"]] == [
        b"algorithm", b"limit", b"period", b"burst", b"cost", b"block", b"utc_offset"]
    assert [as_dict(a)["name"] for a in forms(mdoc, 2)["policy"]["arguments"]] == [
        b"policy", b"name", b"cost"]


def test_command_info_gives_arity_and_key_specs(cell):
    for name, (arity, flags, _) in EXPECTED.items():
        info = raw(cell, "COMMAND", "INFO", name)[0]
        assert info[0].decode() == name and info[1] == arity, (name, info[:2])
        specs = info[8]
        if flags is None:
            assert specs == [], name
        else:
            assert len(specs) == 1, (name, specs)
            assert [f.decode() for f in as_dict(specs[0])["flags"]] == flags, name


def test_the_server_enforces_the_declared_arity(r):
    for args in [("RL.CHECK", "k", GCRA), ("RL.INSPECT",), ("RL.INSPECT", "a", "b"),
                 ("RL.RESET",), ("RL.APPLY", "k"), ("RL.MCHECK", 1, "k", GCRA), ("RL.POLICY",)]:
        with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
            r.execute_command(*args)


def test_read_only_key_patterns_allow_peek_and_inspect_but_not_check(server, r):
    """`%R~` grants read access to keys: the key specs' RO/RW flags decide which
    commands it covers."""
    check(r, "rl:a", GCRA, 5, 60_000)
    r.execute_command("ACL", "SETUSER", "reader", "on", ">pw", "+@all", "%R~rl:*")
    u = server.client(username="reader", password="pw")
    assert u.execute_command("RL.PEEK", "rl:a", GCRA, 5, 60_000)[0] == 1
    assert u.execute_command("RL.INSPECT", "rl:a") is not None
    for args in [("RL.CHECK", "rl:a", GCRA, 5, 60_000), ("RL.RESET", "rl:a"),
                 ("RL.MCHECK", 1, "rl:a", GCRA, 5, 60_000)]:
        with pytest.raises(redis.exceptions.NoPermissionError):
            u.execute_command(*args)
    r.execute_command("ACL", "SETUSER", "writer", "on", ">pw", "+@all", "%RW~rl:*")
    w = server.client(username="writer", password="pw")
    assert w.execute_command("RL.CHECK", "rl:a", GCRA, 5, 60_000)[0] == 1
    assert w.execute_command("RL.RESET", "rl:a") == 1


def redis_cli_hint(port, typed):
    """What an interactive redis-cli (Debian's, 7.0) shows as the grey argument hint
    after `typed`, on a pseudo-terminal 200 columns wide."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: redis-cli on the terminal
        os.environ["TERM"] = "xterm"
        os.execvp("redis-cli", ["redis-cli", "-p", str(port)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 250, 0, 0))

    def read_until(pattern, seconds=5.0):
        out, end = b"", time.monotonic() + seconds
        while not re.search(pattern, out) and time.monotonic() < end:
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
        return out

    try:
        read_until(rb"> ")  # the prompt, after redis-cli fetched COMMAND DOCS
        os.write(fd, typed.encode())
        # Each typed character redraws the line; the hint after the whole text ends it.
        done = re.escape(typed.encode()) + rb"\x1b\[0;90;49m.*?\x1b\[0m"
        screen = read_until(done).decode(errors="replace")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    hints = re.findall(r"\x1b\[0;90;49m(.*?)\x1b\[0m", screen)
    return hints[-1].strip() if hints else None


def test_redis_cli_shows_argument_hints_from_the_docs(server):
    assert redis_cli_hint(server.port, "RL.CHECK ") == (
        "key TOKEN_BUCKET|GCRA|FIXED_WINDOW|SLIDING_WINDOW|SLIDING_LOG|CALENDAR limit period "
        "[BURST burst] [COST cost] [BLOCK block] [UTC_OFFSET utc_offset] [AT_MOST]|POLICY name "
        "[COST cost] [SHADOW]")
    assert redis_cli_hint(server.port, "RL.INSPECT ") == "key"
    assert redis_cli_hint(server.port, "RL.STATS ") == "[RESET]"
