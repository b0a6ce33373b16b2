"""A provider sandbox of a test module's own (infra/sandbox/server.py on a free port), for tests
that arm faults or reset state and so must not share the stack's sandbox."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateSandbox:
    def __init__(self, *flags: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile()  # one line per request: a pipe could fill and block
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(ROOT / "infra" / "sandbox" / "server.py"),
             "--port", str(self.port), *flags],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{self.url}/__sandbox/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = self.output()
                self.close()
                raise RuntimeError(f"sandbox did not start: {out}")
            time.sleep(0.1)

    def output(self) -> str:
        return self.log()[-4000:]

    def log(self) -> str:
        """Everything it printed so far."""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
