#!/usr/bin/env bash
# Installs Debian packages with apt-get, quietly, as root or through sudo; the package lists are
# refreshed first (they may be stale or missing on a fresh machine). Debian's mirror is the only
# network used. Used by install_chromium.sh and install_redis.sh once they found no binary of their own.
set -euo pipefail
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[apt_install.sh] no apt-get to install $*: install it yourself" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
