"""Cold start: process start to first answered invocation, for each release function and the peer.

    python infra/bench/cold_start.py --out .local/bench/cold.json [--runs 10] [--port 3240]

Each release `bootstrap` is started as Lambda starts it: a fresh process whose environment is
what the local stack gives the functions (the providers' exports that this script inherits from
infra/bench/run.sh, as cargo lambda passes them, plus the variables Lambda itself sets:
AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME, memory size, ...), against a tiny Lambda
Runtime API emulated here: `GET /2018-06-01/runtime/invocation/next` hands it one event (the
committed sample in events/ for that function: a tools/call, GET /api/health, a freshly signed
invoice.paid, an SQS batch with one job), and its `POST .../response` stops the clock. So the time
includes everything a cold start does: the process, telemetry, settings, the secrets read from
the AWS emulator, the SDK clients, and the first request itself. Peak RSS (VmHWM from
/proc/<pid>/status) is read right after that first answer.

The peer (infra/bench/peer_server.py, official Python MCP SDK) is timed the same way: process
start until its first `tools/call calculate_pricing` over HTTP is answered (its start includes
reading the catalog from --catalog-url once, as ours includes reading its secrets).
Medians of --runs runs; every run is kept in the JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "/2018-06-01/runtime"


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in kB of a running process, 0 when gone."""
    hwm = rss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return hwm, rss


class Runtime(ThreadingHTTPServer):
    """One invocation per run: `next` hands `event` once, then holds later polls."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int):
        super().__init__(("127.0.0.1", port), Handler)
        self.lock = threading.Lock()
        self.reset(b"{}")

    def handle_error(self, request, client_address) -> None:
        pass  # a killed process's connection

    def reset(self, event: bytes) -> None:
        with self.lock:
            self.event = event
            self.handed = False
            self.request_id = str(uuid.uuid4())
            self.answered = threading.Event()
            self.answer_at = 0.0
            self.next_at = 0.0
            self.answer: bytes = b""
            self.error: str | None = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Runtime

    def log_message(self, *_args) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        if self.path != f"{PREFIX}/invocation/next":
            return self._send(404)
        s = self.server
        with s.lock:
            first = not s.handed
            s.handed = True
            if first:
                s.next_at = time.perf_counter()
        if not first:
            # A second poll: the run is over; hold it until the process is stopped.
            s.answered.wait(30)
            time.sleep(30)
            return self._send(204)
        deadline = int(time.time() * 1000) + 10_000
        self._send(200, s.event, {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": s.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
        })

    def do_POST(self) -> None:  # noqa: N802
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        s = self.server
        if self.path.endswith("/response"):
            s.answer_at = time.perf_counter()
            s.answer = body
        elif self.path.endswith("/error"):
            s.answer_at = time.perf_counter()
            s.error = body.decode("utf-8", "replace")[:500]
        else:
            return self._send(404)
        self._send(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
        s.answered.set()


def signed_webhook_event() -> bytes:
    event = json.loads((ROOT / "events/stripe-invoice-paid.json").read_text())
    secret = os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_local").encode()
    t = int(time.time())
    sig = hmac.new(secret, f"{t}.{event['body']}".encode(), hashlib.sha256).hexdigest()
    event["headers"]["stripe-signature"] = f"t={t},v1={sig}"
    return json.dumps(event).encode()


def events() -> dict[str, callable]:
    def sample(name: str):
        return lambda: (ROOT / "events" / name).read_bytes()
    return {
        "mcp": sample("mcp-tools-call.json"),
        "api": sample("api-health.json"),
        "stripe-webhook": signed_webhook_event,
        "activation-worker": sample("activation-job.json"),
        "reward-minter": sample("mint-request.json"),
    }


def function_env(name: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "_HANDLER": "bootstrap",
    })
    return env


def cold_function(name: str, bootstrap: Path, event, port: int, log) -> dict:
    """One cold start, with a Runtime API of its own (so a stopped process's late poll can never
    take the next run's event)."""
    runtime = Runtime(port)
    threading.Thread(target=runtime.serve_forever, daemon=True).start()
    runtime.reset(event())
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(bootstrap)], env=function_env(name, port), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, cwd="/tmp")
    try:
        if not runtime.answered.wait(30):
            raise SystemExit(f"{name}: no answer within 30 s (see the cold-start log)")
        hwm, _ = rss_kb(proc.pid)
        if runtime.error:
            raise SystemExit(f"{name}: the invocation failed: {runtime.error}")
        return {"ms": (runtime.answer_at - t0) * 1000, "init_ms": (runtime.next_at - t0) * 1000,
                "peak_rss_kb": hwm, "answer": runtime.answer[:200].decode("utf-8", "replace")}
    finally:
        proc.kill()
        proc.wait()
        runtime.shutdown()
        runtime.server_close()


