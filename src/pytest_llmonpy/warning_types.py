"""Warnings the plugin emits; subclasses of pytest.PytestWarning so users can filter them."""

from __future__ import annotations

import pytest


class LlmonpyWarning(pytest.PytestWarning):
    """Base class of pytest-llmonpy warnings."""


class CacheWarning(LlmonpyWarning):
    """The verdict cache could not be read or written; the verdict was judged live instead (a miss)."""
