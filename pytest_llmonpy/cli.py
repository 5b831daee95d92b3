"""`llmonpy cache stats|clear|prune|export|import` (also `python -m pytest_llmonpy ...`): look into,
empty, trim, export or import the verdict cache. `llmonpy calibrate`: measure a jury against human
labels (`pytest --jury-calibrate`)."""

from __future__ import annotations

import argparse
import configparser
import datetime
import importlib.util
import sys
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmonpy.config import DEFAULT_CACHE_DIR, REDIS_MISSING

if TYPE_CHECKING:
    from pytest_llmonpy.redis_store import RedisVerdicts

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pytest itself depends on tomli before Python 3.11
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

_EPILOG = """\
actions:
  stats   entries, size, verdicts per judge, and how many entries the last run did not use
  clear   delete every cached verdict (a run using the cache meanwhile keeps its new verdicts)
  prune   delete the verdicts recent runs did not use: --keep-runs N and/or --before YYYY-MM-DD
  export  write every cached verdict to PATH as JSON Lines, sorted by key
  import  read a JSON Lines export into the cache (every line checked first), the later vote winning

With --url redis://..., stats, clear, export and import act on the verdicts a fleet shares in Redis
(jury_cache_url) instead of a local cache: export from one and import into the other to move them.
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


# pytest's config files, in the order pytest looks for them in each directory, with their section.
_INI_FILES = (
    ("pytest.ini", "pytest"),
    (".pytest.ini", "pytest"),
    ("pyproject.toml", ""),
    ("tox.ini", "pytest"),
    ("setup.cfg", "tool:pytest"),
)


def _ini_settings(path: Path, section: str) -> tuple[bool, dict[str, str]]:
    """(whether `path` is a pytest config file, its jury_cache_* settings); unreadable files are not."""
    try:
        if path.name == "pyproject.toml":
            tool = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {})
            pytest_table = tool.get("pytest", {}) if isinstance(tool, dict) else {}
            if not isinstance(pytest_table, dict) or not pytest_table:
                return False, {}
            options = pytest_table.get("ini_options", pytest_table)
            options = options if isinstance(options, dict) else {}
            return True, {k: v for k, v in options.items() if k in _CACHE_KEYS and isinstance(v, str)}
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, configparser.Error):
        return False, {}
    if not parser.has_section(section):
        # pytest takes pytest.ini and .pytest.ini even without a [pytest] section.
        return path.name in ("pytest.ini", ".pytest.ini"), {}
    return True, {key: value for key, value in parser.items(section) if key in _CACHE_KEYS}


_CACHE_KEYS = ("jury_cache_dir", "jury_cache_namespace", "jury_cache_ttl")


def project_config(start: Path) -> tuple[Path, dict[str, str]] | None:
    """Like pytest: the rootdir (the first directory from `start` upward with a pytest config file) and
    that file's jury_cache_* settings, with its path under "path"; None when there is no config file."""
    start = start.resolve()
    for directory in (start, *start.parents):
        for name, section in _INI_FILES:
            path = directory / name
            if path.is_file():
                is_config, settings = _ini_settings(path, section)
                if is_config:
                    return directory, {**settings, "path": str(path)}
    return None


def cache_candidates(start: Path) -> list[tuple[Path, str]]:
    """Where the verdict cache may be, as (path, why), most likely first: like pytest, the rootdir is
    the first directory from `start` upward with a pytest config file, and `jury_cache_dir` there
    (relative to it) or `.llmonpy` in it is the cache; then `.llmonpy` in `start` itself."""
    start = start.resolve()
    candidates: list[tuple[Path, str]] = []
    found = project_config(start)
    if found is not None:
        directory, settings = found
        value = settings.get("jury_cache_dir", "").strip()
        if value:
            where = Path(value)
            candidates.append(
                (where if where.is_absolute() else directory / where, f"jury_cache_dir of {settings['path']}")
            )
        else:
            candidates.append((directory / DEFAULT_CACHE_DIR, f"the rootdir of {settings['path']}"))
    if all(path != start / DEFAULT_CACHE_DIR for path, _ in candidates):
        candidates.append((start / DEFAULT_CACHE_DIR, "the current directory"))
    return candidates


def _shown(path: Path, cwd: Path) -> Path:
    """`path` relative to the current directory when it is inside it, else absolute."""
    try:
        return path.relative_to(cwd.resolve())
    except ValueError:
        return path


def find_cache(start: Path) -> tuple[Path | None, str]:
    """The verdict cache found from `start`, or None and a message saying where it looked."""
    from pytest_llmonpy.cache import VERDICTS_SUBDIR

    candidates = cache_candidates(start)
    for path, _ in candidates:
        if (path / VERDICTS_SUBDIR).is_dir():
            return _shown(path, start), ""
    looked = "\n".join(f"  {_shown(path, start)}  ({why})" for path, why in candidates)
    return None, (
        f"no verdict cache found. Looked at:\n{looked}\n"
        "Run llmonpy from your project's rootdir (where pytest.ini, pyproject.toml, tox.ini or setup.cfg "
        "is), or pass the cache directory with --dir PATH."
    )


