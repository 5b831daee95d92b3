#!/usr/bin/env bash
# Installs Debian's Redis server (the `redis-server` package: /usr/bin/redis-server), which the tests
# of the shared cache, rate limits and budget (jury_cache_url) start on loopback ports of their own
# (tests/redis_server.py), and benchmarks/redis_cache.py. Does nothing when a redis-server is already
# there. Needs apt-get and root (or sudo); Debian's package mirror is the only network used. The
# package's own service is not needed: the tests start and stop their servers themselves.
set -euo pipefail
binary="${LLMONPY_REDIS_SERVER:-redis-server}"
if command -v "$binary" >/dev/null 2>&1; then
    echo "[install_redis.sh] found $(command -v "$binary")" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[install_redis.sh] no redis-server and no apt-get: install Redis, or set LLMONPY_REDIS_SERVER" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null
echo "[install_redis.sh] installed $(command -v redis-server)" >&2
