"""The judges of the package smoke suite: tests/fake_llm_server.py, copied next to this file by
scripts/check_package.sh, scripted to fail every output that mentions "60 days" and pass the rest.

Usage: python smoke_server.py URL_FILE. Writes the server's base URL to URL_FILE once it listens,
serves until SIGTERM, then prints how many judge requests reached it, so the script can tell live
calls from cached ones without trusting the plugin's own summary.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from fake_llm_server import running_server

REASON = "it says 60 days, the policy says 30"


def main() -> None:
    url_file = Path(sys.argv[1])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with running_server() as server:
        server.judge("fail", REASON, output_contains="60 days")
        # Written whole then renamed: the script polls for the file and must never read half a URL.
        partial = url_file.with_suffix(".partial")
        partial.write_text(server.url)
        partial.replace(url_file)
        while not stop.wait(0.2):
            pass
        print(f"judge requests: {len(server.calls(status=None))}", flush=True)


if __name__ == "__main__":
    main()
