"""Importing litellm quietly and without network, in one place: for the judges, and for an app that
runs the offline model itself through litellm."""

from __future__ import annotations

import os
from typing import Any


def import_litellm() -> Any:
    """Import litellm configured for quiet, offline-safe use (it takes seconds: call it on first use)."""
    # Without this litellm downloads a price list from the internet at import time.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm
