"""The client examples under examples/, each run against a real server: Python
(redis-py, and the WSGI middleware over real HTTP), Node.js (node-redis from npm), Rust
(the redis crate) and a redis-cli session. The docs quote these files, and a test here
checks that every quote is still the file, word for word."""

import glob
import http.client
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

from helpers import REPO, inspect

EXAMPLES = os.path.join(REPO, "examples")


def run(argv, port, cwd=None, timeout=120):
    env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{port}")
    p = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    assert p.returncode == 0, f"{argv}: {p.stdout}{p.stderr}"
    return p.stdout.splitlines()


def assert_retry(line, prefix, low, high):
    m = re.fullmatch(re.escape(prefix) + r"(\d+) ms.*", line)
    assert m and low <= int(m.group(1)) <= high, line


def test_python_example(server):
    out = run([sys.executable, os.path.join(EXAMPLES, "python", "check.py")], server.port)
    assert out[:5] == [f"request {i + 1}: allowed, {4 - i} left" for i in range(5)]
    # GCRA, 5 per 10 s: the next slot is one interval (2000 ms) after the first request
    # (less the time the six requests took).
    assert_retry(out[5], "request 6: denied, retry in ", 1, 2000)
    assert len(out) == 6


def test_python_policies_example(server):
    env = {"ADMIN_URL": f"redis://127.0.0.1:{server.port}"}
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, "python", "policies.py")],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{server.port}", **env))
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines() == ["key:alice (free): 2 of 6 admitted",
                                     "key:bob (pro): 5 of 6 admitted"]


def test_node_example(server):
    node = os.path.join(EXAMPLES, "node")
    assert os.path.isdir(os.path.join(node, "node_modules", "redis")), "run make deps (npm ci)"
    out = run(["node", "check.mjs"], server.port, cwd=node)
    assert out[:3] == [f"request {i + 1}: allowed, {2 - i} left" for i in range(3)]
    # A token bucket of 3 per second: one token is back 334 ms (rounded up) after the
    # first request, less the time the requests took.
    assert_retry(out[3], "request 4: denied, retry in ", 1, 334)
    assert len(out) == 4


def rust_example(name="check"):
    path = os.path.join(REPO, "target", "debug", "examples", name)
    if not os.path.exists(path):  # `make test` has built it already (cargo test)
        subprocess.run(["cargo", "build", "--locked", "--no-default-features", "--example",
                        name], cwd=REPO, check=True, capture_output=True, timeout=600)
    return path


