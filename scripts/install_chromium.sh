#!/usr/bin/env bash
# Installs Debian's Chromium (the `chromium` package: /usr/bin/chromium), which the HTML report's
# browser tests drive headless (tests/test_html_report_browser.py). Does nothing when a Chromium is
# already there. Needs apt-get and root (or sudo); Debian's package mirror is the only network used.
set -euo pipefail
for candidate in "${LLMONPY_CHROMIUM:-}" chromium chromium-browser; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
        echo "[install_chromium.sh] found $(command -v "$candidate")" >&2
        exit 0
    fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[install_chromium.sh] no Chromium and no apt-get: install Chromium, or set LLMONPY_CHROMIUM" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists may be stale or missing on a fresh machine: update them first (quietly).
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "[install_chromium.sh] installed $(command -v chromium)" >&2
