# redis-ratelimit: the module built the way the README builds it, on the official Redis 7 image.
# Not built in CI (no Docker engine there): keep these steps identical to the README's.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked

FROM redis:7-bookworm
COPY --from=build /src/target/release/libredis_ratelimit.so /usr/lib/redis/modules/libredis_ratelimit.so
COPY redis.conf /etc/redis/redis.conf
RUN mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
HEALTHCHECK --interval=10s --timeout=3s CMD redis-cli RL.STATS > /dev/null || exit 1
CMD ["redis-server", "/etc/redis/redis.conf", "--bind", "0.0.0.0", "--protected-mode", "no", \
     "--loadmodule", "/usr/lib/redis/modules/libredis_ratelimit.so"]
