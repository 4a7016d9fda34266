"""The deployment artefacts: the repo's redis.conf (what `make run` and the Docker image
run) starts both servers with the module, every module setting at its default, AOF on,
and the four ACL users doing what its comments say (each one's allowed and refused
commands); MODULE LIST reports the crate's version; `make dist` produces a loadable
module with a valid checksum; the container start (run here with the image's command
and conf, bound to loopback) refuses password-less and placeholder passwords and keeps
protected mode on, and no user it serves is reachable without a password; the
Dockerfile stays in step with the README."""

import contextlib
import os
import re
import subprocess
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from helpers import KINDS, MODULE, REPO, binary_for, free_port

CONF = os.path.join(REPO, "redis.conf")
PASSWORDS = {"app": "change-me-app-password", "monitor": "change-me-monitor-password",
             "admin": "change-me-admin-password"}
START = os.path.join(REPO, "deploy", "docker-start.sh")


def connect(port, **kw):
    """A client that fails at once (redis-py retries a refused login with backoff)."""
    return redis.Redis(port=port, protocol=2, socket_timeout=10, retry=Retry(NoBackoff(), 0),
                       **kw)


def crate_version():
    with open(os.path.join(REPO, "Cargo.toml")) as f:
        return re.search(r'^version = "(\d+)\.(\d+)\.(\d+)"', f.read(), re.M).groups()


def module_ver():
    major, minor, patch = map(int, crate_version())
    return major * 10000 + minor * 100 + patch


def conf_lines():
    with open(CONF) as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


