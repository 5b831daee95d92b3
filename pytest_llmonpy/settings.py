"""Jury settings: parsing and validating what users type in flags, ini keys and marker arguments.

Pure functions with no pytest import; every error is a ValueError whose message says what to type.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_llmonpy.judge_request import unknown_local_judges
from pytest_llmonpy.quorum import Quorum

DEFAULT_CONCURRENCY = 16
DEFAULT_TIMEOUT_S = 60.0
MARKER_ARGUMENTS = ("judges", "quorum", "mode", "strategy", "escalate_to", "inconclusive")
STRATEGIES = ("parallel", "frugal")
MODES = ("record", "replay", "refresh", "off")
DEFAULT_MODE = "record"
# What a comparison decided only by judges that followed the position does: count as a tie, or hang.
INCONCLUSIVE_POLICIES = ("tie", "hung")
DEFAULT_CACHE_DIR = ".llmonpy"

MAJORITY = Quorum("majority")

NO_JUDGES_HELP = (
    "no judges configured: set them with --jury-judges=openai/gpt-4o-mini,anthropic/claude-3-5-haiku-latest, "
    "the ini key 'jury_judges', or @pytest.mark.jury(judges=[...])"
)


@dataclass(frozen=True)
class JurySettings:
    """Everything a jury needs to judge; a marker may override judges and quorum for one test."""

    judges: tuple[str, ...] = ()
    quorum: Quorum = MAJORITY
    concurrency: int = DEFAULT_CONCURRENCY
    timeout_s: float = DEFAULT_TIMEOUT_S
    api_base: str | None = None
    mode: str = DEFAULT_MODE
    strategy: str = "parallel"  # frugal: ask only as many judges as the quorum still needs
    escalation: tuple[str, ...] = ()  # judges that decide when the jury is split or hung
    inconclusive: str = "tie"  # jury_inconclusive: one of INCONCLUSIVE_POLICIES

    def with_marker(self, kwargs: Mapping[str, Any]) -> JurySettings:
        """Apply validated `@pytest.mark.jury(...)` arguments."""
        changes: dict[str, Any] = {}
        if "judges" in kwargs:
            changes["judges"] = parse_judges(kwargs["judges"])
        if "quorum" in kwargs:
            changes["quorum"] = Quorum.parse(kwargs["quorum"])
        if "mode" in kwargs:
            changes["mode"] = parse_mode(kwargs["mode"])
        if "strategy" in kwargs:
            changes["strategy"] = parse_strategy(kwargs["strategy"])
        if "escalate_to" in kwargs:
            changes["escalation"] = parse_judges(kwargs["escalate_to"])
        if "inconclusive" in kwargs:
            changes["inconclusive"] = parse_inconclusive(kwargs["inconclusive"])
        return dataclasses.replace(self, **changes)


def settings_problem(settings: JurySettings) -> str | None:
    """What makes `settings` unable to judge, found before any judge is paid; None when they can."""
    unknown_local = unknown_local_judges((*settings.judges, *settings.escalation))
    if unknown_local:
        return unknown_local
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
    unknown = sorted(set(kwargs) - set(MARKER_ARGUMENTS))
    if unknown:
        return f"@pytest.mark.jury got unknown argument(s) {', '.join(unknown)}; allowed: {allowed}"
    try:
        JurySettings().with_marker(kwargs)
    except ValueError as exc:
        return f"@pytest.mark.jury: {exc}"
    return None


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


def parse_positive_int(name: str, value: str | int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return number


def parse_positive_float(name: str, value: str | float) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds greater than 0, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise ValueError(f"{name} must be a number of seconds greater than 0, got {value!r}")
    return number


def parse_api_base(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    url = value.strip()
    if not re.match(r"^https?://[^\s/]+", url):
        raise ValueError(f"jury_api_base must be an http:// or https:// URL, got {value!r}")
    return url.rstrip("/")
