"""examples/python-client/app.py runs against a real server, over werkzeug's test client."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from servers import Server

APP = Path(__file__).resolve().parents[3] / "examples" / "python-client" / "app.py"


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
