"""The docs run: every code block of README.md and docs/*.md is executed offline, or carries a mark.

Docs conventions
================

Every fenced code block in README.md and in each docs/*.md page (found by glob, so a new page is
covered) is a test, with the id `<page>:<line of the opening fence>`, e.g. `docs/caching.md:42`.

What runs, by the fence's language:

- ``python``: a block that defines tests (a top-level ``def test_...`` or ``class Test...``) is a test
  module; any other block is a snippet, run as the body of ``def test_snippet(jury):``. The blocks of a
  page are written into one pytester directory, in page order, and run with pytest in this process
  (``--jury-mode=refresh``, so every jury call is asked), judges called through litellm's real HTTP
  path and routed to the loopback fake server (``--jury-api-base``), which votes ``pass`` and calls
  comparisons a tie. A first-line comment such as ``# tests/test_refunds.py`` names the module.
  The directory has a ``pytest.ini`` with a three-judge jury (``openai/gpt-4o-mini``,
  ``anthropic/claude-3-5-haiku-latest``, ``gemini/gemini-2.0-flash``), unless a ``file`` block gives
  the configuration. ``pytest`` and the app stubs of ``myapp.py`` (``support_bot``, ``summarise``,
  ``ARTICLE``, ... see ``APP_STUBS``) are available without an import, and ``from myapp import ...``
  works. Each block's tests must pass (no error, nothing uncollected), the page's run must exit 0
  when every block is expected to pass (a group gate fails a run whose tests passed), and a block
  that calls the jury (``jury.check(...)``, ``llm_baseline.assert_not_worse(...)``, ...) must have
  sent the fake server at least one judge request. A block that uses ``llm_baseline`` has its
  baselines recorded first (``--jury-baseline-update``), and then runs with the app's output
  changed, so the jury really compares.
- ``console``, ``bash``, ``shell``, ``sh``: if some line starts with ``$ ``, those lines are the
  commands (a trailing ``\\`` continues one) and the lines after a command are its expected output
  (``...`` skips any lines); otherwise every line is a command. Commands run in the page's directory,
  after the page's python blocks above them. ``pytest ...`` (or ``python -m pytest``) runs with the
  fake server and must exit 0; ``llmonpy ...`` (or ``python -m pytest_llmonpy``) and ``python -c`` run
  with this interpreter and must exit 0; ``export NAME=value`` and ``NAME=value cmd`` set the
  environment. ``-n N`` runs with at most 2 workers: the tests run on 2 cores, and what workers
  merge is the same with 2 as with 4. Expected output lines must appear in the command's output, in
  order, compared with every number as ``N`` and whitespace runs as one space. Anything else (``pip``,
  ``bash scripts/...``, ``git``, a benchmark, pipes) needs a ``skip`` mark.
- ``ini``, ``toml``: every ``jury_*`` key must be a registered ini key, and pytest must start with the
  block as its ``pytest.ini`` / ``pyproject.toml`` and pass one trivial test (the plugin validates
  every value at startup).
- ``yaml`` must parse; ``json`` must parse; ``text`` is an output sample and isn't run.
- Any other language, or none, needs a mark.

Marks are HTML comments (invisible in the site) on the line(s) right before the fence:

- ``<!-- docs-test: skip: <reason> -->``: not run; the reason is required and shows in the test report.
- ``<!-- docs-test: not-code -->``: a signature, an excerpt, a transcript or an output sample; not run.
- ``<!-- docs-test: file <path> -->``: the block is written to ``<path>`` in the page's directory
  before its blocks run (for example a ``pytest.ini`` that the page's commands use).
- ``<!-- docs-test: expect failed -->``: the python block's tests must fail, or the block's pytest
  commands must exit 1 (an example that shows a failure).

Besides the blocks, every ``--jury-...`` flag and ``jury_...`` key named anywhere in a page (prose
included) must exist in ``pytest --help`` (or be a JUnit property name the plugin writes).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from conftest import inprocess_run
from fake_llm_server import FakeLLMServer

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]

PYTHON = {"python", "py"}
SHELL = {"console", "bash", "shell", "sh"}
CONFIG = {"ini", "toml"}
SAMPLE = {"text"}
MARK_HELP = (
    "<!-- docs-test: skip: <reason> -->, <!-- docs-test: not-code -->, "
    "<!-- docs-test: file <path> --> or <!-- docs-test: expect failed -->"
)

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARK = re.compile(r"^\s*<!--\s*docs-test:(?P<text>.*?)-->\s*$")
_ANY_MARK = re.compile(r"docs-test:")
_JURY_CALL = re.compile(
    r"\b(?:jury|llm_baseline)\.(?:check|assert_passes|acheck|aassert_passes|compare|acompare"
    r"|assert_not_worse|compare_to_baseline)\("
)
_DEFINES_TESTS = re.compile(r"^(?:def test_|async def test_|class Test)", re.MULTILINE)
_NAMED_MODULE = re.compile(r"^# (?P<path>(?:[\w.-]+/)*test_\w+\.py)\s*$")
_SHELL_SYNTAX = re.compile(r"\$\(|`|\||;|&&|>|<")
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
_CONFIG_KEY = re.compile(r"^\s*(?P<key>jury_\w+)\s*=", re.MULTILINE)
_FLAG = re.compile(r"--jury-[a-z0-9-]*[a-z0-9]")
_INI_NAME = re.compile(r"\bjury_[a-z0-9_]*[a-z0-9]")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_CONFIG_FILES = {"pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"}
# Every inner run: no random order, no .pytest_cache, and no pytest-asyncio (installed here for the
# project's own tests; unconfigured, it warns at startup, an error under `filterwarnings = error`).
INNER_ARGS = ["-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio"]

DEFAULT_INI = """\
[pytest]
jury_judges =
    openai/gpt-4o-mini
    anthropic/claude-3-5-haiku-latest
    gemini/gemini-2.0-flash
