"""The local servers log one JSON line per event from many threads into one file, and tests read
those files (the event source's batches say which message was delivered with which receive
count). Every line must stay whole under concurrency: `print(..., flush=True)` under `python -u`
writes the text and the newline separately, and two threads then make `{a}{b}\\n\\n`, two lines
lost (a fresh-clone `make test` failed on one such lost batch line)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from private_sandbox import PrivateSandbox

ROOT = Path(__file__).resolve().parent.parent
THREADS, EACH = 5, 2000

# As providers.sh runs it: `python -u`, stdout appended to a file; one poller thread per batch in
# flight, as MaximumConcurrency gives.
BURST = f"""
import sys, threading
sys.path.insert(0, {str(ROOT / "infra")!r})
import sqs_event_source as es

def poller(n):
    for i in range({EACH}):
        es.log(function="ActivationWorker", batch=3, message_ids=[f"{{n}}-{{i}}-{{k}}" for k in range(3)],
               receive_counts=[1, 1, 2], outcome="ok")

threads = [threading.Thread(target=poller, args=(n,)) for n in range({THREADS})]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def json_or_none(line: str) -> dict | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


def test_event_source_lines_stay_whole_when_its_pollers_log_at_once() -> None:
    with tempfile.TemporaryFile() as out:
        subprocess.run([sys.executable, "-u", "-c", BURST], stdout=out, stderr=subprocess.STDOUT,
                       check=True, timeout=120)
        out.seek(0)
        lines = out.read().decode().splitlines()
    broken = [line for line in lines if json_or_none(line) is None]
    assert broken == [], f"{len(broken)} of {len(lines)} lines are not JSON, e.g. {broken[:2]}"
    ids = {mid for line in lines for mid in json.loads(line)["message_ids"]}
    assert len(lines) == THREADS * EACH and len(ids) == 3 * THREADS * EACH


def test_sandbox_request_lines_stay_whole_under_concurrent_requests() -> None:
    box = PrivateSandbox()
    try:
        def client(n: int) -> set[int]:
            with httpx.Client(base_url=box.url, timeout=30) as c:  # keep-alive, as the SDKs
                return {c.get("/__sandbox/health", params={"n": f"{n}-{i}"}).status_code
                        for i in range(EACH // 20)}

        with ThreadPoolExecutor(8) as pool:
            assert set().union(*pool.map(client, range(8))) == {200}
        lines = [line for line in box.log().splitlines() if line.strip()]
    finally:
        box.close()
    records = [json_or_none(line) for line in lines]
    broken = [line for line, r in zip(lines, records) if r is None]
    assert broken == [], f"{len(broken)} of {len(lines)} lines are not JSON, e.g. {broken[:2]}"
    asked = {r["query"] for r in records
             if r.get("path") == "/__sandbox/health" and r["query"].startswith("n=")}
    assert len(asked) == 8 * (EACH // 20)
