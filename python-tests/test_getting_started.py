"""The README's quick start, docs/getting-started.md, docs/quickstart.md's make-run
section and docs/migration.md's cell-compat recipe, walked as written: `make run` is
started in the background (on a free port, with its data in a temp dir, stopped by its
process group), the lines it prints must be the ones the pages show (port aside), and
every command and client run line on the pages is run, in a shell, from the checkout,
against that server: the repo's redis.conf with its ACL users, as a new user gets it.
Also: which packages `make run`/`build`/`dist` install, and how `make run` picks a port."""

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
import wsgiref.util

import pytest

from helpers import REPO, free_port
from test_examples import line_matches, session_blocks

PRINTED = "<!-- printed by make run -->"
PAGES = ["README.md", "docs/getting-started.md", "docs/quickstart.md"]
TEST_PKGS = ["redis-sentinel", "faketime", "prometheus", "prometheus-redis-exporter"]
RUN_PKGS = ["redis-server", "redis-tools", "libclang-dev", "python3-venv"]


def read(path):
    with open(os.path.join(REPO, path)) as f:
        return f.read()


def fenced(text):
    """Every fenced block as (the line before it, its language, its body)."""
    return [(m.group(1), m.group(2), m.group(3)) for m in
            re.finditer(r"(?m)^([^\n]*)\n```([a-z]*)\n(.*?)^```$", text, re.S)]


def printed_block(page):
    blocks = [body for before, _, body in fenced(read(page)) if before == PRINTED]
    assert len(blocks) == 1, f"{page}: one block marked {PRINTED!r}"
    return blocks[0].splitlines()


def make_env():
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PORT", "DATA", "CONF", "REDIS_URL")}
    return env


class MakeRun:
    """`make run` with the arguments given, in its own process group, output in a file."""

    def __init__(self, tmp, *args):
        self.out = tmp / f"make-run-{time.monotonic_ns()}.out"
        self.argv = ["make", "-s", "run", *args]
        self.proc = subprocess.Popen(self.argv, cwd=REPO, env=make_env(), start_new_session=True,
                                     stdout=open(self.out, "w"), stderr=subprocess.STDOUT)
        self.started = time.monotonic()

    def text(self):
        return self.out.read_text()

    def printed(self, timeout=600):
        """The lines printed once the server answers (between the blank lines that follow
        "is up on"), and the port it names."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"redis-ratelimit is up on 127\.0\.0\.1:(\d+)[^\n]*\n\n(.*?\n)\n",
                          self.text(), re.S)
            if m:
                return int(m.group(1)), m.group(2).splitlines()
            assert self.proc.poll() is None, f"{self.argv} exited:\n{self.text()[-3000:]}"
            time.sleep(0.1)
        raise AssertionError(f"{self.argv}: nothing printed in {timeout} s:\n{self.text()[-3000:]}")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # redis-server (the shell exec'd into it) is in the same group: wait for the port.
        with contextlib.suppress(ProcessLookupError):
            for _ in range(300):
                os.killpg(self.proc.pid, 0)
                time.sleep(0.1)
            os.killpg(self.proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def make_run(tmp, *args):
    run = MakeRun(tmp, *args)
    try:
        yield run
    finally:
        run.stop()


class Shell:
    """Runs lines the way a user pastes them: in bash, from the checkout, after the
    setup lines (alias, export) that `make run` printed."""

    def __init__(self, setup):
        self.setup = setup

    def run(self, line, cwd=REPO, timeout=300):
        script = "shopt -s expand_aliases\n" + "\n".join(self.setup) + "\n" + line + "\n"
        return subprocess.run(["bash"], input=script, cwd=cwd, env=make_env(), text=True,
                              capture_output=True, timeout=timeout)

    def ok(self, line, **kw):
        p = self.run(line, **kw)
        assert p.returncode == 0 and "NOPERM" not in p.stdout + p.stderr, \
            f"{line!r}: rc {p.returncode}\n{p.stdout}{p.stderr}"
        return p.stdout.splitlines()


def split_printed(lines):
    setup = [x for x in lines if x.startswith(("alias ", "export "))]
    return setup, [x for x in lines if x not in setup]


def integers(lines):
    """A redis-cli transcript's integers, as the raw (not a terminal) output prints them."""
    out = []
    for line in lines:
        m = re.match(r"\s*(?:\d+\) )+\(integer\) (-?\d+)", line)
        assert m, line
        out.append(m.group(1))
    return out