"""

# The app the examples test. Outputs differ between the "recorded" version (the one baselines were
# recorded from) and the current one, so a baseline example really asks the jury to compare.
APP_STUBS = '''
"""Stand-ins for the application functions the documentation's examples call."""
import os

__all__ = [
    "ARTICLE", "DISCLAIMER", "NEW_PROMPT", "OLD_PROMPT", "draft_reply", "greeting", "headline",
    "keywords", "new_answer", "old_answer", "question", "summarise", "support_bot",
]

ARTICLE = "A study of 2,000 adults found that walking 30 minutes a day lowered blood pressure."
DISCLAIMER = "This reply is not legal advice."
NEW_PROMPT = "Summarise the article in one sentence."
OLD_PROMPT = "Summarise the article."
question = "Can I get a refund after 40 days?"
new_answer = "Refunds are possible within 30 days of purchase, so not after 40 days. Sorry!"
old_answer = "No refunds after 30 days."


def _recorded():
    return os.environ.get("DOCS_APP_VERSION") == "recorded"


def support_bot(question):
    if _recorded():
        return "Refunds are possible within 30 days of purchase."
    return "Refunds are possible within 30 days of purchase. Sorry for the trouble!"


def summarise(text, prompt=None):
    if _recorded() or prompt == OLD_PROMPT:
        return "Walking 30 minutes a day lowered blood pressure in a study of 2,000 adults."
    return "In a study of 2,000 adults, a daily 30-minute walk lowered blood pressure."


def headline(text):
    return "Walking lowers blood pressure" if _recorded() else "Daily walks lower blood pressure"


def keywords(text):
    return "walking, blood pressure" if _recorded() else "walking, blood pressure, study"


def draft_reply():
    return "Thanks for your message. " + DISCLAIMER


def greeting():
    return "Hello! How can I help you today?"