def stats(root: Path) -> str:
    from pytest_llmonpy.cache import VERDICTS_SUBDIR, VerdictCache
    from pytest_llmonpy.prompts import PairCase

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
    # A comparison stores one entry per judge and order; its vote is a position, not pass or fail. A
    # score's is a number.
    pairwise = Counter(entry.vote.model for entry in entries if isinstance(entry.case, PairCase))
    votes = Counter((entry.vote.model, entry.vote.vote) for entry in entries)
    checks = Counter({model: votes[(model, "pass")] + votes[(model, "fail")] for model, _ in votes})
    models = sorted({model for model, _ in votes})
    if models:
        width = max(len(model) for model in models)
        lines.append("per judge model:")
        for model in models:
            passes, fails = votes[(model, "pass")], votes[(model, "fail")]
            line = f"  {model:<{width}}  {checks[model]:>6} verdicts ({passes} pass, {fails} fail)"
            if pairwise[model]:
                line += f", {pairwise[model]} comparison call{'s' if pairwise[model] != 1 else ''}"
            if votes[(model, "score")]:
                line += f", {votes[(model, 'score')]} score{'s' if votes[(model, 'score')] != 1 else ''}"
            lines.append(line)
    return "\n".join(lines)


def transfer(action: str, path: Path, where: str, store: Path | RedisVerdicts) -> int:
    """`cache export PATH` / `cache import PATH` for the local cache at `store` (its directory), or a
    Redis namespace; what it did on stdout, what went wrong on stderr."""
    from pytest_llmonpy.cache_transfer import (
        TransferError,
        checked_lines,
        export_lines,
        export_shared_lines,
        import_lines,
        import_shared_lines,
    )
    from pytest_llmonpy.redis_store import SharedStoreFailed
    from pytest_llmonpy.report import write_atomically

    try:
        if action == "export":
            lines, skipped = export_lines(store) if isinstance(store, Path) else export_shared_lines(store)
            write_atomically(path, "".join(line + "\n" for line in lines))
            unreadable = f" ({skipped} unreadable entries skipped)" if skipped else ""
            print(f"exported {len(lines)} cached verdicts from {where} to {path}{unreadable}")
            return 0
        try:
            text = path.read_text(encoding="utf-8-sig")  # a BOM from a Windows editor is not a line
        except (OSError, UnicodeDecodeError) as exc:
            raise TransferError(f"cannot read {path}: {exc}") from None
        # Lines end at \n only: str.splitlines would also break inside a text at U+2028 or \x85.
        entries = checked_lines((line.removesuffix("\r") for line in text.split("\n")), str(path))
        done = (
            import_lines(store, entries) if isinstance(store, Path) else import_shared_lines(store, entries)
        )
    except TransferError as exc:
        print(f"llmonpy: cache {action}: {exc}", file=sys.stderr)
        return 1
    except SharedStoreFailed:
        raise  # shared_action says which Redis failed
    except Exception as exc:  # sqlite3.Error, diskcache.Timeout, OSError: say it, no traceback
        print(
            f"llmonpy: cache {action}: the verdict cache at {where}: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    print(
        f"imported {done.added + done.replaced} of {len(entries)} cached verdicts into {where} "
        f"({done.added} added, {done.replaced} replaced, {done.kept} already there)"
    )
    return 0


