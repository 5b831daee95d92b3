#!/usr/bin/env bash
# Installs Debian's Redis server (the `redis-server` package: /usr/bin/redis-server), which the tests
# of the shared cache, rate limits and budget (jury_cache_url) start on loopback ports of their own
# (tests/redis_server.py), and benchmarks/redis_cache.py. Does nothing when a redis-server is already
# there ($LLMONPY_REDIS_SERVER names another). The package's own service is not needed: the tests
# start and stop their servers themselves.
set -euo pipefail
binary="${LLMONPY_REDIS_SERVER:-redis-server}"
if command -v "$binary" >/dev/null 2>&1; then
    echo "[install_redis.sh] found $(command -v "$binary")" >&2
    exit 0
fi
bash "$(dirname "$0")/apt_install.sh" redis-server
echo "[install_redis.sh] installed $(command -v redis-server)" >&2
