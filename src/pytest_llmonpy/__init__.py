"""pytest-llmonpy: LLM-judged regression testing with juries of LLM judges."""

from pytest_llmonpy.jury import Jury
from pytest_llmonpy.quorum import Quorum
from pytest_llmonpy.verdict import (
    BudgetExceededError,
    HungJuryError,
    JuryConfigError,
    JuryError,
    ReplayMissError,
    Verdict,
    Vote,
)
from pytest_llmonpy.warning_types import CacheWarning, LlmonpyWarning

__all__ = [
    "BudgetExceededError",
    "CacheWarning",
    "HungJuryError",
    "Jury",
    "JuryConfigError",
    "JuryError",
    "LlmonpyWarning",
    "Quorum",
    "ReplayMissError",
    "Verdict",
    "Vote",
]
