#!/usr/bin/env bash
# Sets up a virtualenv in .venv (if needed), installs the project with its dev extra, then runs
# ruff, mypy --strict and the test suite (with two xdist workers). Works on a fresh machine with
# only Python 3.10+ and the package registry; no API keys, no other network.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 "$@"
