"""Helpers for showing untrusted text (model output, judge reasons) safely in reports."""

from __future__ import annotations

import os
import re

# C0/C1 control characters (ANSI escapes start with \x1b), except tab and newline, plus the
# Unicode bidi overrides that can make a report line read differently from what it contains.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int | None = 300, *, one_line: bool = True) -> str:
    """Redact secrets, escape control characters, fold onto one line (by default) and cut to `limit`."""
    safe = _UNSAFE.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
        redact_secrets(text),
    )
    if one_line:
        safe = " ".join(safe.split())
    if limit is not None and len(safe) > limit:
        safe = safe[: limit - 1] + "…"
    return safe


_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)


def redact_secrets(text: str) -> str:
    """Replace the value of every secret-looking environment variable found in `text` with '***'."""
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "***")
    return text
