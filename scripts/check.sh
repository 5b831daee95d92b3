#!/usr/bin/env bash
# Sets up a virtualenv in .venv (if needed), installs the project with its dev and local extras, then
# runs ruff, mypy --strict, the docs build (mkdocs --strict), the packaging check (wheel and sdist
# built, the wheel installed in a fresh virtualenv and run on a small jury suite) and the test suite
# with two xdist workers, reporting the coverage of pytest_llmonpy/. Works on a fresh machine with only
# Python 3.10+, the package registry and Debian's: Chromium, which the HTML report's browser tests
# drive (scripts/install_chromium.sh); Redis, which the shared-cache tests start on loopback ports
# (scripts/install_redis.sh); a litellm proxy in its own .venv-proxy (scripts/install_litellm_proxy.sh).
# No API keys, no other network. The first install compiles llama-cpp-python (about 5 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
started=$SECONDS
step() { printf '[check.sh] %s (%ds)\n' "$*" "$((SECONDS - started))" >&2; }

if [ ! -x .venv/bin/python ]; then
    step "creating the virtualenv .venv"
    "$PYTHON" -m venv .venv
fi
step "installing the project with its dev and local extras (the first time, llama-cpp-python compiles" \
    "for about 5 minutes on 2 cores; pip prints a line as each package is built or installed)"
# LLAVA (image support) is not needed by a judge and adds a minute to the compile.
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" .venv/bin/python -m pip install \
    --disable-pip-version-check --progress-bar off -e ".[dev,local]" \
    | { grep --line-buffered -v '^Requirement already satisfied' || true; }
step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy --strict"
.venv/bin/mypy
step "docs build (mkdocs --strict)"
site_dir="$(mktemp -d)"
trap 'rm -rf "$site_dir"' EXIT
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$site_dir"
step "packaging check"
bash scripts/check_package.sh
step "Chromium for the HTML report's browser tests (Debian's package, once)"
bash scripts/install_chromium.sh
export LLMONPY_REQUIRE_BROWSER=1  # the browser tests fail, not skip, if Chromium went missing
step "Redis for the shared-cache tests (Debian's package, once)"
bash scripts/install_redis.sh
export LLMONPY_REQUIRE_REDIS=1  # the Redis tests fail, not skip, if redis-server went missing
step "a litellm proxy for the gateway tests (litellm[proxy] in .venv-proxy, once)"
bash scripts/install_litellm_proxy.sh
export LLMONPY_REQUIRE_PROXY=1  # the proxy tests fail, not skip, if the proxy went missing
step "tests"
.venv/bin/python -m pytest -n 2 --dist loadgroup -rs --cov --cov-report=term "$@"
