"""A real litellm proxy (`litellm[proxy]`, in .venv-proxy: scripts/install_litellm_proxy.sh) on a
loopback port, routing model aliases to the loopback fake judge server, as an organisation's gateway
routes them to its providers. No database: the limits it enforces here are those of its router (a
deployment's rpm, a deployment's max_budget), kept in its memory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Set by scripts/check.sh after installing the proxy: its tests fail instead of skipping.
REQUIRE_ENV = "LLMONPY_REQUIRE_PROXY"
# The key the proxy holds for the "provider" behind it: the plugin never sees it.
UPSTREAM_KEY = "sk-upstream-held-by-the-proxy-7788"
# Per token, the prices the proxy's config gives its aliases' deployments.
INPUT_COST, OUTPUT_COST = 0.000001, 0.000002


def proxy_binary() -> Path | None:
    explicit = os.environ.get("LLMONPY_LITELLM_PROXY")
    path = Path(explicit) if explicit else ROOT / ".venv-proxy" / "bin" / "litellm"
    return path if path.is_file() else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config_text(upstream: str) -> str:
    """The proxy's aliases: judge-fast (priced), judge-limited (2 requests a minute) and judge-capped (a
    budget of $0.003: at $0.0012 a call, three calls start under it and the fourth is refused)."""

    def alias(name: str, model: str, extra: str = "") -> str:
        return (
            f"  - model_name: {name}\n    litellm_params:\n      model: openai/{model}\n"
            f"      api_base: {upstream}\n      api_key: {UPSTREAM_KEY}\n"
            f"      input_cost_per_token: {INPUT_COST}\n      output_cost_per_token: {OUTPUT_COST}\n{extra}"
        )

    return (
        "model_list:\n"
        + alias("judge-fast", "judge-a")
        + alias("judge-limited", "judge-b", "      rpm: 2\n")
        + alias("judge-capped", "judge-c", "      max_budget: 0.003\n      budget_duration: 30d\n")
        + "router_settings:\n  routing_strategy: usage-based-routing-v2\n  enable_pre_call_checks: true\n"
        + "litellm_settings:\n  num_retries: 0\n  telemetry: false\n"
        + "general_settings:\n  master_key: os.environ/PROXY_MASTER_KEY\n"
    )


class LitellmProxy:
    def __init__(self, binary: Path, upstream: str, master_key: str, scratch: Path) -> None:
        self.port = _free_port()
        self.master_key = master_key
        self.log = scratch / "proxy.log"
        config = scratch / "proxy.yaml"
        config.write_text(config_text(upstream))
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith(("OPENAI_", "LITELLM_"))
        }
        environment.update(
            PROXY_MASTER_KEY=master_key,
            LITELLM_LOCAL_MODEL_COST_MAP="True",  # its price table from the package, not the network
            LITELLM_MODE="PRODUCTION",  # no .env file read
        )
        environment.pop("DATABASE_URL", None)
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True,
            )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the litellm proxy exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health/liveliness", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"the litellm proxy did not start in {timeout_s:g} s:\n{self.log.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=20)


@contextmanager
def running_proxy(upstream: str, master_key: str, scratch: Path) -> Iterator[LitellmProxy]:
    binary = proxy_binary()
    if binary is None:
        raise FileNotFoundError("no litellm proxy in .venv-proxy (bash scripts/install_litellm_proxy.sh)")
    proxy = LitellmProxy(binary, upstream, master_key, scratch)
    try:
        proxy.wait_until_ready()
        yield proxy
    finally:
        proxy.stop()