def transcript(body):
    """`$ command` lines of a block, each with the output lines below it (comments cut)."""
    steps = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(re.sub(r"\s+#.*$", "", line))
    return steps


def check_like(got, want):
    """An RL.CHECK-style reply against the page's: the same number of fields, the first
    three exact, the millisecond figures integers no larger than the page's (typing
    speed and load only ever make them smaller)."""
    assert len(got) == len(want), (got, want)
    assert got[:3] == want[:3], (got, want)
    for g, w in zip(got[3:], want[3:]):
        assert re.fullmatch(r"-?\d+", g) and (int(g) == -1) == (int(w) == -1), (got, want)
        assert int(g) <= int(w) or int(w) == -1, (got, want)


def example_output_like(got, want):
    """A client example's output against the page's: the same lines, the retry figure
    at most the page's."""
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        m = re.fullmatch(r"(.* retry in )(\d+)( ms.*)", w)
        if m:
            n = re.fullmatch(re.escape(m.group(1)) + r"(\d+)" + re.escape(m.group(3)), g)
            assert n and 0 < int(n.group(1)) <= int(m.group(2)), (got, want)
        else:
            assert g == w, (got, want)


def run_lines(page):
    """The `Run:` lines of the examples a page quotes."""
    found = []
    for path in re.findall(r"<!-- example: (\S+) -->", read(page)):
        for m in re.finditer(r"(?m)^\W*Run: (.+?)`?$", read(path)):
            found.append((path, m.group(1)))
    return found


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory):
    return tmp_path_factory.mktemp("getting-started")


def start(tmp, *args):
    data = tmp / f"data-{time.monotonic_ns()}"
    return make_run(tmp, f"PORT={free_port()}", f"DATA={data}", *args)


# --- The README's quick start and the pages' make-run block ---------------------------


def test_every_page_shows_make_run_and_exactly_what_it_prints(tmp_module):
    for page in PAGES:
        runs = [body for _, lang, body in fenced(read(page))
                if lang == "sh" and re.sub(r"\s*#.*", "", body).strip() == "make run"]
        assert runs, f"{page}: no `make run` block"
    with start(tmp_module) as run:
        port, lines = run.printed()
        # A repeated `make run` installs and builds nothing.
        assert "installing:" not in run.text() and "Compiling" not in run.text(), run.text()
    for page in PAGES:
        assert printed_block(page) == [x.replace(str(port), "6379") for x in lines], page
    assert any(str(port) in x for x in lines) and port != 6379


def test_the_readme_quick_start_works_as_shown(tmp_module):
    """Paste the printed lines in order; each one the README shows a `$` line for prints
    what the README says under it; the others succeed."""
    readme = read("README.md")
    shown = transcript([body for _, lang, body in fenced(readme)
                        if lang == "" and "$ rl-cli" in body][0])
    assert [c.split("#")[0].strip() for c, _ in shown][:1] == ["rl-cli RL.CHECK user:42 TOKEN_BUCKET 3 1000"]
    with start(tmp_module) as run:
        _, lines = run.printed()
        setup, commands = split_printed(lines)
        sh = Shell(setup)
        expected = {c.split("  #")[0].strip(): out for c, out in shown}
        seen = []
        for line in commands:
            out = sh.ok(line, timeout=900)
            want = expected.get(line.split("  #")[0].strip())
            if want is None:
                continue
            seen.append(line)
            if line.startswith("rl-cli "):
                check_like(out, integers(want))
            else:
                example_output_like(out, want)
        assert len(seen) == len(shown), (seen, shown)
        # Without the app user (as `default`, which the shipped conf turns off), the same
        # call is refused: the credentials in what make run printed make it work.
        url = next(x for x in setup if "REDIS_URL=" in x).split("=", 1)[1]
        bare = re.sub(r"//[^@]*@", "//", url)
        p = Shell([]).run(f"REDIS_URL={bare} .venv/bin/python examples/python/check.py")
        refused = ("AuthenticationError", "NoPermissionError")
        assert p.returncode != 0 and any(e in p.stderr for e in refused), p.stdout + p.stderr


# --- docs/getting-started.md ----------------------------------------------------------


