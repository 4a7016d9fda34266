"""The facts docs/commands.md and docs/replication.md state about each command, read
from a live server so they cannot drift: every command the module registers has a row
in the summary table and a section; each synopsis names COMMAND DOCS' arguments, in
order, and implies COMMAND INFO's arity; the flags column is COMMAND INFO's flags; each
section states COMMAND DOCS' complexity word for word; an arity error is described in
its own command's section; the RL.APPLY payload sizes are those the server writes to
its AOF; Cargo.toml's description names every algorithm RL.CHECK accepts."""

import os
import re
import time

import pytest

from helpers import CELL_COMPAT, REPO, aof_commands
from helpers import flat_dict as as_dict
from helpers import raw_reply as raw

COMMANDS_MD = os.path.join(REPO, "docs", "commands.md")
REPLICATION_MD = os.path.join(REPO, "docs", "replication.md")
LEAVE_OUT = {"rl.testhook"}  # the test-hooks build's command, not part of the module's API




@pytest.fixture
def live(server_factory, kind):
    """{name: (docs dict, info list)} of every command the module registers, with
    CL.THROTTLE (cell-compat yes)."""
    c = server_factory(kind, module_args=CELL_COMPAT).client()
    names = [n.decode() for n in raw(c, "COMMAND", "LIST", "FILTERBY", "MODULE", "ratelimit")]
    out = {}
    for name in sorted(set(names) - LEAVE_OUT):
        docs = raw(c, "COMMAND", "DOCS", name)
        out[name] = (as_dict(docs[1]), raw(c, "COMMAND", "INFO", name)[0])
    assert {"rl.check", "rl.metrics", "cl.throttle"} <= set(out)
    return out


def read(path):
    with open(path) as f:
        return f.read()


def sections(text):
    """{command name: section text} of the `## RL.X ...` / `## CL.X ...` sections."""
    parts = re.split(r"(?m)^## ", text)
    return {p.split()[0].lower(): p for p in parts[1:] if re.match(r"(RL|CL)\.", p)}


def synopses(section):
    """The synopsis lines of a section's first code block, and its `name = ...` lines."""
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    defs = dict(line.split(" = ", 1) for line in lines if " = " in line)
    return [line for line in lines if " = " not in line], defs


def table_rows(text):
    """{command name: (synopsis, flags)} of the summary table at the top (a `\\|` in a
    synopsis is the table's escape of the alternatives' `|`)."""
    rows = {}
    for m in re.finditer(r"(?m)^\| `((?:RL|CL)\.(?:[^`\\]|\\.)*)`[^|]*\| `([^`]*)` \|", text):
        rows[m[1].split()[0].lower()] = (m[1].replace("\\|", "|"), m[2])
    return rows


def words(synopsis, defs):
    """A synopsis as words, brackets and alternatives (`{a | b}`), its definitions
    expanded (`spec`)."""
    out = []
    for w in re.findall(r"\[|\]|\{|\}|\||[^\s\[\]{}|]+", synopsis)[1:]:
        out += words("x " + defs[w], defs) if w in defs else [w]
    return out


def required(ws):
    """The words a synopsis requires: none inside `[...]`, the fewest alternative's
    inside `{a | b}`."""
    def seq(i, stop):
        n = 0
        while i < len(ws) and ws[i] not in stop:
            w = ws[i]
            if w == "[":
                _, i = seq(i + 1, {"]"})
                i += 1
            elif w == "{":
                alternatives = []
                while ws[i] != "}":
                    k, i = seq(i + 1, {"|", "}"})
                    alternatives.append(k)
                i += 1
                n += min(alternatives)
            else:
                n += w != "..."
                i += 1
        return n, i
    return seq(0, set())[0]


def arity(lines, defs):
    """The arity a command's synopsis lines imply: Redis's sign convention."""
    counts = [required(words(line, defs)) for line in lines]
    variadic = len(set(counts)) > 1 or any("[" in line or "{" in line for line in lines)
    return -(min(counts) + 1) if variadic else counts[0] + 1


def unique(xs):
    return list(dict.fromkeys(xs))


def doc_names(lines, defs):
    """The argument names and keywords a synopsis shows (`n` stands for an option's
    value), in order."""
    return unique(w for line in lines for w in words(line, defs)
                  if w not in ("[", "]", "{", "}", "...", "n", "|"))


def server_names(args):
    """The same from COMMAND DOCS: blocks by their parts, one-ofs by their name (a
    one-of between blocks by the blocks' parts), options by their keyword."""
    out = []
    for a in map(as_dict, args or []):
        blocks = a["type"] == b"oneof" and any(
            as_dict(s)["type"] == b"block" for s in a["arguments"])
        if a["type"] == b"block" or blocks:
            out += server_names(a["arguments"])
        elif a["type"] == b"oneof" or "token" not in a:
            out.append(a["name"].decode())
        else:
            out.append(a["token"].decode())
    return unique(out)


