"""Prometheus and Grafana: Debian's prometheus-redis-exporter (1.45) with the shipped
collect script scrapes RL.METRICS for real, logged in as redis.conf's monitor user (no
key names, no resets: every command the exporter sends is allowed but the two that
would show secrets or key names); the alert rules pass `promtool check rules` and
their unit tests; the Grafana dashboard only queries metrics the exporter publishes."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import urllib.request

import pytest
import redis

from helpers import GCRA, TB, binary_for, check, free_port, mcheck, stats_all, wait_until

MONITORING = pathlib.Path(__file__).resolve().parent.parent / "docs" / "monitoring"
SCRIPT = MONITORING / "ratelimit-stats.lua"
ALERTS = MONITORING / "ratelimit-alerts.yml"
ALERT_TESTS = MONITORING / "ratelimit-alerts.test.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
EXPORTER = "prometheus-redis-exporter"
LINE = re.compile(r'^redis_script_values\{key="([^"]+)"\} (\S+)$')
CONF = MONITORING.parent.parent / "redis.conf"
MONITOR_PASSWORD = "monitor-pw"
# What the exporter sends that the monitor user is refused: CONFIG GET (it would show
# masterauth) and SLOWLOG GET (slow commands' arguments: key names). The exporter
# carries on without them (redis_exporter_last_scrape_error stays 0).
EXPORTER_REFUSED = {"config|get", "slowlog|get"}


def tool(name):
    path = shutil.which(name)
    assert path, f"{name} not found: `make deps-apt` installs it"
    return path


def monitor_rules():
    """The rules of redis.conf's monitor user, its password replaced."""
    with open(CONF) as f:
        (line,) = [x.split() for x in f if x.startswith("user monitor ")]
    return [f">{MONITOR_PASSWORD}" if r.startswith(">") else r for r in line[2:]]


