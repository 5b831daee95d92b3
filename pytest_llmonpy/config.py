"""Jury configuration: every flag, ini key and marker argument, defined once, parsed and validated.

`OPTIONS` is the one table of settings; the pytest wiring registers flags and ini keys from it, and the
`@pytest.mark.jury` arguments and `jury_config` keys are derived from it. Precedence, one rule for every
setting: the most specific place wins (marker > jury_config fixture > command line > ini > default).

No pytest import, and nothing heavy (no pydantic, diskcache or litellm): pytest imports this module at
start-up even for a run that never asks a jury. Every error is a ValueError whose message says what to type.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pytest_llmonpy.fleet_settings import (
    REDIS_PASSWORD_ENV,
    SharedStoreSettings,
    parse_cache_url,
    parse_duration,
    parse_name,
    rootdir_namespace,
)
from pytest_llmonpy.money import Cost, parse_usd, typed_usd
from pytest_llmonpy.quorum import Quorum

if TYPE_CHECKING:
    from pytest_llmonpy.ratelimit import Rate

DEFAULT_CONCURRENCY = 16
DEFAULT_TIMEOUT_S = 60.0
STRATEGIES = ("parallel", "frugal")
MODES = ("record", "replay", "refresh", "off")
DEFAULT_MODE = "record"
# What a comparison decided only by judges that followed the position does: count as a tie, or hang.
INCONCLUSIVE_POLICIES = ("tie", "hung")
DEFAULT_CACHE_DIR = ".llmonpy"
REDIS_MISSING = (
    "jury_cache_url needs the Redis client library, which is not installed: pip install redis "
    "(or install the plugin with its redis extra)"
)
# --jury-samples: at most this many answers per judge per check (each is a paid call).
MAX_JUDGE_SAMPLES = 19
# Where human labels live (see labels.py), named here so --help can say it without importing them.
LABELS_DIR = "__llm_labels__"

MAJORITY = Quorum("majority")

NO_JUDGES_HELP = (
    "no judges configured: set them with --jury-judges=openai/gpt-4o-mini,anthropic/claude-3-5-haiku-latest, "
    "the ini key 'jury_judges', or @pytest.mark.jury(judges=[...])"
)
PRECEDENCE = "marker > jury_config fixture > command line > ini > default"


# ---- parsers: each takes what a user typed (flag or ini text, or a marker value) ----


def parse_judges(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Judge names separated by commas and/or whitespace (one per line in ini), or a list of names."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[object] = [value]
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        raise ValueError(f"judges must be a list of model names or one string, got {value!r}")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"judge names must be strings, got {item!r}")
        names.extend(part for part in re.split(r"[,\s]+", item) if part)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"judge(s) listed twice: {', '.join(duplicates)}; list each judge once")
    return tuple(names)


def _one_of(value: object, allowed: tuple[str, ...], problem: str) -> str:
    """`value` case- and space-insensitively, when it is one of `allowed`; else ValueError(problem)."""
    choice = value.strip().lower() if isinstance(value, str) else value
    if choice not in allowed:
        raise ValueError(problem)
    return str(choice)


def parse_strategy(value: object) -> str:
    """One of STRATEGIES; the error lists them."""
    return _one_of(
        value,
        STRATEGIES,
        f"invalid jury strategy {value!r}: use parallel (ask every judge at once) or frugal (ask only "
        "as many judges as the quorum still needs)",
    )


def parse_inconclusive(value: object) -> str:
    """One of INCONCLUSIVE_POLICIES; the error lists them."""
    return _one_of(
        value,
        INCONCLUSIVE_POLICIES,
        f"invalid inconclusive policy {value!r}: use tie (count a comparison decided only by judges "
        "that followed the position as a tie, reported as inconclusive) or hung (raise HungJuryError)",
    )


def parse_mode(value: object) -> str:
    """One of MODES; the error lists them all."""
    return _one_of(
        value,
        MODES,
        f"invalid jury mode {value!r}: use one of {', '.join(MODES)} "
        "(record: use cached verdicts and record misses; replay: cached verdicts only; "
        "refresh: ask again and overwrite; off: no cache)",
    )


def parse_quorum(value: str | int | float) -> Quorum:
    return Quorum.parse(value)


def parse_positive_int(name: str, value: str | int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return number


def parse_samples(value: str | int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_JUDGE_SAMPLES or number % 2 == 0:
        # Odd, so a judge's answers always have a majority: an even split of cached answers would
        # leave its vote undecided on every later run.
        raise ValueError(
            f"jury_samples must be an odd whole number from 1 to {MAX_JUDGE_SAMPLES} (answers per judge "
            f"per check, odd so that they have a majority; 1 asks each judge once), such as 3, got {value!r}"
        )
    return number


def parse_examples(value: str | int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if number < 0:
        raise ValueError(f"jury_examples must be a whole number of at least 0, such as 4, got {value!r}")
    return number


def parse_group(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 100:
        raise ValueError(f"jury_group must be a group name such as 'faq', got {value!r}")
    return value.strip()


def parse_min_pass_rate(value: str | float | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if not 0.0 < number < 1.0:
        raise ValueError(f"jury_min_pass_rate must be a rate above 0 and below 1, such as 0.9, got {value!r}")
    return number


def parse_positive_float(name: str, value: str | float) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds greater than 0, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise ValueError(f"{name} must be a number of seconds greater than 0, got {value!r}")
    return number


def parse_kappa(value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        number = float("nan")
    if not -1.0 <= number <= 1.0:
        raise ValueError(f"jury_min_kappa must be a kappa between -1 and 1, such as 0.6, got {value!r}")
    return number


def parse_api_base(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    url = value.strip()
    if not re.match(r"^https?://[^\s/]+", url):
        raise ValueError(f"jury_api_base must be an http:// or https:// URL, got {value!r}")
    return url.rstrip("/")


def parse_budget(value: str | None) -> Cost | None:
    if value is None or not value.strip():
        return None
    try:
        budget = parse_usd(value)
    except ValueError:
        raise ValueError(f"jury_max_cost must be an amount in USD such as 0.50, got {value!r}") from None
    if budget.nano < 0:
        raise ValueError(f"jury_max_cost must be an amount in USD of at least 0, got {value!r}")
    return budget


def parse_rate_limits(text: str) -> dict[str, Rate]:
    # The rate limiter (and diskcache) is imported only by a run that sets limits.
    from pytest_llmonpy.ratelimit import parse_rate_limits as parse

    return dict(parse(text))


def parse_text(value: str) -> str:
    return value.strip()


# ---- the table of settings ----


class Option(NamedTuple):
    """One setting: its ini key (`jury_x`, also the flag `--jury-x` and the option's dest), how to
    parse it, and where it goes: a JurySettings `field` (per test), or run-wide when `field` is None.

    A NamedTuple, not a dataclass: this table is built when pytest starts, in every run, and a
    dataclass costs a millisecond to define."""

    name: str
    help: str
    parse: Callable[[Any], Any] | None = None
    field: str | None = None
    marker: str | None = None  # the @pytest.mark.jury argument and jury_config key, when per test
    ini: Literal["string", "linelist"] | None = "string"  # None: a flag only, with no ini key

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option(
        "jury_judges",
        "litellm model names of the default jury, separated by commas and/or whitespace",
        parse_judges,
        field="judges",
        marker="judges",
        ini="linelist",  # a TOML list in pyproject.toml, or one name per line in an ini file
    ),
    Option(
        "jury_quorum",
        "'majority' (default), 'unanimous', an integer N, or a fraction such as 0.66",
        parse_quorum,
        field="quorum",
        marker="quorum",
    ),
    Option(
        "jury_concurrency",
        f"judge calls in flight per process (default {DEFAULT_CONCURRENCY})",
        lambda value: parse_positive_int("jury_concurrency", value),
        field="concurrency",
    ),
    Option(
        "jury_timeout",
        f"seconds per judge call, retries included (default {DEFAULT_TIMEOUT_S:g})",
        lambda value: parse_positive_float("jury_timeout", value),
        field="timeout_s",
    ),
    Option(
        "jury_api_base",
        "OpenAI-compatible endpoint for all judges (a local server, a litellm proxy)",
        parse_api_base,
        field="api_base",
    ),
    Option(
        "jury_mode",
        "record (default): cached verdicts, ask on a miss and store; replay: cached verdicts only, a miss "
        "fails; refresh: ask again and overwrite; off: no cache",
        parse_mode,
        field="mode",
        marker="mode",
    ),
    Option("jury_cache_clear", "delete every cached verdict before the run", ini=None),
    Option(
        "jury_baseline_update",
        "record llm_baseline outputs as the new baselines, and remove baselines no test uses",
        ini=None,
    ),
    Option(
        "jury_cache_dir",
        f"where verdicts are cached, relative to the rootdir (default {DEFAULT_CACHE_DIR})",
        parse_text,
    ),
    Option(
        "jury_cache_url",
        f"share the verdict cache, rate limits and 429 pauses, and a --jury-budget-key budget through "
        f"Redis at this URL (redis://host:6379/0, rediss:// for TLS; the password from "
        f"${REDIS_PASSWORD_ENV}); the local cache stays, and takes over if Redis fails",
        parse_cache_url,
    ),
    Option(
        "jury_cache_namespace",
        "the prefix of this project's Redis keys, llmonpy:<namespace>:... (default: the rootdir's name)",
        lambda value: parse_name("jury_cache_namespace", value),
    ),
    Option(
        "jury_cache_ttl",
        "how long Redis keeps a verdict after it is recorded, such as 30d or 12h (default: forever)",
        lambda value: parse_duration("jury_cache_ttl", value),
    ),
    Option(
        "jury_max_cost",
        "run-wide judging budget in USD, shared by all xdist workers (default: none)",
        parse_budget,
    ),
    Option(
        "jury_budget_key",
        "share the jury_max_cost budget through Redis (jury_cache_url) with every run given the same "
        "key, such as the CI pipeline's id",
        lambda value: parse_name("jury_budget_key", value),
    ),
    Option("jury_report", "write a JSON report of every verdict, vote and cost to this path", parse_text),
    Option(
        "jury_html",
        "write a self-contained HTML report of the run (verdicts by judge, costs, comparisons, baselines) "
        "to this path",
        parse_text,
    ),
    Option(
        "jury_strategy",
        "parallel (default): ask every judge at once; frugal: ask the fewest judges that can decide the "
        "quorum, and more only while the outcome is open",
        parse_strategy,
        field="strategy",
        marker="strategy",
    ),
    Option(
        "jury_escalation",
        "judges asked when the jury is split or hung; their quorum decides (default: none)",
        parse_judges,
        field="escalation",
        marker="escalate_to",
        ini="linelist",
    ),
    Option(
        "jury_inconclusive",
        "tie (default): a comparison decided only by judges that followed the position is a tie, reported "
        "as inconclusive; hung: it raises HungJuryError",
        parse_inconclusive,
        field="inconclusive",
        marker="inconclusive",
    ),
    Option(
        "jury_export",
        "write every verdict and comparison of the run, with each judge's vote and reason, as JSON Lines "
        "to this path (for review, or as preference data)",
        parse_text,
    ),
    Option(
        "jury_label_disagreements",
        f"write the checks and comparisons the jury was split or hung on to this path, as unlabelled "
        f"cases in the {LABELS_DIR} format, for a person to label",
        parse_text,
    ),
    Option(
        "jury_examples",
        f"show each judge up to N human-labelled cases from {LABELS_DIR}/ with the same criteria as "
        "worked examples (default 0: none); they are part of each verdict's cache key",
        parse_examples,
        field="examples",
        marker="examples",
    ),
    Option(
        "jury_samples",
        "ask each judge K times about each check or score (temperature above 0, one seed each), take "
        "its majority, and report how often each judge agrees with itself (default 1)",
        parse_samples,
        field="samples",
    ),
    Option(
        "jury_estimate",
        "call no judge: run the suite with every judge call that would be live counted and priced instead "
        "(cache misses per judge model, tokens by litellm's tokenizer, cost by its prices), and report "
        "what a real run would cost",
        ini=None,
    ),
    Option(
        "jury_calibrate",
        f"instead of running tests, measure each judge and the jury against the human labels in "
        f"{LABELS_DIR}/ directories under the given paths (default: the rootdir)",
        ini=None,
    ),
    Option(
        "jury_min_kappa",
        "with --jury-calibrate: fail the run when the jury's Cohen's kappa is below this, e.g. 0.6",
        parse_kappa,
    ),
    Option(
        "jury_calibration_report",
        "with --jury-calibrate: also write the measurement as JSON to this path",
        parse_text,
    ),
    Option(
        "jury_group",
        "count the test in this group: its failed checks fail the group's pass-rate gate "
        "(jury_min_pass_rate) instead of the test; usually set per test or directory (marker group=, "
        "jury_config)",
        parse_group,
        field="group",
        marker="group",
    ),
    Option(
        "jury_min_pass_rate",
        "the pass rate a group of tests (jury_group) must be shown to reach, at 95 percent confidence, "
        "such as 0.9",
        parse_min_pass_rate,
        field="min_pass_rate",
        marker="min_pass_rate",
    ),
    Option(
        "jury_presets",
        "a TOML file of your own criteria presets ([presets.<name>] tables with criteria, version, "
        "needs), relative to the rootdir",
        parse_text,
    ),
    Option(
        "jury_rate_limits",
        "per-model request limits shared by all workers and runs on this machine, e.g. "
        "'openai/gpt-4o-mini=500/min, judge-a=10/s'",
        parse_rate_limits,
        ini="linelist",
    ),
)
BY_MARKER: dict[str, Option] = {option.marker: option for option in OPTIONS if option.marker}
MARKER_ARGUMENTS = tuple(BY_MARKER)


@dataclass(frozen=True)
class JurySettings:
    """Everything a jury needs to judge; markers and jury_config may change the per-test ones."""

    judges: tuple[str, ...] = ()
    quorum: Quorum = MAJORITY
    concurrency: int = DEFAULT_CONCURRENCY
    timeout_s: float = DEFAULT_TIMEOUT_S
    api_base: str | None = None
    mode: str = DEFAULT_MODE
    strategy: str = "parallel"  # frugal: ask only as many judges as the quorum still needs
    escalation: tuple[str, ...] = ()  # judges that decide when the jury is split or hung
    inconclusive: str = "tie"  # jury_inconclusive: one of INCONCLUSIVE_POLICIES
    examples: int = 0  # jury_examples: labelled cases of the same criteria shown to each judge
    group: str | None = None  # jury_group: the test's failed checks count against this group's gate
    min_pass_rate: float | None = None  # jury_min_pass_rate: what the group must be shown to reach
    samples: int = 1  # jury_samples: answers per judge per check or score, combined by majority

    def with_marker(self, kwargs: Mapping[str, Any]) -> JurySettings:
        """Apply `@pytest.mark.jury(...)` arguments (or `jury_config` keys), already known to be valid
        names; a bad value raises ValueError."""
        changes = {BY_MARKER[key].field: _parse(BY_MARKER[key], value) for key, value in kwargs.items()}
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def overridden(self, layers: Iterable[Mapping[str, Any]]) -> JurySettings:
        """These (run-wide) settings with per-test `layers` applied in order, the last winning."""
        settings = self
        for layer in layers:
            settings = settings.with_marker(layer)
        return settings


def _parse(option: Option, value: Any) -> Any:
    assert option.parse is not None
    return option.parse(value)


class RunOptions(NamedTuple):
    """Run-wide options (not overridable per test). A NamedTuple for the same reason as Option."""

    cache_root: Path
    rootdir: Path | None = None  # where the search for human labels stops going up
    max_cost: Cost | None = None
    report_path: Path | None = None
    run_id: str = "local"
    is_worker: bool = False
    baseline_update: bool = False  # --jury-baseline-update: record baselines instead of comparing
    cache_clear: bool = False
    rate_limits: Mapping[str, Rate] = MappingProxyType({})
    export_path: Path | None = None  # --jury-export: every verdict and comparison as JSON Lines
    disagreements_path: Path | None = None  # --jury-label-disagreements: split/hung cases to label
    html_path: Path | None = None  # --jury-html: the run as one self-contained HTML page
    calibrate: bool = False  # --jury-calibrate: measure the jury against human labels, run no test
    estimate: bool = False  # --jury-estimate: count and price the live calls instead of making them
    min_kappa: float | None = None
    calibration_report: Path | None = None
    presets: Mapping[str, Any] = MappingProxyType({})  # jury_presets: the file's presets, by name
    shared: SharedStoreSettings | None = None  # jury_cache_url: Redis, shared by a CI fleet
    budget_key: str | None = None  # jury_budget_key: the budget every run with this key draws on


# ---- reading flags and ini keys ----

Values = Callable[[str], "str | None"]


def build_settings(value: Values, *, check: bool = True) -> JurySettings:
    """Settings from `value(name)` (flag, else ini, else None); ValueError names the bad setting.

    With `check=False`, settings that parse but cannot judge together (see `settings_problem`) are
    returned anyway: the pytest wiring reports them at collection, once it knows whether markers of
    the collected tests override them."""
    changes: dict[str, Any] = {}
    for option in OPTIONS:
        raw = value(option.name) if option.field is not None else None
        if option.field is not None and raw is not None and raw.strip():
            changes[option.field] = parse_setting(option, raw)
    settings = JurySettings(**changes)
    problem = settings_problem(settings) if check else None
    if problem:
        raise ValueError(problem)
    return settings


def parse_setting(option: Option, raw: str) -> Any:
    """`raw` (flag or ini text) parsed; a ValueError says which setting it is about."""
    try:
        return _parse(option, raw)
    except ValueError as exc:
        message = str(exc)
        raise ValueError(
            message if message.startswith(option.name) else f"{option.name}: {message}"
        ) from None


def run_options(
    value: Values,
    *,
    rootdir: Path,
    invocation_dir: Path,
    run_id: str,
    is_worker: bool,
    switches: Mapping[str, bool],
) -> RunOptions:
    """The run-wide options; `switches` holds the flag-only options (jury_cache_clear...)."""
    by_name = {option.name: option for option in OPTIONS}

    def parsed(name: str) -> Any:
        raw = value(name)
        return parse_setting(by_name[name], raw) if raw is not None and raw.strip() else None

    report = parsed("jury_report")
    report_path = Path(invocation_dir, report) if report else None
    calibration = parsed("jury_calibration_report")
    outputs: dict[str, Path | None] = {}
    for name in ("jury_export", "jury_label_disagreements", "jury_html"):
        text = parsed(name)
        path = outputs[name] = Path(invocation_dir, text) if text else None
        if path is not None and not is_worker:
            check_report_path(path, name)
    if report_path is not None and not is_worker:
        check_report_path(report_path)
    if switches.get("jury_estimate") and switches.get("jury_calibrate"):
        raise ValueError(
            "--jury-estimate and --jury-calibrate can't be used together: calibration measures the judges' "
            "answers, and an estimate asks no judge. Run --jury-calibrate on its own."
        )
    shared, budget_key = _shared_store(parsed, rootdir)
    presets_file = parsed("jury_presets")
    presets: Mapping[str, Any] = {}
    if presets_file:
        from pytest_llmonpy.presets import read_presets_file

        presets = read_presets_file(Path(rootdir, presets_file))  # PresetError is a ValueError
    return RunOptions(
        presets=presets,
        cache_root=resolve_cache_dir(rootdir, parsed("jury_cache_dir")),
        rootdir=rootdir,
        max_cost=parsed("jury_max_cost"),
        report_path=report_path,
        run_id=run_id,
        is_worker=is_worker,
        baseline_update=switches.get("jury_baseline_update", False),
        cache_clear=switches.get("jury_cache_clear", False),
        rate_limits=parsed("jury_rate_limits") or {},
        export_path=outputs["jury_export"],
        disagreements_path=outputs["jury_label_disagreements"],
        html_path=outputs["jury_html"],
        calibrate=switches.get("jury_calibrate", False),
        estimate=switches.get("jury_estimate", False),
        min_kappa=parsed("jury_min_kappa"),
        calibration_report=Path(invocation_dir, calibration) if calibration else None,
        shared=shared,
        budget_key=budget_key,
    )


def _shared_store(
    parsed: Callable[[str], Any], rootdir: Path
) -> tuple[SharedStoreSettings | None, str | None]:
    url, budget_key = parsed("jury_cache_url"), parsed("jury_budget_key")
    if budget_key is not None and parsed("jury_max_cost") is None:
        raise ValueError(
            f"jury_budget_key {budget_key!r} names a shared budget, but no jury_max_cost says how much it "
            "is: add e.g. --jury-max-cost=5.00"
        )
    if budget_key is not None and url is None:
        raise ValueError(
            f"jury_budget_key {budget_key!r} shares the budget through Redis: set jury_cache_url "
            "(e.g. --jury-cache-url=redis://localhost:6379/0), or drop the key for a budget per run"
        )
    if url is None:
        return None, None
    import importlib.util

    if importlib.util.find_spec("redis") is None:
        raise ValueError(REDIS_MISSING)
    namespace = parsed("jury_cache_namespace") or rootdir_namespace(rootdir)
    return SharedStoreSettings(url, namespace, parsed("jury_cache_ttl")), budget_key


def resolve_cache_dir(rootdir: Path, value: str | None) -> Path:
    """The cache directory: `value` (relative to the rootdir) or the default `.llmonpy`."""
    path = Path(value.strip()) if value and value.strip() else Path(DEFAULT_CACHE_DIR)
    return path if path.is_absolute() else rootdir / path


def check_report_path(path: Path, setting: str = "jury_report") -> None:
    """Fail before the run, not after it, when the report file (JSON report, export) cannot be written."""
    if path.is_dir():
        example = "jury-report.json" if setting == "jury_report" else "jury-verdicts.jsonl"
        raise ValueError(f"{setting}: {path} is a directory; give a file path such as {example}")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    try:
        # The only sure test is to write: os.access says yes to root even on read-only filesystems.
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as exc:
        raise ValueError(f"{setting}: cannot write {path}: {ancestor}: {exc.strerror or exc}") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{setting}: cannot write {path}: the file is not writable")


# ---- validation of per-test settings ----


def settings_problem(settings: JurySettings) -> str | None:
    """What makes `settings` unable to judge, found before any judge is paid; None when they can."""
    if settings.judges or settings.escalation:
        # Imported only here: the judge prompts are not needed by a run that configures no judges.
        from pytest_llmonpy.judge_request import unknown_local_judges

        unknown_local = unknown_local_judges((*settings.judges, *settings.escalation))
        if unknown_local:
            return unknown_local
    if settings.group is not None and settings.min_pass_rate is None:
        return (
            f"jury_group {settings.group!r} has no jury_min_pass_rate: say what pass rate the group must "
            f"reach, e.g. @pytest.mark.jury(group={settings.group!r}, min_pass_rate=0.9)"
        )
    overlap = [model for model in settings.escalation if model in settings.judges]
    if overlap:
        return (
            f"jury_escalation: {', '.join(overlap)} {'is' if len(overlap) == 1 else 'are'} also in the "
            "jury: escalation judges decide when the jury splits, so they must be other models; remove "
            f"{'it' if len(overlap) == 1 else 'them'} from jury_judges or from jury_escalation"
        )
    for name, judges in (("jury_quorum", settings.judges), ("jury_escalation", settings.escalation)):
        if judges:
            try:
                settings.quorum.required(len(judges))
            except ValueError as exc:
                return f"{name}: {exc}"
    return None


def marker_problem(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
    """What is wrong with `@pytest.mark.jury(...)` arguments (naming the allowed ones), or None."""
    allowed = ", ".join(MARKER_ARGUMENTS)
    if args:
        return f"@pytest.mark.jury takes keyword arguments only ({allowed}), got {args!r}"
    return _overrides_problem("@pytest.mark.jury", "argument(s)", kwargs)


def jury_config_problem(value: object) -> str | None:
    """What is wrong with what a `jury_config` fixture returned, or None."""
    if not isinstance(value, Mapping):
        return (
            f"the jury_config fixture must return a dict of jury settings ({', '.join(MARKER_ARGUMENTS)}), "
            f"got {value!r}"
        )
    return _overrides_problem("jury_config", "key(s)", value)


def _overrides_problem(where: str, what: str, kwargs: Mapping[str, Any]) -> str | None:
    unknown = sorted(set(kwargs) - set(MARKER_ARGUMENTS))
    if unknown:
        allowed = ", ".join(MARKER_ARGUMENTS)
        return f"{where} got unknown {what} {', '.join(map(str, unknown))}; allowed: {allowed}"
    try:
        JurySettings().with_marker(kwargs)
    except ValueError as exc:
        return f"{where}: {exc}"
    return None


# ---- the report header ----


def describe(settings: JurySettings, options: RunOptions, rootdir: Path, prompts: str) -> list[str]:
    """The effective run-wide jury, as the flags that reproduce it, for the top of the pytest report."""
    from pytest_llmonpy.untrusted import printable

    def flag(name: str, value: object) -> str:
        return f"--{name}={printable(str(value), 200)}"

    judges = ",".join(settings.judges) or "(none)"
    jury = [flag("jury-judges", judges), flag("jury-quorum", settings.quorum)]
    jury += [flag("jury-strategy", settings.strategy), flag("jury-mode", settings.mode)]
    if settings.escalation:
        jury.append(flag("jury-escalation", ",".join(settings.escalation)))
    if settings.samples > 1:
        jury.append(flag("jury-samples", settings.samples))
    try:
        cache = options.cache_root.relative_to(rootdir)
    except ValueError:
        cache = options.cache_root
    budget = "none" if options.max_cost is None else f"${typed_usd(options.max_cost)}"
    if options.budget_key is not None:
        budget += f" shared by key {options.budget_key}"
    where = printable(str(cache), 200)
    if options.shared is not None:
        where += f" + Redis {printable(options.shared.shown, 200)} (namespace {options.shared.namespace})"
    return [
        f"llmonpy: {' '.join(jury)} (markers and jury_config may override per test)",
        f"llmonpy: cache {where}, budget {budget}, judge prompts {prompts}",
    ]