def test_every_command_has_a_row_and_a_section(live):
    text = read(COMMANDS_MD)
    assert set(table_rows(text)) == set(live)
    assert set(sections(text)) == set(live)


def test_synopses_name_the_servers_arguments_and_imply_its_arity(live):
    text = read(COMMANDS_MD)
    secs, rows = sections(text), table_rows(text)
    all_defs = {}
    for sec in secs.values():
        all_defs.update(synopses(sec)[1])
    for name, (docs, info) in live.items():
        lines, defs = synopses(secs[name])
        expected = server_names(docs.get("arguments"))
        assert doc_names(lines, defs) == expected, (name, lines)
        assert arity(lines, defs) == info[1], (name, lines)
        row = rows[name][0]
        assert doc_names([row], all_defs) == expected, (name, row)
        assert arity([row], all_defs) == info[1], (name, row)


def test_the_flags_column_is_command_infos(live):
    rows = table_rows(read(COMMANDS_MD))
    for name, (_, info) in live.items():
        flags = {f.decode() for f in info[2]} - {"module", "movablekeys"}
        # COMMAND INFO never lists may-replicate (Redis 7.0 and Valkey 9 alike).
        said = {f.replace("-", "") for f in rows[name][1].split()} - {"mayreplicate"}
        assert said == flags, name


def test_each_section_states_the_complexity_command_docs_gives(live):
    secs = sections(read(COMMANDS_MD))
    for name, (docs, _) in live.items():
        complexity = docs["complexity"].decode()
        said = " ".join(secs[name].split())
        assert f"Time complexity: {complexity}." in said, (name, complexity)


def test_arity_errors_are_described_in_their_own_section():
    """Outside the introduction (which quotes RL.CHECK's as an example), an arity error
    is described only under its own command, not under keyspace notifications."""
    parts = re.split(r"(?m)^## ", read(COMMANDS_MD))[1:]
    assert len(parts) >= 10
    for part in parts:
        heading = part.split()[0].lower()
        for other in re.findall(r"wrong number of arguments for '([\w.]+)' command", part):
            assert other == heading, (other, "described under", part.splitlines()[0])


def test_replication_md_gives_the_payload_sizes_the_server_writes(server_factory, kind):
    """A check queued in MULTI is stamped when queued and evaluated at EXEC, a few
    milliseconds later here, so it propagates RL.APPLY with the evaluated result."""
    server = server_factory(kind, options={"appendonly": "yes", "appendfsync": "always"})
    c = server.client(single_connection_client=True)

    def queued(*checks):
        assert c.execute_command("MULTI") == b"OK"
        for args in checks:
            assert c.execute_command("RL.CHECK", *args) == b"QUEUED"
        time.sleep(0.005)
        c.execute_command("EXEC")
        applies = aof_commands(server, "RL.APPLY")[-len(checks):]
        assert [cmd[1] for cmd in applies] == [a[0].encode() for a in checks], applies
        return [len(cmd[2]) for cmd in applies]

    whole = {}
    for algorithm in ("TOKEN_BUCKET", "GCRA", "FIXED_WINDOW", "SLIDING_WINDOW"):
        (whole[algorithm],) = queued((f"k:{algorithm}", algorithm, 1, 60_000))
    # An admitted SLIDING_LOG check; a denied check on an existing key.
    append, deny = queued(("k:log", "SLIDING_LOG", 5, 60_000), ("k:GCRA", "GCRA", 1, 60_000))
    bullet = " ".join(re.search(r"(?ms)^- The payload is one of:.*?(?=^- )",
                                read(REPLICATION_MD))[0].split())
    said = {}
    for names, size in re.findall(r"((?:`[A-Z_]+`(?: and |, )?)+) (\d+) bytes", bullet):
        for algorithm in re.findall(r"`([A-Z_]+)`", names):
            said[algorithm] = int(size)
    assert said == whole
    assert f"units: {append} bytes" in bullet and f"({deny} bytes)" in bullet, bullet
    assert re.search(r"(?m)^RL\.APPLY <key> <payload> \[<key> <payload> \.\.\.\]", read(REPLICATION_MD))


def test_cargo_description_names_every_algorithm(live):
    docs, _ = live["rl.check"]

    def walk(args):
        for a in map(as_dict, args or []):
            yield a
            yield from walk(a.get("arguments"))

    (algorithm,) = [a for a in walk(docs["arguments"]) if a["name"] == b"algorithm"]
    tokens = [as_dict(a)["token"].decode() for a in algorithm["arguments"]]
    assert len(tokens) == 6
    description = re.search(r'(?m)^description = "(.*)"$', read(os.path.join(REPO, "Cargo.toml")))[1]
    for token in tokens:
        spoken = token.replace("_", " ")
        assert spoken.lower() in description.lower() or token in description, token
