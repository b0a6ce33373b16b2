"""One log line, written whole: the local servers log from many threads to one file.

`print(line, flush=True)` is two writes under `python -u` (the text, then the newline), so two
threads can interleave as `{a}{b}\\n\\n` and both lines stop being JSON (tests read these logs:
a lost event-source line looked like a message never delivered)."""

from __future__ import annotations

import sys
import threading

_OUT = threading.Lock()


def write_line(line: str) -> None:
    with _OUT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
