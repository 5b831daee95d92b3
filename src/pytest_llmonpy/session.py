"""Per-run state of the plugin, kept in `config.stash` by the pytest wiring."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmonpy.jury import Jury
from pytest_llmonpy.quorum import Quorum
from pytest_llmonpy.settings import (
    DEFAULT_CACHE_DIR,
    DEFAULT_CONCURRENCY,
    DEFAULT_MODE,
    DEFAULT_TIMEOUT_S,
    JurySettings,
    parse_api_base,
    parse_judges,
    parse_mode,
    parse_positive_float,
    parse_positive_int,
)
from pytest_llmonpy.verdict import Verdict

if TYPE_CHECKING:
    from pytest_llmonpy.cache import VerdictCache
    from pytest_llmonpy.judges import JudgeCaller

# (name, help) of every setting; each is a `--jury-...` flag and a `jury_...` ini key.
OPTIONS: tuple[tuple[str, str], ...] = (
    ("jury_judges", "litellm model names of the default jury, separated by commas and/or whitespace"),
    ("jury_quorum", "'majority' (default), 'unanimous', an integer N, or a fraction such as 0.66"),
    ("jury_concurrency", f"judge calls in flight per process (default {DEFAULT_CONCURRENCY})"),
    ("jury_timeout", f"seconds per judge call, retries included (default {DEFAULT_TIMEOUT_S:g})"),
    ("jury_api_base", "OpenAI-compatible endpoint for all judges (a local server, a litellm proxy)"),
    (
        "jury_mode",
        "record (default): cached verdicts, ask on a miss and store; replay: cached verdicts only, a miss "
        "fails; refresh: ask again and overwrite; off: no cache",
    ),
    ("jury_cache_dir", f"where verdicts are cached, relative to the rootdir (default {DEFAULT_CACHE_DIR})"),
)


def resolve_cache_dir(rootdir: Path, value: str | None) -> Path:
    """The cache directory: `value` (relative to the rootdir) or the default `.llmonpy`."""
    path = Path(value.strip()) if value and value.strip() else Path(DEFAULT_CACHE_DIR)
    return path if path.is_absolute() else rootdir / path


def build_settings(value: Callable[[str], str | None]) -> JurySettings:
    """Settings from `value(name)` (flag, else ini, else None); ValueError names the bad setting."""

    def get(name: str) -> str | None:
        raw = value(name)
        return raw if raw is not None and raw.strip() else None

    quorum = get("jury_quorum")
    concurrency = get("jury_concurrency")
    timeout = get("jury_timeout")
    try:
        parsed_quorum = Quorum.parse(quorum) if quorum else Quorum("majority")
    except ValueError as exc:
        raise ValueError(f"jury_quorum: {exc}") from None
    try:
        judges = parse_judges(get("jury_judges"))
    except ValueError as exc:
        raise ValueError(f"jury_judges: {exc}") from None
    mode = get("jury_mode")
    return JurySettings(
        mode=parse_mode(mode) if mode else DEFAULT_MODE,
        judges=judges,
        quorum=parsed_quorum,
        concurrency=parse_positive_int("jury_concurrency", concurrency)
        if concurrency
        else DEFAULT_CONCURRENCY,
        timeout_s=parse_positive_float("jury_timeout", timeout) if timeout else DEFAULT_TIMEOUT_S,
        api_base=parse_api_base(get("jury_api_base")),
    )


class JurySession:
    """Owns the run's settings, the lazily opened cache and judge caller, and every verdict given."""

    def __init__(self, settings: JurySettings, cache_root: Path, forced_mode: str | None = None) -> None:
        self.settings = settings
        self.cache_root = cache_root
        # A --jury-mode flag beats marker arguments: `--jury-mode=replay` must guarantee no judge call.
        self.forced_mode = forced_mode
        self.verdicts: list[Verdict] = []
        self._caller: JudgeCaller | None = None
        self._cache: VerdictCache | None = None

    def cache(self) -> VerdictCache:
        if self._cache is None:
            from pytest_llmonpy.cache import VerdictCache  # diskcache is imported only when judging

            self._cache = VerdictCache(self.cache_root)
        return self._cache

    def caller(self) -> JudgeCaller:
        if self._caller is None:
            # Imported here: judges.py pulls in pydantic, and litellm on the first live call.
            from pytest_llmonpy.judges import JudgeCaller

            self._caller = JudgeCaller(self.settings.concurrency)
        return self._caller

    def new_jury(self, settings: JurySettings, test_id: str) -> Jury:
        if self.forced_mode is not None:
            settings = dataclasses.replace(settings, mode=self.forced_mode)
        return Jury(settings, self.caller, cache=self.cache, test_id=test_id, on_verdict=self.verdicts.append)

    def close(self) -> None:
        if self._caller is not None:
            self._caller.close()
            self._caller = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None
