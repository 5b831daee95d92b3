"""Directories every pytest run of one user on this machine shares, in the system temporary directory.

Their names are predictable, so another local user could create one first, or plant a symlink:
`prepare_private_directory` refuses both before anything is stored there. No diskcache import here:
naming a directory must stay free for runs that never judge.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


class UnsafeDirectory(OSError):
    """A shared directory that is a symlink, not a directory, or owned by another user."""


def user_temp_directory(kind: str) -> Path:
    """`<tmp>/pytest-llmonpy-<kind>-<uid>`: one per user, shared by all of that user's runs."""
    getuid: Callable[[], int] | None = getattr(os, "getuid", None)
    uid = str(getuid()) if getuid is not None else "user"
    return Path(tempfile.gettempdir()) / f"pytest-llmonpy-{kind}-{uid}"


def prepare_private_directory(directory: Path) -> None:
    """Create `directory` (mode 0700); refuse a symlink or a directory another user owns."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafeDirectory(f"{directory} is not a plain directory (a symlink?)")
    getuid: Callable[[], int] | None = getattr(os, "getuid", None)
    if getuid is not None and info.st_uid != getuid():
        raise UnsafeDirectory(f"{directory} belongs to another user (uid {info.st_uid})")