def scrape(port, user=None):
    """Starts the exporter against 127.0.0.1:port with the collect script (logged in
    as `user`, with MONITOR_PASSWORD, given through the environment as in
    docs/monitoring.md), scrapes /metrics once, stops it; returns the metrics text."""
    listen = free_port()
    env = dict(os.environ, REDIS_USER=user, REDIS_PASSWORD=MONITOR_PASSWORD) if user \
        else None
    exporter = subprocess.Popen(
        [tool(EXPORTER), "-redis.addr", f"redis://127.0.0.1:{port}",
         "-web.listen-address", f"127.0.0.1:{listen}", "-script", str(SCRIPT)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    try:
        def get():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{listen}/metrics", timeout=5) as resp:
                    return resp.read().decode()
            except OSError:
                return None
        return wait_until(get, timeout=20, interval=0.1, what="the exporter's /metrics")
    finally:
        exporter.terminate()
        exporter.wait(timeout=10)


def script_values(text):
    """{field: value} of the redis_script_values series."""
    return {m[1]: float(m[2]) for m in map(LINE.match, text.splitlines()) if m}


def gauge(text, name):
    values = [float(line.split()[-1]) for line in text.splitlines()
              if line.startswith(name + " ") or line.startswith(name + "{")]
    assert len(values) == 1, (name, values)
    return values[0]


def ping(c):
    try:
        return c.ping()
    except redis.ConnectionError:
        return False


@pytest.fixture
def busy(server_factory, kind):
    """A server with the module (and CL.THROTTLE) that has seen every command."""
    server = server_factory(kind, module_args=["cell-compat", "yes"])
    r = server.client()
    for _ in range(3):
        check(r, "a", GCRA, 2, 60_000)
    check(r, "b", TB, 5, 1000, cost=2)
    mcheck(r, [("m1", GCRA, 1, 60_000), ("m2", "SLIDING_LOG", 1, 60_000)])
    r.execute_command("RL.PEEK", "a", GCRA, 2, 60_000)
    r.execute_command("RL.INSPECT", "a")
    r.execute_command("CL.THROTTLE", "t", 1, 10, 60)
    r.execute_command("RL.RESET", "b")
    with pytest.raises(Exception):
        r.execute_command("RL.CHECK", "a", "LEAKY", 1, 1)
    with pytest.raises(Exception):
        r.execute_command("RL.APPLY", "a", b"junk")
    r.execute_command("ACL", "SETUSER", "monitor", "reset", *monitor_rules())
    r.execute_command("ACL", "LOG", "RESET")
    return server


def refused_to(r, name):
    """The commands ACL LOG recorded as refused to user `name`."""
    return {e[b"object"].decode() for e in map(lambda x: dict(zip(x[::2], x[1::2])),
                                                r.execute_command("ACL", "LOG"))
            if e[b"username"].decode() == name}


def test_rl_metrics_is_rl_stats_without_key_names(busy):
    for protocol in (2, 3):
        r = busy.client(protocol=protocol)
        metrics = r.execute_command("RL.METRICS")
        st = stats_all(r)
        if protocol == 2:
            metrics = dict(zip(metrics[::2], metrics[1::2]))
        # The same fields in the same order, but the most-denied keys (RL.STATS names
        # key a there); every value a number or the version text.
        assert [k.decode() for k in metrics] == [k for k in st if k != "top_denied_keys"]
        assert [e[0] for e in st["top_denied_keys"]] == [b"a"]
        assert all(isinstance(v, (int, float)) or k == b"version" or float(v) >= 0
                   for k, v in metrics.items())
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("RL.METRICS", "RESET")
    assert stats_all(r)["checks"] == 7  # nothing was reset


def test_exporter_as_the_monitor_user_publishes_every_numeric_metric(busy):
    r = busy.client()
    text = scrape(busy.port, user="monitor")
    values = script_values(text)
    st = stats_all(r)
    assert gauge(text, "redis_up") == 1
    assert gauge(text, "redis_exporter_last_scrape_error") == 0
    # Every numeric field, and nothing else (no version text, no key names).
    numeric = {k for k, v in st.items() if k not in ("version", "top_denied_keys")}
    assert set(values) == numeric | {"module_loaded"}
    assert (values["module_loaded"], values["module_version"]) == (1, 100)
    # The scrape's RL.METRICS call happened before our RL.STATS: the counters agree
    # exactly, except RL.METRICS's own calls and latency, which the scrape moved.
    for k in numeric:
        if not k.startswith("metrics_"):
            assert values[k] == pytest.approx(float(st[k]), abs=0.001), k
    assert values["metrics_calls"] == 0 and st["metrics_calls"] >= 1
    # All the exporter sent was allowed but what the monitor user must not see.
    assert refused_to(r, "monitor") == EXPORTER_REFUSED
    # a: 2 allowed, 1 denied; b; m1 and m2; t.
    assert (values["checks"], values["allowed"], values["denied"]) == (7, 6, 1)
    assert values["check_errors"] == values["apply_errors"] == 1
    assert values["check_calls"] == 5 and values["throttle_calls"] == 1
    assert 0 < values["check_p50_us"] <= values["check_p99_us"] <= values["check_max_us"]
    assert values["mcheck_p99_us"] > 0 and values["keys"] == 4


def test_without_the_module_redis_is_up_but_no_script_values(kind):
    """What RateLimitModuleMissing fires on: the server is up (the script does not
    fail, which would report it down) and the script says module_loaded 0."""
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        plain = subprocess.Popen([binary_for(kind), "--port", str(port), "--save", "", "--dir", d],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            c = redis.Redis(port=port, socket_timeout=5)
            wait_until(lambda: ping(c), timeout=20, what="the plain server")
            text = scrape(port)
        finally:
            plain.terminate()
            plain.wait(timeout=10)
    assert gauge(text, "redis_up") == 1
    assert gauge(text, "redis_exporter_last_scrape_error") == 0
    assert script_values(text) == {"module_loaded": 0}


def test_alert_rules_pass_promtool_check_and_their_unit_tests():
    promtool = tool("promtool")
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)],
                             capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS: 4 rules found" in checked.stdout, checked
    tested = subprocess.run([promtool, "test", "rules", ALERT_TESTS.name],
                            cwd=MONITORING, capture_output=True, text=True)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested
    names = re.findall(r"^\s+- alert: (\S+)$", ALERTS.read_text(), re.M)
    assert names == ["RateLimitModuleMissing", "RateLimitHighDenyRatio",
                     "RateLimitCheckLatencyHigh", "RateLimitErrors"]
    # Every alert has a unit test that expects it to fire.
    fired = re.findall(r"alertname: (\S+)\n\s+exp_alerts:\n\s+- exp_labels", ALERT_TESTS.read_text())
    assert set(fired) == set(names)


def selectors(expr):
    """The key="..." and key=~"..." matchers of a PromQL expression."""
    return re.findall(r'key(=~|=)"([^"]+)"', expr)


def test_dashboard_and_alerts_query_only_metrics_the_exporter_publishes(busy):
    published = set(script_values(scrape(busy.port, user="monitor")))
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 12
    ids = [p["id"] for p in dash["panels"]]
    assert len(set(ids)) == len(ids) and all(p["title"] and p["gridPos"] for p in dash["panels"])
    assert dash["templating"]["list"][0]["name"] == "instance"
    for expr in exprs + [ALERTS.read_text()]:
        for op, value in selectors(expr):
            if op == "=":
                assert value in published, (value, expr)
            else:
                matched = {k for k in published if re.fullmatch(value, k)}
                assert len(matched) >= 2, (value, expr)
    # Every panel query is valid PromQL: promtool parses them as recording rules.
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write("groups:\n  - name: dashboard\n    rules:\n")
        for i, expr in enumerate(exprs):
            concrete = expr.replace("$__rate_interval", "5m").replace("$instance", ".*")
            f.write(f"      - record: dashboard:panel{i}\n        expr: {json.dumps(concrete)}\n")
    checked = subprocess.run([tool("promtool"), "check", "rules", f.name],
                             capture_output=True, text=True)
    pathlib.Path(f.name).unlink()
    assert checked.returncode == 0, checked
