"""pytest-llmonpy: LLM-judged regression testing with juries of LLM judges."""

# The one place the version is stated: pyproject.toml reads it from here (without importing the package).
__version__ = "0.1.0"

from pytest_llmonpy.baselines import BaselineChecks, BaselineError, BaselineRegressionError
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.quorum import Quorum
from pytest_llmonpy.verdict import (
    BudgetExceededError,
    Comparison,
    HungJuryError,
    JuryConfigError,
    JuryError,
    PairVote,
    ReplayMissError,
    Verdict,
    Vote,
)
from pytest_llmonpy.warning_types import CacheWarning, LlmonpyWarning, PositionBiasWarning

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
    "PositionBiasWarning",
    "Quorum",
    "ReplayMissError",
    "Verdict",
    "Vote",
]
