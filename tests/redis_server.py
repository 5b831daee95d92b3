"""A real `redis-server` on a loopback port, started and stopped by the tests and benchmarks.

The binary comes from Debian's `redis-server` package (scripts/install_redis.sh, run by check.sh), or
whatever `redis-server` is on PATH ($LLMONPY_REDIS_SERVER names another). Nothing is persisted: no RDB
snapshot, no AOF, a scratch working directory. `kill()` stops it with SIGKILL, as a crashed or
preempted Redis stops.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

# Set by scripts/check.sh after installing Redis: the tests that need it fail instead of skipping.
REQUIRE_ENV = "LLMONPY_REQUIRE_REDIS"


def redis_binary() -> str | None:
    return shutil.which(os.environ.get("LLMONPY_REDIS_SERVER") or "redis-server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    def __init__(self, binary: str, password: str | None = None) -> None:
        self.binary = binary
        self.password = password
        self.port = _free_port()
        self._scratch = Path(tempfile.mkdtemp(prefix="llmonpy-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self._scratch), "--protected-mode", "yes"]
        if self.password:
            args += ["--requirepass", self.password]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                    connection.sendall(b"PING\r\n")
                    reply = connection.recv(64)
                if reply.startswith((b"+PONG", b"-NOAUTH")):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within 30 s")

    def client(self) -> redis.Redis:
        import redis

        return redis.Redis(port=self.port, password=self.password, decode_responses=True)

    def kill(self) -> None:
        """SIGKILL: whatever it held is gone, as when a Redis crashes."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=30)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self._scratch, ignore_errors=True)


@contextmanager
def running_redis(password: str | None = None) -> Iterator[RedisServer]:
    binary = redis_binary()
    if binary is None:
        raise FileNotFoundError("no redis-server on PATH (scripts/install_redis.sh installs Debian's)")
    for attempt in range(3):  # another process may take the free port before redis-server binds it
        try:
            server = RedisServer(binary, password).start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()