def test_rust_policies_example(server):
    p = subprocess.run([rust_example("policies")], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{server.port}",
                                ADMIN_URL=f"redis://127.0.0.1:{server.port}"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines() == ["key:alice (free): 2 of 6 admitted",
                                     "key:bob (pro): 5 of 6 admitted"]
    # The tiers are in the server now, named as the example named them.
    c = server.client()
    assert sorted(c.execute_command("RL.POLICY", "LIST")) == [b"free", b"pro"]


def test_rust_example(server):
    out = run([rust_example()], server.port)
    assert out[:2] == ["request 1: allowed, 1 of 2 left", "request 2: allowed, 0 of 2 left"]
    m = re.fullmatch(r"request 3: denied, retry in (\d+) ms \(window resets in (\d+) ms\)", out[2])
    assert m and 59_000 <= int(m.group(1)) <= int(m.group(2)) <= 60_000, out[2]
    assert len(out) == 3


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_wsgi_middleware_sends_ratelimit_headers_and_429_with_retry_after(server):
    sys.path.insert(0, os.path.join(EXAMPLES, "python"))
    try:
        import redis
        from middleware import RateLimitMiddleware
    finally:
        sys.path.pop(0)

    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello\n"]

    for protocol in (2, 3):
        r = redis.Redis(port=server.port, protocol=protocol)
        app = RateLimitMiddleware(hello, r, limit=3, period_ms=60_000, prefix=f"rl:http:{protocol}:")
        httpd = make_server("127.0.0.1", 0, app, handler_class=Quiet)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            responses = []
            for _ in range(4):
                conn = http.client.HTTPConnection("127.0.0.1", httpd.server_port, timeout=10)
                conn.request("GET", "/", headers={"X-Api-Key": "k1"})
                resp = conn.getresponse()
                responses.append((resp.status, dict(resp.getheaders()), resp.read()))
                conn.close()
            # Another client has its own limit.
            conn = http.client.HTTPConnection("127.0.0.1", httpd.server_port, timeout=10)
            conn.request("GET", "/", headers={"X-Api-Key": "k2"})
            other = conn.getresponse()
            assert other.status == 200 and other.getheader("RateLimit-Remaining") == "2"
        finally:
            httpd.shutdown()
            httpd.server_close()
        for i, (status, headers, body) in enumerate(responses[:3]):
            assert (status, body) == (200, b"hello\n")
            assert headers["RateLimit-Limit"] == "3" and headers["RateLimit-Remaining"] == str(2 - i)
            assert headers["RateLimit-Policy"] == "3;w=60"
            assert "Retry-After" not in headers
        status, headers, body = responses[3]
        assert status == 429 and body == b"rate limited\n"
        assert headers["RateLimit-Remaining"] == "0"
        # GCRA, 3 per minute: the next slot frees 20 s after the first admission
        # (19 if the requests took over a second on a loaded machine).
        assert headers["Retry-After"] in ("19", "20")
        assert 59 <= int(headers["RateLimit-Reset"]) <= 60
        assert inspect(r, f"rl:http:{protocol}:k1")["denied"] == 1


def session_blocks(name="session.txt"):
    with open(os.path.join(EXAMPLES, "redis-cli", name)) as f:
        lines = f.read().splitlines()
    blocks = []
    for line in lines:
        if line.startswith("$ "):
            blocks.append((shlex.split(line[2:]), []))
        elif line and not line.startswith("#") and blocks:
            blocks[-1][1].append(line)
    return blocks


MIDNIGHT = "# until the next UTC midnight"
DAY_MS = 86_400_000


def line_matches(got, want):
    """A transcript line against redis-cli's: `# varies` numbers match any integer, and
    `# until the next UTC midnight` ones the milliseconds left in the UTC day, give or
    take 5 s."""
    if want.endswith(MIDNIGHT):
        head = want[: -len(MIDNIGHT)].rstrip().rsplit(" ", 1)[0] + " "
        m = re.fullmatch(re.escape(head) + r"(\d+)", got)
        left = DAY_MS - int(time.time() * 1000) % DAY_MS
        off = abs(int(m.group(1)) - left) if m else DAY_MS
        return min(off, DAY_MS - off) <= 5000
    return re.fullmatch(expected_line(want), got) is not None


def expected_line(line):
    """A transcript line as a regex: `# varies` numbers match any integer."""
    if line.endswith("# varies"):
        text = line[: -len("# varies")].rstrip()
        head, number = text.rsplit(" ", 1)
        assert re.fullmatch(r"-?\d+", number), line
        return re.escape(head + " ") + r"-?\d+"
    return re.escape(line)


def test_redis_cli_session(server):
    replay(server, session_blocks(), 5)


def test_redis_cli_policies_session(server):
    replay(server, session_blocks("policies.txt"), 5)


def replay(server, blocks, at_least):
    assert len(blocks) >= at_least
    for argv, expected in blocks:
        assert argv[0] == "redis-cli"
        # --no-raw: the formatting redis-cli uses on a terminal.
        out = subprocess.run(["redis-cli", "--no-raw", "-p", str(server.port), *argv[1:]],
                             capture_output=True, text=True, timeout=30).stdout.splitlines()
        assert len(out) == len(expected), (argv, out)
        for got, want in zip(out, expected):
            assert line_matches(got, want), (argv, got, want)


QUOTE = re.compile(r"<!-- example: (\S+) -->\n```[a-z]*\n(.*?)```\n", re.S)


def test_the_docs_quote_every_example_word_for_word():
    quoted = set()
    docs = glob.glob(os.path.join(REPO, "docs", "*.md")) + [os.path.join(REPO, "README.md")]
    for doc in docs:
        with open(doc) as f:
            text = f.read()
        assert text.count("<!-- example:") == len(QUOTE.findall(text)), f"{doc}: a malformed quote"
        for path, body in QUOTE.findall(text):
            with open(os.path.join(REPO, path)) as f:
                assert body == f.read(), f"{doc} quotes {path}, which has changed"
            quoted.add(path)
    files = {"examples/python/check.py", "examples/python/middleware.py",
             "examples/python/policies.py",
             "examples/node/check.mjs", "examples/rust/check.rs", "examples/rust/policies.rs",
             "examples/redis-cli/session.txt", "examples/redis-cli/policies.txt"}
    assert files <= quoted, f"examples no doc quotes: {files - quoted}"


def test_node_lockfile_pins_what_package_json_asks_for():
    import json
    with open(os.path.join(EXAMPLES, "node", "package.json")) as f:
        wanted = json.load(f)["dependencies"]["redis"]
    with open(os.path.join(EXAMPLES, "node", "package-lock.json")) as f:
        lock = json.load(f)
    assert lock["packages"]["node_modules/redis"]["version"] == wanted
