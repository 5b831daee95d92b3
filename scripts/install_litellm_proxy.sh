#!/usr/bin/env bash
# Installs a real litellm proxy (`litellm[proxy]`, from PyPI) into its own virtualenv, .venv-proxy, for
# the end-to-end tests that judge through it (tests/test_litellm_proxy_e2e.py). Its own virtualenv: the
# proxy pins a server stack (fastapi, uvicorn, ...) that the plugin's test environment should not have
# to agree with. Does nothing when .venv-proxy/bin/litellm already runs. The version is the one the
# tests were written against; the plugin itself supports the litellm range in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VERSION="1.106.12"
if .venv-proxy/bin/litellm --version 2>/dev/null | grep -q "$VERSION"; then
    echo "[install_litellm_proxy.sh] found .venv-proxy/bin/litellm $VERSION" >&2
    exit 0
fi
"$PYTHON" -m venv .venv-proxy
.venv-proxy/bin/python -m pip install --disable-pip-version-check --progress-bar off -q \
    "litellm[proxy]==$VERSION" 2>&1 | { grep -v '^WARNING: Location' || true; }
echo "[install_litellm_proxy.sh] installed .venv-proxy/bin/litellm $VERSION" >&2
