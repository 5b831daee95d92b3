"""The text a judge sees: outputs, inputs and references as strings, any other value as its JSON text.

Shared by the jury, baselines and label files. No pytest import.
"""

from __future__ import annotations

import json

from pytest_llmonpy.untrusted import printable


def output_text(output: object, what: str = "output", *, allow_none: bool = False) -> str:
    """The text a judge sees: strings as they are, anything else as its JSON text.

    `None` is refused unless `allow_none`: an app that returns nothing is almost always a bug, and
    judging the text `null` would be a paid, cached call about it.
    """
    __tracebackhide__ = True
    if isinstance(output, str):
        text = output
    elif output is None and not allow_none:
        raise TypeError(
            f"jury {what} is None: the code under test returned nothing. To judge JSON null on purpose, "
            "pass allow_none=True"
        )
    elif isinstance(output, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"jury {what} is {type(output).__name__}, not text: decode it first, e.g. "
            f"{what.split()[0]}.decode('utf-8')"
        )
    else:
        try:
            text = json.dumps(output, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"jury {what} must be a str or a JSON-serialisable value, got {type(output).__name__}: {exc}"
            ) from None
    require_utf8(text, what)
    return text


def require_utf8(text: str, what: str) -> None:
    """Judges, the cache and the reports all speak UTF-8: a lone surrogate is refused up front."""
    __tracebackhide__ = True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TypeError(
            f"jury {what} cannot be encoded as UTF-8: {exc.reason} at position {exc.start} "
            f"({printable(repr(text[max(0, exc.start - 20) : exc.end + 20]), 80)}). A lone surrogate "
            "usually comes from decoding bytes with errors='surrogateescape'; decode them with "
            "errors='replace', or fix the text."
        ) from None


def optional_text(value: object, what: str) -> str | None:
    __tracebackhide__ = True
    return None if value is None else output_text(value, what)