'''

# Makes the stubs and `pytest` importable-free, and records each test's outcome and time window
# (the fake server's request log is split between the blocks by those windows).
PAGE_CONFTEST = """
import builtins, json, os, sys, time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import myapp

for _name in myapp.__all__:
    setattr(builtins, _name, getattr(myapp, _name))
builtins.pytest = pytest

_RESULTS = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = time.time()
    try:
        return (yield)
    finally:
        _RESULTS.setdefault(item.nodeid, {"outcome": "passed"})["window"] = [start, time.time()]


def pytest_runtest_logreport(report):
    entry = _RESULTS.setdefault(report.nodeid, {"outcome": "passed"})
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            entry["outcome"] = "xfailed" if report.skipped else "xpassed"
        elif entry["outcome"] == "passed":
            entry["outcome"] = report.outcome
    elif report.failed:
        entry["outcome"] = "error"
    elif report.skipped:
        entry["outcome"] = "skipped"


def pytest_sessionfinish(session):
    path = os.environ.get("DOCS_TEST_RESULTS")
    if path:
        with open(path, "w") as f:
            json.dump(_RESULTS, f)
"""


# -- parsing ------------------------------------------------------------------------------------


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    marks: list[str] = field(default_factory=list)
    skip: str | None = None
    not_code: bool = False
    file: str | None = None
    expect: str = "passed"
    errors: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def kind(self) -> str:
        if self.skip is not None or self.not_code:
            return "not run"
        if self.file is not None:
            return "file"
        if self.lang in PYTHON:
            return "python"
        if self.lang in SHELL:
            return "shell"
        if self.lang in CONFIG:
            return "config"
        if self.lang in {"yaml", "yml"}:
            return "yaml"
        if self.lang == "json":
            return "json"
        if self.lang in SAMPLE:
            return "sample"
        return "unknown"

    def apply_marks(self) -> None:
        for mark in self.marks:
            if mark.startswith("skip"):
                reason = mark[len("skip") :].lstrip(":").strip()
                if not reason or not mark[len("skip") :].lstrip().startswith(":"):
                    self.errors.append(
                        f"a skip mark needs a reason: <!-- docs-test: skip: <reason> -->, got {mark!r}"
                    )
                self.skip = reason
            elif mark == "not-code":
                self.not_code = True
            elif mark.startswith("file "):
                self.file = mark[len("file ") :].strip()
            elif mark in ("expect failed", "expect passed"):
                self.expect = mark.split()[1]
            else:
                self.errors.append(f"unknown mark {mark!r}; the marks are {MARK_HELP}")


def parse_page(page: str, text: str) -> tuple[list[Block], list[str]]:
    """The fenced code blocks of a page, with their marks, and the page's misplaced marks."""
    lines = text.split("\n")
    blocks: list[Block] = []
    problems: list[str] = []
    pending: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        mark = _MARK.match(line)
        fence = _FENCE.match(line)
        if mark:
            pending.append((i + 1, mark.group("text").strip()))
        elif fence:
            indent, ticks = fence.group("indent"), fence.group("fence")
            info = fence.group("info").strip()
            end = i + 1
            while end < len(lines) and not re.fullmatch(
                rf"[ \t]*{re.escape(ticks[0])}{{{len(ticks)},}}[ \t]*", lines[end]
            ):
                end += 1
            body = [b[len(indent) :] if b.startswith(indent) else b.lstrip() for b in lines[i + 1 : end]]
            block = Block(page, i + 1, info.split()[0].lower() if info else "", "\n".join(body) + "\n")
            block.marks = [m for _, m in pending]
            block.apply_marks()
            blocks.append(block)
            pending = []
            i = end
        else:
            if _ANY_MARK.search(line):
                problems.append(f"{page}:{i + 1}: a docs-test mark must be a whole line: {line.strip()!r}")
            for number, text_ in pending:
                problems.append(f"{page}:{number}: mark {text_!r} is not right before a code fence")
            pending = []
        i += 1
    for number, text_ in pending:
        problems.append(f"{page}:{number}: mark {text_!r} is not right before a code fence")
    return blocks, problems


def page_blocks(page: str) -> list[Block]:
    return parse_page(page, (ROOT / page).read_text(encoding="utf-8"))[0]


def _params() -> Iterator[object]:
    for page in PAGES:
        for block in page_blocks(page):
            if block.kind == "sample" and not block.errors:
                continue
            yield pytest.param(block, id=block.id, marks=pytest.mark.xdist_group(f"docs:{page}"))


# -- what a block does ---------------------------------------------------------------------------


def module_source(block: Block) -> str:
    """The test module a python block becomes: itself, or a snippet wrapped in a test."""
    if _DEFINES_TESTS.search(block.code):
        return block.code
    return "def test_snippet(jury):\n" + textwrap.indent(block.code, "    ") + "\n"


def python_problem(block: Block) -> str | None:
    try:
        ast.parse(module_source(block))
    except SyntaxError as exc:
        return (
            f"{block.id}: this python block doesn't compile as a test module or a test body ({exc.msg}, "
            f"line {exc.lineno}). If it is a signature or an excerpt, add <!-- docs-test: not-code --> "
            "right before the fence."
        )
    return None


@dataclass
class Command:
    line: str
    argv: list[str]
    env: dict[str, str]
    expected: list[str]


def parse_commands(block: Block) -> tuple[list[Command], list[str]]:
    """The commands of a shell block, with their expected output, and the ones that can't run here."""
    lines = block.code.rstrip("\n").split("\n")
    prompted = any(line.startswith("$ ") for line in lines)
    raw: list[tuple[str, list[str]]] = []
    joined = ""
    for line in lines:
        if joined:
            joined = joined[:-1] + " " + line.strip()
        elif prompted and line.startswith("$ "):
            joined = line[2:]
        elif prompted:
            if raw:
                raw[-1][1].append(line)
            continue
        elif line.strip() and not line.lstrip().startswith("#"):
            joined = line
        if joined and not joined.rstrip().endswith("\\"):
            raw.append((joined, []))
            joined = ""
    commands: list[Command] = []
    problems: list[str] = []
    for line, output in raw:
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            problems.append(f"`{line}` can't be parsed ({exc})")
            continue
        env: dict[str, str] = {}
        while words and _ENV_ASSIGNMENT.match(words[0]) and len(words) > 1:
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        program = " ".join(words[:3] if words[:1] == ["python"] else words[:1])
        runnable = (
            words[:1] in (["pytest"], ["llmonpy"], ["export"])
            or words[:3] in (["python", "-m", "pytest"], ["python", "-m", "pytest_llmonpy"])
            or words[:2] == ["python", "-c"]
        )
        if _SHELL_SYNTAX.search(line.split(" #")[0]) and words[:2] != ["python", "-c"]:
            problems.append(f"`{line}` needs a shell (pipes, substitutions or redirections)")
        elif not runnable:
            problems.append(f"`{program or line}` can't run offline in the docs test (`{line}`)")
        else:
            expected = [o for o in output if o.strip() and o.strip() != "..."]
            commands.append(Command(line, words, env, expected))
    return commands, problems


def normalise(line: str) -> str:
    line = _NUMBER.sub("N", line)
    line = re.sub(r"={3,}", "===", line)
    return " ".join(line.split())


def missing_output(expected: list[str], output: str) -> str | None:
    """The first expected line not found, in order, in the output (None when all are there)."""
    actual = [normalise(line) for line in output.splitlines()]
    position = 0
    for line in expected:
        want = normalise(line)
        while position < len(actual) and actual[position] != want:
            position += 1
        if position == len(actual):
            return line
        position += 1
    return None


# -- running a page ------------------------------------------------------------------------------


@dataclass
class BlockResult:
    problems: list[str] = field(default_factory=list)
    requests: int = 0
    outcomes: dict[str, str] = field(default_factory=dict)


@dataclass
class PageRun:
    results: dict[int, BlockResult] = field(default_factory=dict)


class PageRunner:
    """Runs a page's python and shell blocks in order, in one pytester directory."""

    def __init__(
        self, page: str, pytester: pytest.Pytester, server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.page = page
        self.pytester = pytester
        self.server = server
        self.monkeypatch = monkeypatch
        self.run = PageRun()
        self.modules: dict[int, str] = {}

    def base_args(self) -> list[str]:
        return [*INNER_ARGS, f"--jury-api-base={self.server.url}"]

    def execute(self, blocks: list[Block]) -> PageRun:
        path = self.pytester.path
        (path / "myapp.py").write_text(APP_STUBS)
        (path / "conftest.py").write_text(PAGE_CONFTEST)
        (path / "test_docs_trivial.py").write_text("def test_trivial():\n    pass\n")
        files = [b for b in blocks if b.kind == "file"]
        for block in files:
            assert block.file is not None
            target = path / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code)
        if not any(Path(b.file or "").name in _CONFIG_FILES for b in files):
            (path / "pytest.ini").write_text(DEFAULT_INI)
        group: list[Block] = []
        for block in blocks:
            if block.kind == "python" and not block.errors and python_problem(block) is None:
                self.write_module(block)
                group.append(block)
            elif block.kind == "shell" and not block.errors and not parse_commands(block)[1]:
                self.run_group(group)
                group = []
                self.run_shell(block)
        self.run_group(group)
        return self.run

    def write_module(self, block: Block) -> None:
        first = block.code.split("\n", 1)[0]
        named = _NAMED_MODULE.match(first)
        relative = named.group("path") if named else f"test_docs_{block.line}.py"
        if relative in self.modules.values() or (self.pytester.path / relative).exists():
            relative = f"test_docs_{block.line}.py"
        target = self.pytester.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(module_source(block))
        self.modules[block.line] = relative

    def pytest(self, *args: str, env: dict[str, str] | None = None) -> pytest.RunResult:
        # With the plugin disabled (`-p no:llmonpy`), pytest rejects --jury-api-base like any --jury-* flag.
        base = INNER_ARGS if "no:llmonpy" in args else self.base_args()
        args = tuple(at_most_two_workers(list(args)))
        with self.monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            # In this process, judges through litellm's real HTTP path (imported once per worker).
            return inprocess_run(self.pytester, list(base), args)

    def run_group(self, group: list[Block]) -> None:
        if not group:
            return
        paths = [self.modules[b.line] for b in group]
        baseline = [self.modules[b.line] for b in group if "llm_baseline" in b.code and b.expect == "passed"]
        if baseline:
            recorded = self.pytest("--jury-baseline-update", *baseline, env={"DOCS_APP_VERSION": "recorded"})
            if recorded.ret != 0:
                for block in group:
                    self.result(block).problems.append(
                        "recording the page's baselines (--jury-baseline-update) failed:\n" + _text(recorded)
                    )
                return
        results_file = self.pytester.path / ".docs_results.json"
        results_file.unlink(missing_ok=True)
        first_request = len(self.server.calls(status=None))
        # refresh: every jury call of the blocks reaches the fake server, whatever is cached already.
        ran = self.pytest("--jury-mode=refresh", *paths, env={"DOCS_TEST_RESULTS": str(results_file)})
        requests = self.server.calls(status=None)[first_request:]
        recorded_results: dict[str, dict[str, Any]] = (
            json.loads(results_file.read_text()) if results_file.exists() else {}
        )
        for block in group:
            result = self.result(block)
            module = self.modules[block.line]
            mine = {k: v for k, v in recorded_results.items() if k.split("::")[0] == module}
            result.outcomes = {k: str(v["outcome"]) for k, v in mine.items()}
            windows = [(float(v["window"][0]), float(v["window"][1])) for v in mine.values() if "window" in v]
            result.requests = len(
                [r for r in requests if any(start <= r.at <= stop for start, stop in windows)]
            )
            if not mine:
                result.problems.append(f"no test of {module} ran (a collection error?):\n" + _text(ran))
                continue
            wanted = {"passed"} if block.expect == "passed" else {"failed"}
            wrong = {k: v for k, v in result.outcomes.items() if v not in wanted}
            if wrong:
                result.problems.append(
                    f"expected every test of this block to be {block.expect}, got {wrong}; the run:\n"
                    + _text(ran)
                )
            elif block.expect == "passed" and _JURY_CALL.search(block.code) and result.requests == 0:
                result.problems.append(
                    "this block calls the jury, but the fake judge server got no request; the run:\n"
                    + _text(ran)
                )
        if ran.ret != 0 and all(block.expect == "passed" for block in group):
            # Every test passed, yet the run failed: a group gate, the budget, a report not written.
            for block in group:
                self.result(block).problems.append(f"the page's run exited {ran.ret}:\n" + _text(ran))

    def run_shell(self, block: Block) -> None:
        result = self.result(block)
        commands, _ = parse_commands(block)
        for command in commands:
            words = command.argv
            if words[0] == "export":
                for assignment in words[1:]:
                    name, _, value = assignment.partition("=")
                    self.monkeypatch.setenv(name, value)
                continue
            if words[0] == "pytest" or words[:3] == ["python", "-m", "pytest"]:
                args = words[1:] if words[0] == "pytest" else words[3:]
                ran = self.pytest(*args, env=command.env)
                code, output, wanted = ran.ret, _text(ran), 1 if block.expect == "failed" else 0
            else:
                if words[0] == "llmonpy":
                    argv = [sys.executable, "-m", "pytest_llmonpy", *words[1:]]
                else:
                    argv = [sys.executable, *words[1:]]
                done = subprocess.run(
                    argv,
                    cwd=self.pytester.path,
                    env={**os.environ, **command.env},
                    capture_output=True,
                    text=True,
                    timeout=240,
                    check=False,
                )
                code, output, wanted = done.returncode, done.stdout + done.stderr, 0
            if int(code) != wanted:
                result.problems.append(f"`{command.line}` exited {int(code)}, expected {wanted}:\n{output}")
                continue
            missing = missing_output(command.expected, output)
            if missing is not None:
                result.problems.append(
                    f"`{command.line}`: the documented output line\n    {missing}\n"
                    f"is not in the real output (numbers and spacing aside):\n{output}"
                )

    def result(self, block: Block) -> BlockResult:
        return self.run.results.setdefault(block.line, BlockResult())


def at_most_two_workers(args: list[str]) -> list[str]:
    """`-n 4` (or `-n4`, `--numprocesses=4`) as `-n 2`: each worker is a new interpreter."""
    out: list[str] = []
    for index, arg in enumerate(args):
        previous = args[index - 1] if index else ""
        if previous in ("-n", "--numprocesses") and arg.isdigit():
            out.append(str(min(int(arg), 2)))
        elif re.fullmatch(r"(-n|--numprocesses=)\d+", arg):
            number = int(re.sub(r"\D", "", arg))
            out.append(re.sub(r"\d+$", str(min(number, 2)), arg))
        else:
            out.append(arg)
    return out


def _text(result: pytest.RunResult) -> str:
    return "\n".join([*result.outlines, *result.errlines])


# -- fixtures ------------------------------------------------------------------------------------


@dataclass
class PluginNames:
    flags: set[str]
    ini_keys: set[str]
    other_names: set[str]


# `pytest --help`, then `pytest --fixtures` on docs/ (which holds no test), in one interpreter: the
# names as a user's pytest lists them with the plugin loaded, for the cost of one start-up.
_LISTINGS = """
import sys
import pytest

pytest.main(["--help", "-p", "no:randomly"])
print("\\n=== fixtures ===", flush=True)
pytest.main(["--fixtures", "-p", "no:randomly", "-q", sys.argv[1]])
"""


@pytest.fixture(scope="session")
def plugin_names(tmp_path_factory: pytest.TempPathFactory) -> PluginNames:
    """The plugin's flags, ini keys and fixtures, as `pytest --help` and `--fixtures` list them."""
    from pytest_llmonpy.report import junit_properties

    done = subprocess.run(
        [sys.executable, "-c", _LISTINGS, str(ROOT / "docs")],
        cwd=tmp_path_factory.mktemp("help"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    help_text, _, fixtures_text = done.stdout.partition("\n=== fixtures ===\n")
    flags = set(_FLAG.findall(help_text))
    ini_keys = set(re.findall(r"^  (jury_\w+) \(", help_text, re.MULTILINE))
    assert "--jury-judges" in flags, done.stdout
    assert "jury_judges" in ini_keys, done.stdout
    # Names of the JUnit XML properties the plugin writes, and of its fixtures: documented, not ini keys.
    fixtures = re.findall(r"^(jury_\w+)(?: \[\w+ scope\])? -- ", fixtures_text, re.MULTILINE)
    assert "jury_config" in fixtures, done.stdout
    return PluginNames(flags, ini_keys, {name for name, _ in junit_properties({})} | set(fixtures))


@pytest.fixture(scope="session")
def page_runs() -> dict[str, PageRun]:
    """Each page's run, made once per process by the first of its blocks that needs it."""
    return {}


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("block", list(_params()))
def test_docs_block(
    block: Block,
    pytester: pytest.Pytester,
    llm_server: FakeLLMServer,
    judge_env: None,
    monkeypatch: pytest.MonkeyPatch,
    page_runs: dict[str, PageRun],
    plugin_names: PluginNames,
    litellm_in_this_process: None,
) -> None:
    assert not block.errors, "\n".join(block.errors)
    kind = block.kind
    if kind == "not run":
        pytest.skip(f"docs-test: {block.skip}" if block.skip is not None else "docs-test: not-code")
    if kind == "unknown":
        pytest.fail(
            f"{block.id}: a ```{block.lang or '(no language)'} block isn't run by the docs test: add "
            f"<!-- docs-test: not-code --> (a sample) or <!-- docs-test: skip: <reason> --> right before "
            "the fence"
        )
    if kind in ("config", "file") and block.lang in CONFIG:
        unknown = sorted(set(_CONFIG_KEY.findall(block.code)) - plugin_names.ini_keys)
        assert not unknown, f"{block.id}: not ini keys of the plugin: {unknown}"
    if kind == "file":
        return  # used by the page's run; a bad value fails the blocks that run with it
    if kind == "config":
        check_config(block, pytester)
    elif kind == "yaml":
        yaml.safe_load(block.code)
    elif kind == "json":
        json.loads(block.code)
    elif kind == "python":
        problem = python_problem(block)
        assert problem is None, problem
        run_and_check(block, pytester, llm_server, monkeypatch, page_runs)
    elif kind == "shell":
        _, problems = parse_commands(block)
        assert not problems, (
            f"{block.id}: " + "; ".join(problems) + ". Add <!-- docs-test: skip: <reason> --> right before "
            "the fence (for example: installs packages, needs an API key, runs the full suite)."
        )
        run_and_check(block, pytester, llm_server, monkeypatch, page_runs)


def run_and_check(
    block: Block,
    pytester: pytest.Pytester,
    server: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    page_runs: dict[str, PageRun],
) -> None:
    if block.page not in page_runs:
        runner = PageRunner(block.page, pytester, server, monkeypatch)
        page_runs[block.page] = runner.execute(page_blocks(block.page))
    result = page_runs[block.page].results.get(block.line)
    assert result is not None, f"{block.id} was not run with its page"
    assert not result.problems, f"{block.id}: " + "\n".join(result.problems)


def check_config(block: Block, pytester: pytest.Pytester) -> None:
    if block.lang == "toml":
        assert "[tool.pytest.ini_options]" in block.code, f"{block.id}: no [tool.pytest.ini_options] table"
        (pytester.path / "pyproject.toml").write_text(block.code)
    else:
        assert re.search(r"^\[(pytest|tool:pytest)\]", block.code, re.MULTILINE), f"{block.id}: no [pytest]"
        name = "pytest.ini" if "[pytest]" in block.code else "setup.cfg"
        (pytester.path / name).write_text(block.code)
    pytester.makepyfile(test_trivial="def test_trivial():\n    pass\n")
    result = inprocess_run(pytester, INNER_ARGS, ())
    assert result.ret == 0, f"{block.id}: pytest doesn't start with this configuration:\n" + _text(result)
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("page", PAGES)
def test_docs_names_exist(page: str, plugin_names: PluginNames) -> None:
    """Every --jury-* flag and jury_* key a page names, in prose or code, is one the plugin has."""
    text = (ROOT / page).read_text(encoding="utf-8")
    _, problems = parse_page(page, text)
    flags = set(_FLAG.findall(text)) - plugin_names.flags
    keys = set(_INI_NAME.findall(text)) - plugin_names.ini_keys - plugin_names.other_names
    if flags:
        problems.append(f"{page} names flags pytest doesn't know: {sorted(flags)}")
    if keys:
        problems.append(f"{page} names ini keys the plugin doesn't register: {sorted(keys)}")
    assert not problems, "\n".join(problems)


# -- the parser's own tests ----------------------------------------------------------------------


def test_marks_are_parsed_and_checked() -> None:
    text = textwrap.dedent(
        """\
        Intro.

        <!-- docs-test: skip: installs packages -->
        ```console
        $ pip install x
        ```

        <!-- docs-test: skip -->
        ```console
        $ pip install y
        ```

        <!-- docs-test: nonsense -->
        ```python
        x = 1
        ```

        <!-- docs-test: not-code -->

        ```diff
        - a
        ```
        """
    )
    blocks, problems = parse_page("p.md", text)
    assert [(b.line, b.lang, b.kind) for b in blocks] == [
        (4, "console", "not run"),
        (9, "console", "not run"),
        (14, "python", "python"),
        (20, "diff", "unknown"),
    ]
    assert blocks[0].skip == "installs packages"
    assert not blocks[0].errors
    assert "needs a reason" in blocks[1].errors[0]
    assert "unknown mark 'nonsense'" in blocks[2].errors[0]
    assert problems == ["p.md:18: mark 'not-code' is not right before a code fence"]


def test_shell_commands_and_their_output() -> None:
    block = Block(
        "p.md",
        1,
        "console",
        "$ pytest --jury-mode=replay \\\n    -q\n...\nverdicts: 1 passed\n"
        "$ pip install x\n$ llmonpy cache stats\n",
    )
    commands, problems = parse_commands(block)
    assert [c.argv for c in commands] == [
        ["pytest", "--jury-mode=replay", "-q"],
        ["llmonpy", "cache", "stats"],
    ]
    assert commands[0].expected == ["verdicts: 1 passed"]
    assert problems == ["`pip` can't run offline in the docs test (`pip install x`)"]
    unprompted = Block("p.md", 1, "console", "bash scripts/check.sh\nFOO=1 pytest -x  # a comment\n")
    commands, problems = parse_commands(unprompted)
    assert [(c.argv, c.env) for c in commands] == [(["pytest", "-x"], {"FOO": "1"})]
    assert problems == ["`bash` can't run offline in the docs test (`bash scripts/check.sh`)"]


def test_worker_counts_above_two_run_with_two() -> None:
    assert at_most_two_workers(["-n", "4", "-q", "-n4", "--numprocesses=8", "-n", "1"]) == [
        "-n",
        "2",
        "-q",
        "-n2",
        "--numprocesses=2",
        "-n",
        "1",
    ]
    assert at_most_two_workers(["-k", "4", "--jury-max-cost=0.50"]) == ["-k", "4", "--jury-max-cost=0.50"]


def test_expected_output_is_matched_in_order_numbers_aside() -> None:
    output = "== llm jury summary ==\nverdicts: 3 passed, 0 failed\njudge calls: 6 live, 0 cached\n"
    assert missing_output(["verdicts: 1 passed, 2 failed", "judge calls: 0 live, 0 cached"], output) is None
    out_of_order = ["judge calls: 0 live", "verdicts: 3 passed, 0 failed"]
    assert missing_output(out_of_order, output) == "judge calls: 0 live"
    assert missing_output(["judge calls: 6 live, 0 cached (0% from cache)"], output) is not None
