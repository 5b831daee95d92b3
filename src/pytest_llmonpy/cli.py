"""`python -m pytest_llmonpy cache stats|clear`: look into or empty the verdict cache."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pytest_llmonpy.settings import DEFAULT_CACHE_DIR


def _size(num_bytes: int) -> str:
    size = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def stats(root: Path) -> str:
    from pytest_llmonpy.cache import VERDICTS_SUBDIR, VerdictCache

    if not (root / VERDICTS_SUBDIR).is_dir():
        return f"no verdict cache at {root}"
    cache = VerdictCache(root)
    try:
        entries = cache.entries()
        volume = cache.volume()
    finally:
        cache.close()
    lines = [f"verdict cache: {root}", f"entries: {len(entries)}", f"size on disk: {_size(volume)}"]
    per_model = Counter(entry.vote.model for entry in entries)
    votes = Counter((entry.vote.model, entry.vote.vote) for entry in entries)
    if per_model:
        width = max(len(model) for model in per_model)
        lines.append("per judge model:")
        for model, count in sorted(per_model.items()):
            passes, fails = votes[(model, "pass")], votes[(model, "fail")]
            lines.append(f"  {model:<{width}}  {count:>6} verdicts ({passes} pass, {fails} fail)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_llmonpy", description=__doc__)
    sub = parser.add_subparsers(dest="area", required=True)
    cache = sub.add_parser("cache", help="inspect or clear the verdict cache")
    cache.add_argument("action", choices=("stats", "clear"))
    cache.add_argument(
        "--dir",
        default=DEFAULT_CACHE_DIR,
        type=Path,
        help=f"the cache directory (jury_cache_dir; default: {DEFAULT_CACHE_DIR})",
    )
    args = parser.parse_args(argv)
    root: Path = args.dir
    if args.action == "stats":
        print(stats(root))
        return 0
    from pytest_llmonpy.cache import clear_directory

    removed = clear_directory(root)
    print(f"cleared {removed if removed >= 0 else 'all'} cached verdicts from {root}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
