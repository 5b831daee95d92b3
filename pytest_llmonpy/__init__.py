"""pytest-llmonpy: LLM-judged regression testing with juries of LLM judges."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The one place the version is stated: pyproject.toml reads it from here (without importing the package).
__version__ = "0.1.0"

if TYPE_CHECKING:  # `as` marks the re-exports for type checkers
    from pytest_llmonpy.baselines import (
        BaselineChecks as BaselineChecks,
    )
    from pytest_llmonpy.baselines import (
        BaselineError as BaselineError,
    )
    from pytest_llmonpy.baselines import (
        BaselineRegressionError as BaselineRegressionError,
    )
    from pytest_llmonpy.jury import (
        Jury as Jury,
    )
    from pytest_llmonpy.quorum import (
        Quorum as Quorum,
    )
    from pytest_llmonpy.sampled import (
        PassRate as PassRate,
    )
    from pytest_llmonpy.verdict import (
        BudgetExceededError as BudgetExceededError,
    )
    from pytest_llmonpy.verdict import (
        Comparison as Comparison,
    )
    from pytest_llmonpy.verdict import (
        HungJuryError as HungJuryError,
    )
    from pytest_llmonpy.verdict import (
        JuryConfigError as JuryConfigError,
    )
    from pytest_llmonpy.verdict import (
        JuryError as JuryError,
    )
    from pytest_llmonpy.verdict import (
        PairVote as PairVote,
    )
    from pytest_llmonpy.verdict import (
        ReplayMissError as ReplayMissError,
    )
    from pytest_llmonpy.verdict import (
        Score as Score,
    )
    from pytest_llmonpy.verdict import (
        Verdict as Verdict,
    )
    from pytest_llmonpy.verdict import (
        Vote as Vote,
    )
    from pytest_llmonpy.warning_types import (
        CacheWarning as CacheWarning,
    )
    from pytest_llmonpy.warning_types import (
        LlmonpyWarning as LlmonpyWarning,
    )
    from pytest_llmonpy.warning_types import (
        PositionBiasWarning as PositionBiasWarning,
    )

# Public name -> defining module. pytest imports this package to load the plugin in every run, so the
# names are imported on first access: a run that never asks a jury never imports the jury.
_EXPORTS = {
    "BaselineChecks": "baselines",
    "BaselineError": "baselines",
    "BaselineRegressionError": "baselines",
    "BudgetExceededError": "verdict",
    "CacheWarning": "warning_types",
    "Comparison": "verdict",
    "HungJuryError": "verdict",
    "Jury": "jury",
    "JuryConfigError": "verdict",
    "JuryError": "verdict",
    "LlmonpyWarning": "warning_types",
    "PairVote": "verdict",
    "PassRate": "sampled",
    "PositionBiasWarning": "warning_types",
    "Quorum": "quorum",
    "ReplayMissError": "verdict",
    "Score": "verdict",
    "Verdict": "verdict",
    "Vote": "verdict",
}

__all__ = [
    "BaselineChecks",
    "BaselineError",
    "BaselineRegressionError",
    "BudgetExceededError",
    "CacheWarning",
    "Comparison",
    "HungJuryError",
    "Jury",
    "JuryConfigError",
    "JuryError",
    "LlmonpyWarning",
    "PairVote",
    "PassRate",
    "PositionBiasWarning",
    "Quorum",
    "ReplayMissError",
    "Score",
    "Verdict",
    "Vote",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_llmonpy' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"pytest_llmonpy.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
