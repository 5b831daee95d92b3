"""Warnings the plugin emits; subclasses of pytest.PytestWarning so users can filter them."""

from __future__ import annotations

import pytest


class LlmonpyWarning(pytest.PytestWarning):
    """Base class of pytest-llmonpy warnings."""


class CacheWarning(LlmonpyWarning):
    """The verdict cache could not be read or written; the verdict was judged live instead (a miss)."""


# Warning summaries name the public import path, not the defining module.
for _warning in (LlmonpyWarning, CacheWarning):
    _warning.__module__ = "pytest_llmonpy"
