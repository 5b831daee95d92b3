#!/usr/bin/env bash
# Sets up a virtualenv in .venv (if needed), installs the project with its dev and local extras, then
# runs ruff, mypy --strict, the docs build (mkdocs --strict) and the test suite with two xdist
# workers. Works on a fresh machine with only Python 3.10+ and the package registry; no API keys, no
# other network. The first install compiles llama-cpp-python (about 5 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# LLAVA (image support) is not needed by a judge and adds a minute to the compile.
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" .venv/bin/python -m pip install --quiet \
    --disable-pip-version-check -e ".[dev,local]"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
site_dir="$(mktemp -d)"
trap 'rm -rf "$site_dir"' EXIT
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$site_dir"
.venv/bin/python -m pytest -n 2 --dist loadgroup -rs "$@"