def shared_action(action: str, url: str, namespace: str | None, path: Path | None) -> int:
    """`cache stats|clear|export|import --url`: the same actions on a Redis namespace, which (like its
    verdicts' time to live) is the project's jury_cache_namespace unless --namespace says otherwise."""
    from pytest_llmonpy.fleet_settings import (
        SharedStoreSettings,
        parse_cache_url,
        parse_duration,
        parse_name,
        rootdir_namespace,
    )

    found = project_config(Path.cwd())
    rootdir, settings = found if found is not None else (Path.cwd().resolve(), {})
    try:
        checked = parse_cache_url(url) or ""
        name = (
            parse_name("--namespace", namespace)
            or parse_name("jury_cache_namespace", settings.get("jury_cache_namespace"))
            or rootdir_namespace(rootdir)
        )
        ttl = parse_duration("jury_cache_ttl", settings.get("jury_cache_ttl"))
    except ValueError as exc:
        print(f"llmonpy: {exc}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("redis") is None:
        print(f"llmonpy: {REDIS_MISSING}", file=sys.stderr)
        return 1
    from pytest_llmonpy.redis_store import RedisLink, RedisVerdicts, SharedStoreFailed

    store = SharedStoreSettings(checked, name, ttl)
    where = f"Redis {store.shown} (namespace {name})"
    link = RedisLink(store)
    shared = RedisVerdicts(link)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the failure is said below, once
            if action == "stats":
                print(f"verdict cache: {where}\nentries: {len(shared.keys())}")
                return 0
            if action == "clear":
                print(f"cleared {shared.clear()} cached verdicts from {where}")
                return 0
            assert path is not None
            return transfer(action, path, where, shared)
    except SharedStoreFailed as exc:
        print(f"llmonpy: cache {action}: {where} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        link.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmonpy", description=__doc__)
    sub = parser.add_subparsers(dest="area", required=True)
    cache = sub.add_parser(
        "cache",
        help="inspect, clear, prune, export or import the verdict cache",
        description="Inspect, clear or prune the verdict cache, or export it to (import it from) a JSON "
        "Lines file.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cache.add_argument("action", choices=("stats", "clear", "prune", "export", "import"))
    cache.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="export: the JSON Lines file to write; import: the one to read (checked line by line before "
        "anything is written, then merged: the more recently recorded vote wins)",
    )
    cache.add_argument(
        "--dir",
        default=None,
        type=Path,
        help=f"the cache directory (default: jury_cache_dir of the pytest config file found from the "
        f"current directory upward, else {DEFAULT_CACHE_DIR} in its directory or in the current one)",
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
    cache.add_argument(
        "--url",
        help="act on the verdicts in Redis at this URL (jury_cache_url; the password from "
        "$LLMONPY_REDIS_PASSWORD) instead of a local cache; not for prune (give verdicts a jury_cache_ttl)",
    )
    cache.add_argument(
        "--namespace",
        help="with --url: the namespace of the keys (default: jury_cache_namespace of the pytest config "
        "file found from the current directory upward, else the name of that file's directory)",
    )
    calibrate = sub.add_parser(
        "calibrate",
        help="measure each judge and the jury against human labels",
        description="Measure each judge, and the jury they make, against the human labels in "
        "__llm_labels__/ directories: agreement, Cohen's kappa with its 95%% interval, false passes "
        "and fails. Runs `pytest --jury-calibrate` with the project's pytest configuration; the "
        "options below override it, and any other option is passed to pytest (e.g. --jury-api-base=...).",
    )
    calibrate.add_argument("paths", nargs="*", help="where to look for label files (default: as pytest)")
    calibrate.add_argument("--judges", help="the jury's judges, separated by commas")
    calibrate.add_argument("--quorum", help="majority, unanimous, an integer or a fraction")
    calibrate.add_argument("--strategy", help="parallel or frugal")
    calibrate.add_argument("--json", metavar="OUT", help="also write the measurement as JSON to OUT")
    calibrate.add_argument(
        "--min-kappa", metavar="K", help="exit 1 when the jury's kappa is below K (-1 to 1), e.g. 0.6"
    )
    return parser


def calibrate_args(args: argparse.Namespace, extra: Sequence[str]) -> list[str]:
    """The pytest command line of `llmonpy calibrate`."""
    flags = {
        "--jury-judges": args.judges,
        "--jury-quorum": args.quorum,
        "--jury-strategy": args.strategy,
        "--jury-calibration-report": args.json,
        "--jury-min-kappa": args.min_kappa,
    }
    return [
        "--jury-calibrate",
        "-p",
        "no:cacheprovider",
        *(f"{flag}={value}" for flag, value in flags.items() if value is not None),
        *extra,
        *args.paths,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.area == "calibrate":
        import pytest

        return int(pytest.main(calibrate_args(args, extra)))
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.action != "prune" and (args.keep_runs is not None or args.before is not None or args.dry_run):
        parser.error("--keep-runs, --before and --dry-run go with the prune action")
    if args.action == "prune" and args.keep_runs is None and args.before is None:
        parser.error("prune needs --keep-runs N and/or --before YYYY-MM-DD")
    if (args.action in ("export", "import")) != (args.path is not None):
        parser.error("export and import need a PATH (a .jsonl file); the other actions take none")
    if args.url is not None or args.namespace is not None:
        if args.url is None:
            parser.error("--namespace goes with --url")
        if args.action == "prune" or args.dir is not None:
            parser.error("--url acts on Redis: prune and --dir are for a local cache")
        return shared_action(args.action, args.url, args.namespace, args.path)
    root: Path
    if args.dir is not None:
        root = args.dir
    else:
        found, problem = find_cache(Path.cwd())
        if found is None and args.action == "import":
            # A new cache, where pytest would make it (the configured jury_cache_dir, else .llmonpy).
            found = _shown(cache_candidates(Path.cwd())[0][0], Path.cwd())
        if found is None:
            print(f"llmonpy: {problem}", file=sys.stderr)
            return 1
        root = found
    if args.action == "stats":
        print(stats(root))
        return 0
    if args.action in ("export", "import"):
        return transfer(args.action, args.path, str(root), root)
    if args.action == "prune":
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
