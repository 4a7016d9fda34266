#!/bin/sh
# The container's start command (the Dockerfile's CMD; deploy/kubernetes.yaml runs the
# same): redis-server with the mounted redis.conf on every interface, but only when no
# `user` line there is password-less (nopass) or keeps one of the repo's placeholder
# passwords (change-me-...). Protected mode is forced on: should the default user still
# be password-less (a conf that never mentions it leaves it on with nopass), the server
# refuses it every client but loopback ones. Extra arguments go to redis-server last
# (the tests bind loopback that way). See docs/deployment.md for supplying passwords.
set -eu
conf=${REDIS_CONF:-/etc/redis/redis.conf}
bad=$(grep -En '^[[:space:]]*user[[:space:]].*([[:space:]]nopass([[:space:]]|$)|>change-me)' "$conf" \
    | cut -d: -f1 | tr '\n' ' ')
if [ -n "$bad" ]; then
    echo "redis-ratelimit: $conf, line(s) ${bad}: a user without a password or with a placeholder one; supply your own (docs/deployment.md)" >&2
    exit 78
fi
exec redis-server "$conf" --bind 0.0.0.0 --protected-mode yes "$@"
