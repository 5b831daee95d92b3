"""Warnings the plugin emits; subclasses of pytest.PytestWarning so users can filter them."""

from __future__ import annotations

import pytest


class LlmonpyWarning(pytest.PytestWarning):
    """Base class of pytest-llmonpy warnings."""


class CacheWarning(LlmonpyWarning):
    """The verdict cache could not be read or written; the verdict was judged live instead (a miss)."""


class PositionBiasWarning(LlmonpyWarning):
    """A judge followed the position in more than half of its pairwise comparisons (at least 5): it
    picked the same position in both orders, so its comparison votes say little about the outputs."""


# Warning summaries name the public import path, not the defining module.
for _warning in (LlmonpyWarning, CacheWarning, PositionBiasWarning):
    _warning.__module__ = "pytest_llmonpy"
