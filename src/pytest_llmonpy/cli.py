"""`llmonpy cache stats|clear|prune` (also `python -m pytest_llmonpy ...`): look into, empty or trim the
verdict cache."""

from __future__ import annotations

import argparse
import datetime
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pytest_llmonpy.settings import DEFAULT_CACHE_DIR

_EPILOG = """\
actions:
  stats   entries, size, verdicts per judge, and how many entries the last run did not use
  clear   delete every cached verdict (a run using the cache meanwhile keeps its new verdicts)
  prune   delete the verdicts recent runs did not use: --keep-runs N and/or --before YYYY-MM-DD
"""


def _size(num_bytes: int) -> str:
    size = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number of runs of at least 1, got {value!r}")
    return number


def stats(root: Path) -> str:
    from pytest_llmonpy.cache import VERDICTS_SUBDIR, VerdictCache

    if not (root / VERDICTS_SUBDIR).is_dir():
        return f"no verdict cache at {root}"
    cache = VerdictCache(root)
    try:
        entries = cache.entries()
        volume = cache.volume()
        usage = cache.usage()
    finally:
        cache.close()
    lines = [f"verdict cache: {root}", f"entries: {len(entries)}", f"size on disk: {_size(volume)}"]
    if usage.last_run is None:
        lines.append("not used by the last run: unknown (no run has recorded its use yet)")
    else:
        when = (
            datetime.datetime.fromtimestamp(usage.last_run_started).strftime(" started %Y-%m-%d %H:%M")
            if usage.last_run_started is not None
            else ""
        )
        lines.append(
            f"not used by the last run: {usage.unused_by_last_run} (run #{usage.last_run}{when}; "
            "drop them with `llmonpy cache prune --keep-runs 1`)"
        )
    per_model = Counter(entry.vote.model for entry in entries)
    votes = Counter((entry.vote.model, entry.vote.vote) for entry in entries)
    if per_model:
        width = max(len(model) for model in per_model)
        lines.append("per judge model:")
        for model, count in sorted(per_model.items()):
            passes, fails = votes[(model, "pass")], votes[(model, "fail")]
            lines.append(f"  {model:<{width}}  {count:>6} verdicts ({passes} pass, {fails} fail)")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmonpy", description=__doc__)
    sub = parser.add_subparsers(dest="area", required=True)
    cache = sub.add_parser(
        "cache",
        help="inspect, clear or prune the verdict cache",
        description="Inspect, clear or prune the verdict cache.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cache.add_argument("action", choices=("stats", "clear", "prune"))
    cache.add_argument(
        "--dir",
        default=DEFAULT_CACHE_DIR,
        type=Path,
        help=f"the cache directory (jury_cache_dir; default: {DEFAULT_CACHE_DIR})",
    )
    cache.add_argument(
        "--keep-runs",
        type=_positive,
        metavar="N",
        help="prune: keep the verdicts used by the last N pytest runs (an xdist run counts once)",
    )
    cache.add_argument(
        "--before",
        type=_date,
        metavar="YYYY-MM-DD",
        help="prune: remove the verdicts last used before this date (with --keep-runs: those old by both)",
    )
    cache.add_argument("--dry-run", action="store_true", help="prune: only say how many would be removed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    root: Path = args.dir
    if args.action != "prune" and (args.keep_runs is not None or args.before is not None or args.dry_run):
        parser.error("--keep-runs, --before and --dry-run go with the prune action")
    if args.action == "stats":
        print(stats(root))
        return 0
    if args.action == "prune":
        if args.keep_runs is None and args.before is None:
            parser.error("prune needs --keep-runs N and/or --before YYYY-MM-DD")
        from pytest_llmonpy.cache import prune

        try:
            result = prune(root, keep_runs=args.keep_runs, before=args.before, dry_run=args.dry_run)
        except Exception as exc:  # sqlite3.Error, diskcache.Timeout, OSError: say it, no traceback
            print(
                f"llmonpy: cannot prune the verdict cache at {root}: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            return 1
        total = result.removed + result.kept
        verb = "would remove" if args.dry_run else "removed"
        print(f"{verb} {result.removed} of {total} cached verdicts from {root}")
        return 0
    from pytest_llmonpy.cache import clear_directory

    try:
        removed = clear_directory(root)
    except OSError as exc:
        print(f"llmonpy: {exc}", file=sys.stderr)
        return 1
    print(f"cleared {removed if removed >= 0 else 'all'} cached verdicts from {root}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