@contextlib.contextmanager
def spawned(argv, cwd, log=None, env=None):
    """A server started from `argv` (with `--port` added), not through helpers.Server
    (which sets its own options); yields its port once it answers PING, then kills it."""
    port = free_port()
    proc = subprocess.Popen([*argv, "--port", str(port)], cwd=cwd,
                            env=None if env is None else {**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = connect(port)
        for _ in range(300):
            try:
                c.ping()
                break
            except redis.AuthenticationError:
                break  # it answers: a conf whose default user is off
            except redis.ConnectionError:
                assert proc.poll() is None, log.read_text() if log else "server exited"
                time.sleep(0.02)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(params=KINDS)
def conf_server(request, tmp_path):
    """The repo's redis.conf, its loadmodule line pointed at the built module (as
    `make run` does), on a free port in a temp dir."""
    lines = [line for line in conf_lines() if line.startswith("loadmodule ")]
    assert lines == ["loadmodule /usr/lib/redis/modules/libredis_ratelimit.so"], lines
    with open(CONF) as f:
        text = f.read()
    conf = tmp_path / "redis.conf"
    conf.write_text(re.sub(r"(?m)^loadmodule .*$", f"loadmodule {MODULE}", text))
    log = tmp_path / "server.log"
    with spawned([binary_for(request.param), str(conf), "--logfile", str(log)], tmp_path,
                 log) as port:
        yield port, tmp_path


def user(port, name):
    return connect(port, username=name, password=PASSWORDS[name])


def test_the_repo_conf_loads_the_module_with_every_setting_at_its_default(conf_server):
    port, tmp = conf_server
    admin = user(port, "admin")
    modules = {m[b"name"]: m[b"ver"] for m in
               [dict(zip(x[::2], x[1::2])) for x in admin.execute_command("MODULE", "LIST")]}
    assert modules[b"ratelimit"] == module_ver()
    assert admin.info("server")["redis_version"]
    # Every module setting the server knows is written in the file, at its default.
    in_file = {name: value.strip('"') for name, value in
               (line.split(None, 1) for line in conf_lines() if line.startswith("ratelimit."))}
    live = admin.config_get("ratelimit.*")
    assert set(live) == set(in_file) and len(live) == 8
    assert live == in_file == {
        "ratelimit.sliding-log-max-limit": "10000", "ratelimit.cell-compat": "no",
        "ratelimit.deny-notifications": "no", "ratelimit.latency-tracking": "yes",
        "ratelimit.top-denied-keys": "10", "ratelimit.max-leases-per-key": "1000",
        "ratelimit.max-policies": "10000", "ratelimit.policy-file": ""}
    assert admin.config_get("appendonly") == {"appendonly": "yes"}
    assert admin.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-ttl"}
    assert os.path.isdir(tmp / "appendonlydir")
    assert admin.execute_command("RL.CHECK", "k", "GCRA", 1, 60_000)[0] == 1


def refused(c, *args):
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.execute_command(*args)


COLLECT = os.path.join(REPO, "docs", "monitoring", "ratelimit-stats.lua")
POLICY = '{"limits": [{"algorithm": "GCRA", "limit": 2, "period": "1m"}]}'

# Per user of the repo's redis.conf: what it may run and what it is refused (by ACL).
# The monitor user's allowed list is what the health check and Debian's exporter
# (test_monitoring.py) issue; RL.STATS shows key names, the resets clear counters.
ALLOWED = {
    "app": [("RL.CHECK", "api:1", "GCRA", 2, 60_000), ("RL.PEEK", "api:1", "GCRA", 2, 60_000),
            ("RL.MCHECK", 1, "api:2", "TOKEN_BUCKET", 5, 1000), ("RL.INSPECT", "api:1"),
            ("RL.REFUND", "api:1", "COST", 1),
            ("RL.ACQUIRE", "jobs:1", 2, 60_000), ("RL.RELEASE", "jobs:1", "00000000000000ff"),
            ("RL.RENEW", "jobs:1", "00000000000000ff", 1000), ("RL.BLOCK", "api:3", "1s"),
            ("RL.CHECK", "api:4", "POLICY", "free"), ("PING",)],
    "monitor": [("PING",), ("INFO", "ALL"), ("RL.METRICS",), ("LATENCY", "LATEST"),
                ("SLOWLOG", "LEN"), ("EVAL", "COLLECT", 0), ("CLIENT", "SETNAME", "x")],
    "admin": [("RL.STATS",), ("RL.STATS", "RESET"), ("CONFIG", "RESETSTAT"),
              ("RL.POLICY", "SET", "pro", POLICY), ("RL.POLICY", "DIGEST"),
              ("RL.RESET", "api:1", "api:2"), ("CONFIG", "SET", "ratelimit.top-denied-keys", "20"),
              ("SLOWLOG", "GET"), ("KEYS", "*")],
}
REFUSED = {
    "app": [("RL.RESET", "api:1"), ("RL.STATS",), ("RL.STATS", "RESET"), ("RL.METRICS",),
            ("RL.APPLY", "api:1", "x"), ("GET", "api:1"), ("DEL", "api:1"), ("KEYS", "*"),
            ("FLUSHALL",), ("CONFIG", "SET", "ratelimit.top-denied-keys", "0"),
            ("CONFIG", "RESETSTAT"), ("MODULE", "LIST"), ("SUBSCRIBE", "x"), ("INFO",),
            ("RL.POLICY", "SET", "free", POLICY), ("RL.POLICY", "LIST"),
            ("RL.POLICY", "GET", "free")],
    "monitor": [("RL.STATS",), ("RL.STATS", "RESET"), ("CONFIG", "RESETSTAT"),
                ("CONFIG", "GET", "*"), ("RL.RESET", "api:1"), ("RL.CHECK", "k", "GCRA", 1, 1000),
                ("RL.INSPECT", "api:1"), ("RL.PEEK", "api:1", "GCRA", 2, 60_000),
                ("RL.ACQUIRE", "jobs:1", 2, 60_000), ("RL.POLICY", "DIGEST"), ("GET", "api:1"), ("SCAN", 0), ("KEYS", "*"), ("SLOWLOG", "GET"),
                ("SLOWLOG", "RESET"), ("LATENCY", "RESET"), ("MONITOR",), ("CLIENT", "LIST"),
                ("ACL", "LOG"), ("SCRIPT", "FLUSH"), ("FLUSHALL",), ("SUBSCRIBE", "x"),
                # EVAL runs only what the user may: not RL.STATS, not keys.
                ("EVAL", "return redis.call('RL.STATS')", 0),
                ("EVAL", "return redis.call('RL.STATS', 'RESET')", 0),
                ("EVAL", "return redis.call('KEYS', '*')", 0)],
}


def run_as(c, args):
    if args[:2] == ("EVAL", "COLLECT"):
        with open(COLLECT) as f:
            args = ("EVAL", f.read(), *args[2:])
    return c.execute_command(*args)


def test_the_repo_conf_acl_users_get_what_its_comments_say(conf_server):
    port, _ = conf_server
    admin = user(port, "admin")
    admin.execute_command("RL.CHECK", "api:1", "GCRA", 1, 60_000)
    admin.execute_command("RL.POLICY", "SET", "free", POLICY)
    for name in ("app", "monitor", "admin"):
        c = user(port, name)
        for args in ALLOWED[name]:
            run_as(c, args)  # raises if refused
        for args in REFUSED.get(name, []):
            # A command refused inside a script is an error of the script (NOPERM on
            # Valkey, a plain error on Redis 7.0).
            refusal = redis.ResponseError if args[0] == "EVAL" else redis.exceptions.NoPermissionError
            with pytest.raises(refusal, match=r"(?i)permission|can't run this command"):
                run_as(c, args)
    assert admin.exists("api:1") == 0  # admin's RL.RESET ran; nobody else removed it
    # The monitor's collect script sees the counters and no key names.
    reply = run_as(user(port, "monitor"), ("EVAL", "COLLECT", 0))
    assert reply[:2] == [b"module_loaded", b"1"] and b"top_denied_keys" not in reply
    # default: off, with no password: without logging in, nothing runs.
    anonymous = connect(port)
    for args in (("PING",), ("INFO",), ("RL.METRICS",), ("RL.STATS",), ("GET", "k")):
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.execute_command(*args)
    for password in ("", "nopass", "x"):
        with pytest.raises(redis.exceptions.AuthenticationError):
            connect(port, username="default", password=password).ping()
    # Wrong password: refused.
    with pytest.raises(redis.exceptions.AuthenticationError):
        connect(port, username="app", password="nope").ping()


def conf_users(path):
    """{name: rules} of the `user` lines of a conf."""
    with open(path) as f:
        lines = [line.split() for line in f if line.strip().startswith("user ")]
    return {words[1]: words[2:] for words in lines}


def test_no_user_of_the_repo_conf_is_reachable_without_a_password():
    """The conf the image and the Kubernetes Secret start from: every user is off or
    has a password, none is nopass (any password would log it in)."""
    users = conf_users(CONF)
    assert set(users) == {"default", "app", "monitor", "admin"}
    assert "off" in users["default"] and "on" not in users["default"]
    for name, rules in users.items():
        assert "nopass" not in rules, name
        if "on" in rules:
            assert any(r.startswith((">", "#")) for r in rules), name


def test_make_dist_builds_a_loadable_module_with_its_checksum(tmp_path):
    out = subprocess.run(["make", "-s", "dist"], cwd=REPO, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    name = "libredis_ratelimit-%s.%s.%s-linux-%s.so" % (*crate_version(), os.uname().machine)
    path = os.path.join(REPO, "dist", name)
    check = subprocess.run(["sha256sum", "-c", name + ".sha256"], cwd=os.path.dirname(path),
                           capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.strip() == f"{name}: OK", check.stdout
    with spawned(["redis-server", "--save", "", "--loadmodule", path], tmp_path) as port:
        mods = redis.Redis(port=port, protocol=2).execute_command("MODULE", "LIST")
        assert [dict(zip(m[::2], m[1::2]))[b"ver"] for m in mods] == [module_ver()]


HEALTH = "redis-cli -p 6379 --user monitor --no-auth-warning RL.METRICS | grep -q module_version"
LIVENESS = "redis-cli -p 6379 --user monitor --no-auth-warning PING | grep -q PONG"
# What docs/deployment.md has the operator do before the image runs: own passwords.
OWN = {"app": "app-3f9c1d", "monitor": "monitor-8b27e4", "admin": "admin-51d0aa"}


def container_conf(tmp_path, rules=None, module=True):
    """The repo's redis.conf as the image would get it mounted: the build's module path
    (or no module and no module settings), the placeholder passwords replaced by OWN,
    and optionally one user's rules replaced."""
    with open(CONF) as f:
        text = f.read()
    text = re.sub(r"(?m)^loadmodule .*$", f"loadmodule {MODULE}" if module else "", text)
    if not module:
        text = re.sub(r"(?m)^ratelimit\..*$", "", text)
        text = re.sub(r" \+rl\.\w+", "", text)  # unknown commands without the module
    for name, password in OWN.items():
        text = text.replace(f">{PASSWORDS[name]}", f">{password}")
    for name, rule in (rules or {}).items():
        text = re.sub(rf"(?m)^user {name} .*$", f"user {name} {rule}", text)
    conf = tmp_path / "container.conf"
    conf.write_text(text)
    return conf


@contextlib.contextmanager
def container(tmp_path, conf):
    """deploy/docker-start.sh, the image's CMD, on `conf`, bound to loopback here."""
    with spawned(["sh", START, "--bind", "127.0.0.1", "--logfile", str(tmp_path / "log")],
                 tmp_path, tmp_path / "log", env={"REDIS_CONF": str(conf)}) as port:
        yield port


def healthy(command, port, password):
    env = {**os.environ, "REDISCLI_AUTH": password} if password else \
        {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
    cmd = command.replace("-p 6379", f"-p {port}")
    return subprocess.run(["sh", "-c", cmd], env=env, timeout=30).returncode == 0


def test_the_container_start_refuses_passwordless_and_placeholder_users(tmp_path):
    def start(conf):
        return subprocess.run(["sh", START, "--bind", "127.0.0.1", "--port", str(free_port())],
                              env={**os.environ, "REDIS_CONF": str(conf)}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=30)

    # The repo's conf as built into the image: the placeholders.
    repo = start(CONF)
    assert repo.returncode == 78 and "placeholder" in repo.stderr, repo
    lines = [i for i, line in enumerate(open(CONF), 1) if ">change-me" in line]
    assert len(lines) == 3 and f"line(s) {' '.join(map(str, lines))} " in repo.stderr
    for rule in ("on nopass -@all +ping", "on nopass", "on >x nopass +@all"):
        out = start(container_conf(tmp_path, {"monitor": rule}))
        assert out.returncode == 78, (rule, out)
    out = start(container_conf(tmp_path, {"default": "on nopass -@all +ping"}))
    assert out.returncode == 78, out


def test_the_container_serves_no_user_without_a_password_and_keeps_protected_mode(tmp_path):
    with container(tmp_path, container_conf(tmp_path)) as port:
        admin = connect(port, username="admin", password=OWN["admin"])
        # The image's command line: protected mode on (the conf's own setting overridden),
        # bind 0.0.0.0 there (127.0.0.1 here, given after it).
        assert admin.config_get("protected-mode") == {"protected-mode": "yes"}
        assert admin.config_get("bind") == {"bind": "127.0.0.1"}
        users = {line.split()[1]: line.split()[2:] for line in
                 (u.decode() for u in admin.execute_command("ACL", "LIST"))}
        assert set(users) == {"default", "app", "monitor", "admin"}
        for name, rules in users.items():
            # ACL LIST shows a password as its hash; nopass would let any password in.
            assert "nopass" not in rules, (name, rules)
            assert ("off" in rules) if name == "default" else \
                ("on" in rules and any(r.startswith("#") for r in rules)), (name, rules)
        with pytest.raises(redis.exceptions.AuthenticationError):
            connect(port).ping()
        for name, password in OWN.items():
            assert connect(port, username=name, password=password).ping()
            with pytest.raises(redis.exceptions.AuthenticationError):
                connect(port, username=name, password=PASSWORDS[name]).ping()


def test_the_health_check_passes_with_the_module_and_fails_without_it(tmp_path):
    with open(os.path.join(REPO, "Dockerfile")) as f:
        assert f"CMD {HEALTH} || exit 1" in f.read()
    with container(tmp_path, container_conf(tmp_path)) as port:
        assert healthy(HEALTH, port, OWN["monitor"])
        assert healthy(LIVENESS, port, OWN["monitor"])
        # Without the monitor's password (or with a wrong one): unhealthy.
        assert not healthy(HEALTH, port, None) and not healthy(HEALTH, port, "wrong")
        assert not healthy(LIVENESS, port, None)
    plain = tmp_path / "plain"
    plain.mkdir()
    with container(plain, container_conf(plain, module=False)) as port:
        assert healthy(LIVENESS, port, OWN["monitor"])
        assert not healthy(HEALTH, port, OWN["monitor"]), "healthy without the module"
    assert not healthy(HEALTH, free_port(), OWN["monitor"]), "healthy with no server"


def test_the_dockerfile_does_what_the_readme_says():
    with open(os.path.join(REPO, "Dockerfile")) as f:
        docker = f.read()
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    with open(os.path.join(REPO, "docs", "deployment.md")) as f:
        deployment = f.read()
    # The build stage: the README's packages and build command.
    assert "apt-get install -y --no-install-recommends libclang-dev" in docker
    assert "libclang-dev" in readme and "cargo build --release --locked" in readme
    assert "RUN cargo build --release --locked" in docker
    # The image: the official Redis 7 image, the module where the conf loads it from,
    # the repo's redis.conf, a non-root user, a health check through RL.METRICS, and
    # the start script (tested above) as the command.
    assert re.search(r"(?m)^FROM redis:7[\w.-]*$", docker)
    assert "/usr/lib/redis/modules/libredis_ratelimit.so" in docker
    assert "COPY redis.conf /etc/redis/redis.conf" in docker
    assert "COPY deploy/docker-start.sh /usr/local/bin/redis-ratelimit-start" in docker
    assert re.search(r"(?m)^USER redis$", docker)
    assert re.search(r"(?m)^HEALTHCHECK (.*\\\n)*.*RL\.METRICS", docker)
    assert re.search(r'(?m)^CMD \["redis-ratelimit-start"\]$', docker)
    assert "--protected-mode no" not in docker
    with open(START) as f:
        start = f.read()
    assert 'exec redis-server "$conf" --bind 0.0.0.0 --protected-mode yes "$@"' in start
    assert "REDIS_CONF:-/etc/redis/redis.conf" in start and os.access(START, os.X_OK)
    # Every file the build copies exists (a missing one fails `docker build`).
    for src in re.findall(r"(?m)^COPY (?!--from)(\S+) ", docker):
        assert os.path.exists(os.path.join(REPO, src)), src
    assert "docker build -t redis-ratelimit ." in deployment


def test_the_systemd_unit_verifies_cleanly():
    unit = os.path.join(REPO, "deploy", "redis-ratelimit.service")
    out = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                         timeout=60)
    # systemd-analyze exits 0 on unknown keys and bad values too, but warns about them.
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr
    with open(unit) as f:
        text = f.read()
    assert "ExecStart=/usr/bin/redis-server /etc/redis/redis-ratelimit.conf --supervised systemd" in text
    assert "User=redis" in text and "ProtectSystem=strict" in text


def test_the_kubernetes_manifest_runs_the_image_safely_with_the_conf_and_probes():
    import yaml

    with open(os.path.join(REPO, "deploy", "kubernetes.yaml")) as f:
        docs = {d["kind"]: d for d in yaml.safe_load_all(f)}
    assert set(docs) == {"Service", "StatefulSet"}
    assert docs["Service"]["spec"]["ports"][0]["port"] == 6379
    pod = docs["StatefulSet"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    # The image's own start (the same as its CMD) and health check, the monitor user's
    # password from the Secret, never the conf's placeholders.
    assert container["args"] == ["redis-ratelimit-start"]
    assert container["readinessProbe"]["exec"]["command"] == ["sh", "-c", HEALTH]
    assert container["livenessProbe"]["exec"]["command"] == ["sh", "-c", LIVENESS]
    assert container["env"] == [{"name": "REDISCLI_AUTH", "valueFrom": {"secretKeyRef": {
        "name": "redis-ratelimit-conf", "key": "monitor-password"}}}]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/data": "data", "/etc/redis": "conf"}
    (conf,) = [v for v in pod["volumes"] if v["name"] == "conf"]
    assert conf["secret"]["secretName"] == "redis-ratelimit-conf"
    assert conf["secret"]["items"] == [{"key": "redis.conf", "path": "redis.conf"}]
    claim = docs["StatefulSet"]["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
