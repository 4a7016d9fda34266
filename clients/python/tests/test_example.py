"""The package's examples against a real server: examples/python-client/app.py over
werkzeug's test client, examples/python/limiter.py as a script (what it prints)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

from servers import Server

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
APP = EXAMPLES / "python-client" / "app.py"


def test_the_example_app(redis_server: Server) -> None:
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{redis_server.port}"
    spec = importlib.util.spec_from_file_location("example_app", APP)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.app.test_client()
    got = [c.get("/search", headers={"X-API-Key": "k1"}) for _ in range(6)]
    assert [g.status_code for g in got] == [200] * 5 + [429]
    assert got[0].headers["RateLimit-Policy"] == '"default";q=20;w=1'
    assert got[0].headers["X-RateLimit-Limit"] == "5"
    assert c.get("/").status_code == 200


def test_the_limiter_script(server: Server) -> None:
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{server.port}"}
    out = subprocess.run([sys.executable, str(EXAMPLES / "python" / "limiter.py")], env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    assert out[:3] == [f"request {i}: allowed, {3 - i} left" for i in (1, 2, 3)]
    m = re.fullmatch(r"request 4: denied, 0 left, retry in (\d+) s", out[3])
    assert m is not None and 3590 <= int(m.group(1)) <= 3600
    assert re.fullmatch(r"policy example:tier:free stored, version \d+", out[4])
    assert out[5] == "tenant 7 under the free tier: allowed, allowed, denied"
    assert out[6] == "policies: example:tier:free"
    # t: the seconds until rested, rounded up (60 unless the machine stalls for a second).
    for line, left in zip(out[7:9], (1, 0)):
        assert re.fullmatch(rf'GET / -> 200 ratelimit: "default";r={left};t=(59|60)', line), line
    m = re.fullmatch(r'GET / -> 429 ratelimit: "default";r=0;t=(\d+) retry-after: (\d+)', out[9])
    assert m is not None and 55 <= int(m.group(2)) <= 60 and len(out) == 10