PEER_CALL = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": "calculate_pricing",
    "arguments": {"services": ["basic_membership", "network_security", "global_data_10gb"]}}}).encode()
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def cold_peer(python: str, peer_port: int, catalog_url: str, log) -> dict:
    url = f"http://127.0.0.1:{peer_port}/mcp"
    t0 = time.perf_counter()
    proc = subprocess.Popen([python, str(ROOT / "infra/bench/peer_server.py"), "--port", str(peer_port),
                             "--catalog-url", catalog_url], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit("the peer exited before answering (see the cold-start log)")
            if time.perf_counter() - t0 > 60:
                raise SystemExit("the peer did not answer within 60 s")
            try:
                req = urllib.request.Request(url, data=PEER_CALL, headers=MCP_HEADERS, method="POST")
                with urllib.request.urlopen(req, timeout=10) as r:
                    body = r.read()
                t1 = time.perf_counter()
                if b"monthly_recurring" not in body:
                    raise SystemExit(f"the peer answered {body[:200]!r}")
                break
            except (ConnectionError, urllib.error.URLError, socket.timeout):
                time.sleep(0.002)
        hwm, _ = rss_kb(proc.pid)
        return {"ms": (t1 - t0) * 1000, "peak_rss_kb": hwm}
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def summary(runs: list[dict]) -> dict:
    ms = [r["ms"] for r in runs]
    return {"p50_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
            "peak_rss_kb": max(r["peak_rss_kb"] for r in runs), "runs": runs}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_COLD_RUNS", "10")))
    p.add_argument("--port", type=int, default=3240,
                   help="the emulated Runtime API: runs take ports PORT .. PORT+7 in turn")
    p.add_argument("--peer-port", type=int, default=3248)
    p.add_argument("--peer-python", default=sys.executable)
    p.add_argument("--catalog-url", required=True)
    p.add_argument("--lambda-dir", default=os.path.join(os.environ.get(
        "CARGO_TARGET_DIR", os.path.expanduser("~/.cache/dotm-target")), "lambda"))
    p.add_argument("--log", default=str(ROOT / ".local/bench/cold_start.log"))
    a = p.parse_args()

    results: dict[str, dict] = {}
    k = 0

    def port() -> int:
        nonlocal k
        k += 1
        return a.port + k % 8

    with open(a.log, "ab") as log:
        for name, event in events().items():
            bootstrap = Path(a.lambda_dir) / name / "bootstrap"
            if not bootstrap.exists():
                raise SystemExit(f"{bootstrap} is missing: build the release functions first")
            cold_function(name, bootstrap, event, port(), log)  # page cache, not counted
            runs = [cold_function(name, bootstrap, event, port(), log) for _ in range(a.runs)]
            results[name] = summary(runs)
            r = results[name]
            print(f"  cold start {name:<18} p50 {r['p50_ms']:7.1f} ms  (min {r['min_ms']:.1f}, max "
                  f"{r['max_ms']:.1f})  peak RSS {r['peak_rss_kb'] / 1024:.1f} MB   first answer: "
                  f"{runs[0]['answer'][:80]}", file=sys.stderr)
        cold_peer(a.peer_python, a.peer_port, a.catalog_url, log)  # .pyc and page cache, not counted
        peer = [cold_peer(a.peer_python, a.peer_port, a.catalog_url, log) for _ in range(a.runs)]
        results["peer"] = summary(peer)
        print(f"  cold start {'peer (Python SDK)':<18} p50 {results['peer']['p50_ms']:7.1f} ms  "
              f"peak RSS {results['peer']['peak_rss_kb'] / 1024:.1f} MB", file=sys.stderr)
    Path(a.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