def test_the_getting_started_page_works_as_written(tmp_module):
    page = read("docs/getting-started.md")
    sh_blocks = [body for before, lang, body in fenced(page) if lang == "sh"]
    # The page's shell blocks: `make run` and what it prints; nothing else to type.
    assert len(sh_blocks) == 2 and sh_blocks[1].splitlines() == printed_block("docs/getting-started.md")
    with start(tmp_module) as run:
        _, lines = run.printed()
        setup, commands = split_printed(lines)
        sh = Shell(setup)
        for line in commands:
            sh.ok(line, timeout=900)
        # The redis-cli session, with rl-cli in place of redis-cli as the page says.
        blocks = session_blocks()
        assert len(blocks) >= 5
        for argv, expected in blocks:
            assert argv[0] == "redis-cli"
            out = sh.ok("rl-cli " + shlex.join(argv[1:]))
            want = [ln for ln in expected]
            if want and want[0].startswith("(error) "):
                out = [ln for ln in out if ln]  # raw output ends an error with an empty line
            assert len(out) == len(want), (argv, out, want)
            # Raw output: only the number (or the error line); the page's with its prefix.
            for got, w in zip(out, want):
                prefix = re.match(r"\s*(?:\(error\) |(?:\d+\) )+(?:\(integer\) )?)", w).group(0)
                assert line_matches(prefix + got, w), (argv, got, w)
        # Every example's Run: line, as written, from the checkout.
        runs = run_lines("docs/getting-started.md")
        assert {p for p, _ in runs} == {"examples/python/check.py", "examples/node/check.mjs",
                                        "examples/rust/check.rs"}, runs
        # (The printed lines ran python and node a moment ago, on the same keys, so
        # their requests may all be denied now; test_examples checks the figures.)
        counts = {"examples/python/check.py": 6, "examples/node/check.mjs": 4,
                  "examples/rust/check.rs": 3}
        for path, line in runs:
            out = sh.ok(line, timeout=1200)
            assert len(out) == counts[path] and all(
                re.fullmatch(rf"request {i + 1}: (allowed, .* left|denied, retry in \d+ ms.*)", x)
                for i, x in enumerate(out)), (path, out)
            assert "denied" in out[-1], (path, out)
        # The middleware's docstring: build it as written, as the app user of REDIS_URL.
        url = next(x for x in setup if "REDIS_URL=" in x).split("=", 1)[1]
        assert_middleware_docstring_works(url)


def assert_middleware_docstring_works(url):
    import redis
    sys.path.insert(0, os.path.join(REPO, "examples", "python"))
    try:
        import middleware
    finally:
        sys.path.pop(0)
    doc = [x.strip() for x in middleware.__doc__.splitlines()]
    code = doc[doc.index("") + 1:]
    code = [x for x in code if x and not x.endswith(":")]
    assert any("RateLimitMiddleware(" in x for x in code), middleware.__doc__

    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello\n"]

    app = types.SimpleNamespace(wsgi_app=hello)
    os.environ["REDIS_URL"] = url
    try:
        exec("\n".join(code), {"redis": redis, "os": os, "app": app,
                                "RateLimitMiddleware": middleware.RateLimitMiddleware})
    finally:
        del os.environ["REDIS_URL"]
    environ = {"HTTP_X_API_KEY": "docstring"}
    wsgiref.util.setup_testing_defaults(environ)
    statuses = []
    body = app.wsgi_app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    assert statuses == ["200 OK"] and body == [b"hello\n"]


# --- docs/migration.md: CL.THROTTLE with the repo's redis.conf ------------------------


