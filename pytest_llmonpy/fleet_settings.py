"""The settings of the store a CI fleet shares (`jury_cache_url` and friends), parsed and checked.

No redis import: pytest reads these at start-up in every run. A URL's password is a secret: every
message and report shows the URL through `mask_password`, and no error quotes the URL's parser.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

REDIS_SCHEMES = ("redis", "rediss", "unix")
# The password of a Redis URL that has none in it (a URL in an ini file is committed; a secret is not).
REDIS_PASSWORD_ENV = "LLMONPY_REDIS_PASSWORD"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)?")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EXPECTED = "give a Redis URL such as redis://localhost:6379/0 (rediss:// for TLS, unix:///path for a socket)"


def mask_password(url: str) -> str:
    """`url` with whatever could be a password masked: what messages and reports may print.

    Everything between the scheme and the last '@' is credentials (a password may hold an unescaped
    '@', ':' or '/'; redis-py splits at the last '@' too): only a username before the first ':' stays.
    """
    scheme, separator, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not separator or not at:
        return url
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}:***@{host}" if colon else f"{scheme}://{user}@{host}"


def url_password(url: str) -> str:
    """The password the URL itself holds, as written; '' when it has none."""
    credentials, at, _ = url.partition("://")[2].rpartition("@")
    return credentials.partition(":")[2] if at else ""


def has_password(url: str) -> bool:
    """Whether the URL itself holds a password (else it comes from $LLMONPY_REDIS_PASSWORD)."""
    credentials, at, _ = url.partition("://")[2].rpartition("@")
    return bool(at) and ":" in credentials


def parse_cache_url(value: str | None) -> str | None:
    """A Redis URL: redis://host[:port][/db], rediss:// (TLS) or unix:///path/to/socket; no ?parameters
    (a password or a timeout there would bypass the plugin's own: the password goes in the environment)."""
    if value is None or not value.strip():
        return None
    url = value.strip()
    shown = mask_password(url)
    scheme = url.partition("://")[0]
    if scheme not in REDIS_SCHEMES or "://" not in url:
        raise ValueError(f"jury_cache_url {shown!r} is not a Redis URL; {_EXPECTED}")
    host_part = url.partition("://")[2].rpartition("@")[2]
    if "?" in host_part or "#" in host_part:
        bare = mask_password(url.split("?", 1)[0].split("#", 1)[0]) + "?..."  # a parameter may be a secret
        raise ValueError(
            f"jury_cache_url {bare!r} has ?parameters, which the plugin does not take: put the password "
            f"in ${REDIS_PASSWORD_ENV}; connection timeouts are the plugin's own"
        )
    if scheme == "unix":
        if not host_part.strip("/"):
            raise ValueError(f"jury_cache_url {shown!r} names no socket; {_EXPECTED}")
        return url
    try:
        parts = urlsplit(f"{scheme}://{host_part}")
        hostname, _ = parts.hostname, parts.port  # the port raises ValueError when it is not one
    except ValueError:
        raise ValueError(f"jury_cache_url {shown!r}: the port is not a number from 1 to 65535") from None
    if not hostname:
        raise ValueError(f"jury_cache_url {shown!r} names no host; {_EXPECTED}")
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise ValueError(f"jury_cache_url {shown!r}: the database after the host must be a number such as /0")
    return url


def parse_name(setting: str, value: str | None) -> str | None:
    """A namespace or budget key: letters, digits, '_', '.', '-' (it becomes part of Redis keys, and
    holds no glob character, so a SCAN of the namespace matches only its own keys)."""
    if value is None or not value.strip():
        return None
    name = value.strip()
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{setting} {name!r} must be 1 to 100 letters, digits, '_', '.' or '-', starting with a letter "
            "or digit, e.g. ci-1234"
        )
    return name


def parse_duration(setting: str, value: str | None) -> float | None:
    """A duration such as 3600, 90m, 12h or 30d; None when unset."""
    if value is None or not value.strip():
        return None
    match = _DURATION.fullmatch(value.strip().lower())
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"] if match else 0.0
    if seconds < 1:
        raise ValueError(
            f"{setting} must be a duration of at least 1 s such as 3600, 90m, 12h or 30d, got {value!r}"
        )
    return seconds


def rootdir_namespace(rootdir: Path) -> str:
    """The default jury_cache_namespace: the rootdir's name, with what a namespace may not hold replaced."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", rootdir.name).lstrip("_.-")[:100]
    return name or "default"


class SharedStoreSettings(NamedTuple):
    """Where a fleet's shared state lives: a Redis URL (its password never shown) and a key prefix."""

    url: str
    namespace: str
    verdict_ttl_s: float | None = None

    @property
    def shown(self) -> str:
        """The URL with any password masked: what messages and reports may print."""
        return mask_password(self.url)
