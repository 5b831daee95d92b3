#!/usr/bin/env bash
# The packaging check (scripts/check.sh runs it after the docs build): builds the sdist and wheel,
# checks their metadata and contents, installs the WHEEL into a fresh virtualenv and runs a small
# jury-judged suite (scripts/package_smoke/) with it from a temporary directory outside the checkout,
# judged by the loopback fake server tests/fake_llm_server.py. Tests what a user gets from
# `pip install dist/*.whl`, not the editable checkout. Needs .venv with the dev extra (build, twine),
# Python 3.10+ and the package registry (the fresh virtualenv installs litellm & co.); no API keys.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
PYTHON="${PYTHON:-python3}"
dev_python="$repo/.venv/bin/python"

work="$(mktemp -d "${TMPDIR:-/tmp}/llmonpy-package.XXXXXX")"
server_pid=""
step_name="setup"
log=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
show_log() {
    if [ -n "$log" ] && [ -s "$log" ]; then
        echo "---- last 80 lines of $(basename "$log") ----" >&2
        tail -n 80 "$log" >&2
    fi
}
fail() {
    echo "check_package: FAILED in step '$step_name': $*" >&2
    show_log
    exit 1
}
on_error() {
    echo "check_package: FAILED in step '$step_name' (line $1)" >&2
    show_log
}
trap cleanup EXIT
# Any other failing command (set -e) still says which step it broke.
trap 'on_error $LINENO' ERR

# Microseconds since the epoch: bash 5's clock, or whole seconds from date(1) on an older bash.
micros() {
    if [ -n "${EPOCHREALTIME:-}" ]; then
        echo "${EPOCHREALTIME/[.,]/}"
    else
        echo "$(($(date +%s) * 1000000))"
    fi
}
t_start="$(micros)"
t_step="$t_start"
step() {
    step_name="$1"
    log=""
    t_step="$(micros)"
}
done_step() {
    local now
    now="$(micros)"
    awk -v s="$(((now - t_step) / 1000))" -v t="$(((now - t_start) / 1000))" -v m="$step_name" \
        'BEGIN { printf "check_package: %-44s %6.1fs  (total %6.1fs)\n", m, s / 1000, t / 1000 }'
}

# Fails with the log shown unless every given string is in it.
expect() {
    local file="$1"
    shift
    for text in "$@"; do
        grep -qF -- "$text" "$file" || fail "expected '$text' in its output"
    done
}