def test_the_migration_cell_compat_recipe_works_as_written(tmp_module, tmp_path):
    text = read("docs/migration.md")
    section = text[text.index("## From redis-cell"):text.index("## From Lua scripts")]
    blocks = [(lang, body) for _, lang, body in fenced(section)]
    recipe = [body for lang, body in blocks if lang == "sh"]
    assert len(recipe) == 1 and recipe[0].rstrip().endswith("make run"), recipe
    edit = recipe[0].rstrip()[: -len("make run")]
    # The edit, run as written on a copy of the repo's redis.conf.
    shutil.copy(os.path.join(REPO, "redis.conf"), tmp_path / "redis.conf")
    p = subprocess.run(["bash", "-e"], input=edit, cwd=tmp_path, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    conf = str(tmp_path / "redis.conf")
    assert (tmp_path / "redis.conf").read_text() != read("redis.conf")
    shown = transcript(next(body for lang, body in blocks if "$ rl-cli CL.THROTTLE" in body))
    with start(tmp_module, f"CONF={conf}") as run:
        _, lines = run.printed()
        setup, _ = split_printed(lines)
        sh = Shell(setup)
        for command, want in shown:
            assert sh.ok(command) == integers(want), command


def test_the_shipped_conf_has_no_cl_throttle_and_the_grant_alone_stops_the_server(tmp_module, tmp_path):
    """Why the recipe needs both edits, and why the grant cannot ship in redis.conf."""
    with start(tmp_module) as run:
        _, lines = run.printed()
        p = Shell(split_printed(lines)[0]).run("rl-cli CL.THROTTLE user:42 15 30 60")
        assert "unknown command" in p.stdout.lower() + p.stderr.lower(), p.stdout + p.stderr
    conf = tmp_path / "redis.conf"
    conf.write_text(re.sub(r"(?m)^(user app .*)$", r"\1 +cl.throttle", read("redis.conf")))
    run = MakeRun(tmp_path, f"PORT={free_port()}", f"DATA={tmp_path / 'data'}", f"CONF={conf}")
    try:
        assert run.proc.wait(timeout=300) != 0
        assert "Unknown command" in run.text(), run.text()[-2000:]
    finally:
        run.stop()


# --- make run: the port, and what it installs -----------------------------------------


def test_make_run_takes_the_next_free_port_when_the_first_is_taken(tmp_module):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        data = tmp_module / "data-port"
        with make_run(tmp_module, f"FIRST_PORT={taken}", f"DATA={data}") as run:
            port, lines = run.printed()
            assert port > taken and f"port {taken} is in use" in run.text()
            setup, _ = split_printed(lines)
            assert f"-p {port} " in setup[0] and f"127.0.0.1:{port}" in setup[1]
            assert Shell(setup).ok("rl-cli RL.CHECK user:42 TOKEN_BUCKET 3 1000")[:3] == ["1", "3", "2"]
        # An explicit PORT that is taken: make run says so and stops.
        run = MakeRun(tmp_module, f"PORT={taken}", f"DATA={data}")
        try:
            assert run.proc.wait(timeout=300) != 0
            assert f"port {taken} is in use" in run.text(), run.text()
        finally:
            run.stop()


def dry_run(target):
    p = subprocess.run(["make", "-n", target], cwd=REPO, env=make_env(), text=True,
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.parametrize("target", ["run", "build", "dist", "client-deps"])
def test_run_build_and_dist_install_only_what_building_and_running_need(target):
    out = dry_run(target)
    assert " ".join(RUN_PKGS) in out, out
    for pkg in TEST_PKGS:
        assert not re.search(rf"\b{re.escape(pkg)}\b", out), (target, pkg)
    # Before installing redis-server on a systemd host, it says that Debian starts its own.
    assert "installing redis-server starts Debian's own redis-server service" in out


def test_make_test_installs_the_test_packages():
    out = dry_run("test")
    assert " ".join(TEST_PKGS) in out and " ".join(RUN_PKGS) in out, out
    # test-python runs every file in python-tests, this walk-through among them.
    assert re.search(r"(?m)^cd python-tests && \.\./\.venv/bin/python -m pytest -q -p no:cacheprovider$", out), out


# --- docs/configuration.md: the CONFIG GET example ------------------------------------


def test_the_config_get_example_is_valkeys_order_and_redis_has_the_same_pairs(server):
    text = read("docs/configuration.md")
    block = text[text.index("> CONFIG GET ratelimit.*\n"):].split("\n127.0.0.1:6379>")[0]
    shown = re.findall(r'(?m)^\s*\d+\) "(.*)"$', block)
    c = server.client(decode_responses=True)
    live = c.execute_command("CONFIG", "GET", "ratelimit.*")
    if server.kind == "valkey":
        assert live == shown  # sorted by name, as the page shows
    # Redis 7.0: the same pairs, in an order of its own (the page says so).
    assert dict(zip(live[::2], live[1::2])) == dict(zip(shown[::2], shown[1::2]))
    assert "order that changes from one start to the next" in text
