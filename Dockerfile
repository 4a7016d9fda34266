# redis-ratelimit on the official Redis 7 image.
#
# No Docker engine runs where this project is developed and tested, so this file is not
# built in CI. Its steps are the README's, kept identical on purpose (and checked by
# python-tests/test_deploy.py): install libclang-dev, `cargo build --release --locked`,
# then redis-server with the repo's redis.conf, whose loadmodule line names
# /usr/lib/redis/modules/libredis_ratelimit.so. See docs/deployment.md.

# --- Build: Rust on Debian bookworm (the runtime image's glibc) ---------------------
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY examples/rust ./examples/rust
RUN cargo build --release --locked

# --- Run: the official Redis 7 image -------------------------------------------------
FROM redis:7-bookworm
COPY --from=build /src/target/release/libredis_ratelimit.so /usr/lib/redis/modules/libredis_ratelimit.so
COPY redis.conf /etc/redis/redis.conf
COPY deploy/docker-start.sh /usr/local/bin/redis-ratelimit-start
RUN mkdir -p /data && chown redis:redis /data
# Not root: the image's redis user owns only /data.
USER redis
WORKDIR /data
EXPOSE 6379
# The health check logs in as the monitor user (redis.conf), its password from the
# REDISCLI_AUTH environment variable (docker run -e / --env-file, or a Kubernetes
# Secret), and runs RL.METRICS, which shows no key names and resets nothing.
# redis-cli exits 0 even on an error reply, so the check looks for a field of the
# reply: it fails if the server is down, the module is not loaded or the login fails.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD redis-cli -p 6379 --user monitor --no-auth-warning RL.METRICS | grep -q module_version || exit 1
# redis-server on all interfaces inside the container, protected mode on, and only if
# no user in /etc/redis/redis.conf is password-less or keeps a placeholder password:
# mount your own redis.conf (docs/deployment.md); the one built in refuses to start.
CMD ["redis-ratelimit-start"]