# Runs a command with the log of this step as its output; exit status must be $1.
run_expecting() {
    local want="$1"
    shift
    local rc=0
    "$@" >"$log" 2>&1 || rc=$?
    [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want"
}

[ -x "$dev_python" ] || fail "no .venv: run bash scripts/check.sh first (it sets up .venv)"
"$dev_python" -c "import build, twine" 2>/dev/null ||
    fail "build and twine are missing from .venv: .venv/bin/python -m pip install -e '.[dev,local]'"

step "build sdist and wheel (python -m build)"
log="$work/build.log"
run_expecting 0 "$dev_python" -m build --outdir "$work/dist" .
wheels=("$work"/dist/*.whl)
sdists=("$work"/dist/*.tar.gz)
[ "${#wheels[@]}" -eq 1 ] && [ -f "${wheels[0]}" ] || fail "expected one wheel in $work/dist"
[ "${#sdists[@]}" -eq 1 ] && [ -f "${sdists[0]}" ] || fail "expected one sdist in $work/dist"
wheel="${wheels[0]}"
sdist="${sdists[0]}"
done_step

step "twine check --strict"
log="$work/twine.log"
run_expecting 0 "$dev_python" -m twine check --strict "$wheel" "$sdist"
done_step

step "wheel contents and version"
log="$work/wheel.log"
run_expecting 0 "$dev_python" - "$wheel" "$repo/pytest_llmonpy/__init__.py" <<'PY'
import ast
import configparser
import sys
import zipfile

wheel_path, init_path = sys.argv[1], sys.argv[2]
# The one place the version is stated: the literal __version__ in __init__.py.
module = ast.parse(open(init_path, encoding="utf-8").read())
version = next(
    node.value.value
    for node in module.body
    if isinstance(node, ast.Assign)
    and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
    and isinstance(node.value, ast.Constant)
)
names = zipfile.ZipFile(wheel_path).namelist()
info = f"pytest_llmonpy-{version}.dist-info"
problems = []
if not wheel_path.endswith(f"pytest_llmonpy-{version}-py3-none-any.whl"):
    problems.append(f"the wheel's name does not carry __version__ {version}: {wheel_path}")
for name in ("pytest_llmonpy/py.typed", "pytest_llmonpy/plugin.py", f"{info}/licenses/LICENSE"):
    if name not in names:
        problems.append(f"missing {name}")
strays = sorted({n.split("/")[0] for n in names} - {"pytest_llmonpy", info})
if strays:
    problems.append(f"unexpected top-level entries: {strays}")
if f"{info}/entry_points.txt" in names:
    points = configparser.ConfigParser()
    points.read_string(zipfile.ZipFile(wheel_path).read(f"{info}/entry_points.txt").decode())
    if points.get("pytest11", "llmonpy", fallback=None) != "pytest_llmonpy.plugin":
        problems.append("entry point missing: pytest11: llmonpy = pytest_llmonpy.plugin")
    if points.get("console_scripts", "llmonpy", fallback=None) != "pytest_llmonpy.cli:main":
        problems.append("console script missing: llmonpy = pytest_llmonpy.cli:main")
else:
    problems.append("missing entry_points.txt")
if f"{info}/METADATA" in names:
    metadata = zipfile.ZipFile(wheel_path).read(f"{info}/METADATA").decode()
    wanted = (f"Version: {version}", "License-Expression: MIT", "Description-Content-Type: text/markdown")
    for line in wanted:
        if line not in metadata.splitlines():
            problems.append(f"METADATA lacks '{line}'")
print("\n".join(problems) or f"wheel ok: version {version}")
sys.exit(1 if problems else 0)
PY
done_step

step "sdist contents (tar tzf)"
log="$work/sdist.log"
run_expecting 0 tar tzf "$sdist"
root="$(basename "$sdist" .tar.gz)"
for name in PKG-INFO pyproject.toml README.md LICENSE CHANGELOG.md pytest_llmonpy/__init__.py \
    pytest_llmonpy/py.typed; do
    grep -qxF "$root/$name" "$log" || fail "the sdist lacks $name"
done
! grep -q "/__pycache__/\|\.pyc$" "$log" || fail "the sdist holds compiled files"
done_step

step "fresh virtualenv ($PYTHON -m venv)"
log="$work/venv.log"
venv="$work/venv"
run_expecting 0 "$PYTHON" -m venv "$venv"
grep -qx "include-system-site-packages = false" "$venv/pyvenv.cfg" ||
    fail "the fresh virtualenv sees the system site-packages"
done_step

mkdir "$work/suite"
cp "$repo/tests/fake_llm_server.py" "$repo"/scripts/package_smoke/{pytest.ini,smoke_server.py,test_smoke.py} \
    "$work/suite/"
cd "$work/suite"
# Nothing from the caller's environment may reach the checkout's package or change the runs.
unset PYTHONPATH PYTEST_ADDOPTS PYTEST_PLUGINS GITHUB_STEP_SUMMARY
# litellm needs a key to call; the fake server ignores it.
export OPENAI_API_KEY=sk-package-smoke-dummy LLMONPY_RATELIMIT_DIR="$work/ratelimits"

step "install the wheel and pytest-xdist"
log="$work/install.log"
# --no-compile: pip would byte-compile all of litellm & co. (thousands of files, to delete again at the
# end); the runs below compile only what they import.
run_expecting 0 "$venv/bin/python" -m pip install --disable-pip-version-check --no-compile \
    "$wheel" pytest-xdist
done_step

step "the import comes from the fresh virtualenv"
log="$work/import.log"
run_expecting 0 "$venv/bin/python" - "$venv" "$wheel" <<'PY'
import importlib.metadata
import json
import os
import sys

import pytest_llmonpy

venv, wheel = sys.argv[1], sys.argv[2]
where = os.path.realpath(pytest_llmonpy.__file__)
if not where.startswith(os.path.realpath(venv) + os.sep):
    sys.exit(f"pytest_llmonpy imported from {where}, not from the fresh virtualenv {venv}")
dist = importlib.metadata.distribution("pytest-llmonpy")
if dist.version != pytest_llmonpy.__version__:
    sys.exit(f"installed metadata says {dist.version}, __version__ says {pytest_llmonpy.__version__}")
origin = json.loads(dist.read_text("direct_url.json") or "{}")
if "archive_info" not in origin or not origin.get("url", "").endswith(os.path.basename(wheel)):
    sys.exit(f"not installed from the built wheel: {origin}")
print(f"pytest_llmonpy {dist.version} from {where}")
PY
version="$("$venv/bin/python" -c "import pytest_llmonpy; print(pytest_llmonpy.__version__)")"
done_step

step "llmonpy --help"
log="$work/help.log"
run_expecting 0 "$venv/bin/llmonpy" --help
expect "$log" "usage: llmonpy" "cache"
done_step

step "start the fake judge server"
log="$work/server.log"
"$venv/bin/python" smoke_server.py "$work/url" >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    [ -s "$work/url" ] && break
    kill -0 "$server_pid" 2>/dev/null || fail "the fake judge server exited"
    sleep 0.1
done
[ -s "$work/url" ] || fail "the fake judge server did not start within 10 s"
url="$(cat "$work/url")"
done_step

pytest_run() {
    "$venv/bin/pytest" -p no:cacheprovider "$@"
}
live=(
    "plugins: " "llmonpy-$version"
    "AssertionError: jury FAILED: Says refunds are only possible within 30 days"
    "votes: 0 pass, 3 fail, 0 abstain; quorum majority needs 2 of 3"
    "- judge-a: FAIL - it says 60 days, the policy says 30"
    "llm jury summary"
    "verdicts: 4 passed, 2 failed, 0 hung in 6 tests"
    "1 failed, 5 passed"
)

step "live run, serial"
log="$work/live-serial.log"
run_expecting 1 pytest_run --jury-api-base="$url" --jury-cache-dir=.llmonpy-a
expect "$log" "${live[@]}" "judge calls: 18 live, 0 cached"
done_step

step "live run, -n 2"
log="$work/live-xdist.log"
run_expecting 1 pytest_run -n 2 --jury-api-base="$url" --jury-cache-dir=.llmonpy-b
expect "$log" "${live[@]}" "2 workers" "judge calls: 18 live, 0 cached"
done_step

step "stop the fake judge server"
log="$work/server.log"
kill "$server_pid"
wait "$server_pid" || fail "the fake judge server failed"
server_pid=""
expect "$log" "judge requests: 36"
done_step

# The server is gone: a cached run that tried a live call would fail differently (hung verdicts).
step "cached run, serial (server stopped)"
log="$work/cached-serial.log"
run_expecting 1 pytest_run --jury-api-base="$url" --jury-cache-dir=.llmonpy-b
expect "$log" "${live[@]}" "judge calls: 0 live, 18 cached"
done_step

step "cached run, -n 2 (server stopped)"
log="$work/cached-xdist.log"
run_expecting 1 pytest_run -n 2 --jury-api-base="$url" --jury-cache-dir=.llmonpy-a
expect "$log" "${live[@]}" "2 workers" "judge calls: 0 live, 18 cached"
done_step

step "llmonpy cache stats"
log="$work/stats.log"
run_expecting 0 "$venv/bin/llmonpy" cache stats --dir .llmonpy-a
expect "$log" "entries: 18" "judge-a" "judge-b" "judge-c"
done_step

step "remove the temporary directory"
cd "$repo"
rm -rf "$work"
done_step

step_name="all"
t_step="$t_start"
done_step
echo "check_package: OK: $(basename "$wheel") and $(basename "$sdist") build, install and judge"
