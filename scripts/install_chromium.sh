#!/usr/bin/env bash
# Installs Debian's Chromium (the `chromium` package: /usr/bin/chromium), which the HTML report's
# browser tests drive headless (tests/test_html_report_browser.py). Does nothing when a Chromium is
# already there ($LLMONPY_CHROMIUM names another). Installs with apt-get (scripts/apt_install.sh).
set -euo pipefail
for candidate in "${LLMONPY_CHROMIUM:-}" chromium chromium-browser; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
        echo "[install_chromium.sh] found $(command -v "$candidate")" >&2
        exit 0
    fi
done
bash "$(dirname "$0")/apt_install.sh" chromium fonts-dejavu-core
echo "[install_chromium.sh] installed $(command -v chromium)" >&2
