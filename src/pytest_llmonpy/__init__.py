"""pytest-llmonpy: LLM-judged regression testing with juries of LLM judges."""

from pytest_llmonpy.jury import Jury
from pytest_llmonpy.quorum import Quorum
from pytest_llmonpy.verdict import HungJuryError, JuryConfigError, JuryError, Verdict, Vote

__all__ = ["HungJuryError", "Jury", "JuryConfigError", "JuryError", "Quorum", "Verdict", "Vote"]
