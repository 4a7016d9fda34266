"""The deployment artefacts: the repo's redis.conf (what `make run` and the Docker image
run) starts both servers with the module, every module setting at its default, AOF on,
and the three ACL users doing what its comments say; MODULE LIST reports the crate's
version; `make dist` produces a loadable module with a valid checksum; the Dockerfile
stays in step with the README."""

import contextlib
import os
import re
import subprocess
import time

import pytest
import redis

from helpers import KINDS, MODULE, REPO, binary_for, free_port

CONF = os.path.join(REPO, "redis.conf")
PASSWORDS = {"app": "change-me-app-password", "admin": "change-me-admin-password"}


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
def spawned(argv, cwd, log=None):
    """A server started from `argv` (with `--port` added), not through helpers.Server
    (which sets its own options); yields its port once it answers PING, then kills it."""
    port = free_port()
    proc = subprocess.Popen([*argv, "--port", str(port)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = redis.Redis(port=port, protocol=2, socket_timeout=10)
        for _ in range(300):
            try:
                c.ping()
                break
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
    return redis.Redis(port=port, username=name, password=PASSWORDS[name], protocol=2,
                       socket_timeout=10)


def test_the_repo_conf_loads_the_module_with_every_setting_at_its_default(conf_server):
    port, tmp = conf_server
    admin = user(port, "admin")
    modules = {m[b"name"]: m[b"ver"] for m in
               [dict(zip(x[::2], x[1::2])) for x in admin.execute_command("MODULE", "LIST")]}
    assert modules[b"ratelimit"] == module_ver()
    assert admin.info("server")["redis_version"]
    # Every module setting the server knows is written in the file, at its default.
    in_file = dict(line.split(None, 1) for line in conf_lines() if line.startswith("ratelimit."))
    live = admin.config_get("ratelimit.*")
    assert set(live) == set(in_file) and len(live) == 5
    assert live == in_file == {
        "ratelimit.sliding-log-max-limit": "10000", "ratelimit.cell-compat": "no",
        "ratelimit.deny-notifications": "no", "ratelimit.latency-tracking": "yes",
        "ratelimit.top-denied-keys": "10"}
    assert admin.config_get("appendonly") == {"appendonly": "yes"}
    assert admin.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-ttl"}
    assert os.path.isdir(tmp / "appendonlydir")
    assert admin.execute_command("RL.CHECK", "k", "GCRA", 1, 60_000)[0] == 1


def refused(c, *args):
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.execute_command(*args)


def test_the_repo_conf_acl_users_get_what_its_comments_say(conf_server):
    port, _ = conf_server
    default = redis.Redis(port=port, protocol=2, socket_timeout=10)
    app, admin = user(port, "app"), user(port, "admin")
    # default: health checks only.
    assert default.ping() and default.info("server")
    assert default.execute_command("RL.STATS")
    for args in (("RL.CHECK", "k", "GCRA", 1, 1000), ("GET", "k"), ("SET", "k", "v"),
                 ("CONFIG", "GET", "port"), ("CLIENT", "KILL", "ID", "999"), ("FLUSHALL",)):
        refused(default, *args)
    # app: the checking commands, on any key.
    assert app.execute_command("RL.CHECK", "api:1", "GCRA", 2, 60_000)[:3] == [1, 2, 1]
    assert app.execute_command("RL.PEEK", "api:1", "GCRA", 2, 60_000)[:3] == [1, 2, 0]
    assert app.execute_command("RL.MCHECK", 1, "api:2", "TOKEN_BUCKET", 5, 1000)[0] == 1
    assert app.execute_command("RL.INSPECT", "api:1")
    for args in (("RL.RESET", "api:1"), ("RL.STATS",), ("RL.APPLY", "api:1", "x"),
                 ("GET", "api:1"), ("DEL", "api:1"), ("KEYS", "*"), ("FLUSHALL",),
                 ("CONFIG", "SET", "ratelimit.top-denied-keys", "0"), ("MODULE", "LIST"),
                 ("SUBSCRIBE", "x")):
        refused(app, *args)
    # admin: everything.
    assert admin.execute_command("RL.STATS", "RESET") == b"OK"
    assert admin.execute_command("RL.RESET", "api:1", "api:2") == 2
    assert admin.config_set("ratelimit.top-denied-keys", 20)
    # Wrong password: refused.
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=port, username="app", password="nope").ping()


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


HEALTH = "redis-cli -p 6379 RL.STATS | grep -q module_version"


def test_the_health_check_passes_with_the_module_and_fails_without_it(server, tmp_path):
    with open(os.path.join(REPO, "Dockerfile")) as f:
        assert f"CMD {HEALTH} || exit 1" in f.read()

    def healthy(port):
        cmd = HEALTH.replace("-p 6379", f"-p {port}")
        return subprocess.run(["sh", "-c", cmd], timeout=30).returncode == 0

    assert healthy(server.port)
    with spawned(["redis-server", "--save", ""], tmp_path) as port:
        assert not healthy(port), "healthy without the module"
    assert not healthy(free_port()), "healthy with no server"


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
    # the repo's redis.conf, a non-root user, a health check through RL.STATS.
    assert re.search(r"(?m)^FROM redis:7[\w.-]*$", docker)
    assert "/usr/lib/redis/modules/libredis_ratelimit.so" in docker
    assert "COPY redis.conf /etc/redis/redis.conf" in docker
    assert re.search(r"(?m)^USER redis$", docker)
    assert re.search(r"(?m)^HEALTHCHECK (.*\\\n)*.*RL\.STATS", docker)
    assert '"redis-server", "/etc/redis/redis.conf"' in docker
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
    assert container["args"][:2] == ["redis-server", "/etc/redis/redis.conf"]
    assert container["readinessProbe"]["exec"]["command"][-1] == HEALTH
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/data": "data", "/etc/redis": "conf"}
    (conf,) = [v for v in pod["volumes"] if v["name"] == "conf"]
    assert conf["secret"]["secretName"] == "redis-ratelimit-conf"
    assert conf["secret"]["items"] == [{"key": "redis.conf", "path": "redis.conf"}]
    claim = docs["StatefulSet"]["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
