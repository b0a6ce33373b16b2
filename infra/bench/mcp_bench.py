"""MCP serving: `tools/call` throughput and latency, ours against the official Python SDK.

    python infra/bench/mcp_bench.py --lambda-url http://127.0.0.1:3201/lambda-url/mcp/mcp \
        --direct-bin .../release/examples/bench --out .local/bench/mcp.json

Three servers over local HTTP/1.1, driven by the same load generator (infra/bench/load.mjs,
autocannon) with the same request bodies and headers:

- `lambda`: the release `mcp` function behind the Lambda Runtime API, as deployed, here
  cargo lambda's emulator (`cargo lambda watch`, function URL) in the stack that run.sh started;
- `direct`: the same router served directly by axum (functions/mcp/examples/bench.rs `serve`),
  started here;
- `peer`: the official Python MCP SDK serving the same four tools (infra/bench/peer_server.py),
  started here, reading the catalog from the direct router's `/mcp/api`.

First every server is asked every public tool once and the answers are compared with the direct
router's (structured content and text): the peer must do the same work. Then for each tool
(calculate_pricing, search_services) and each concurrency (1, 8, 64) the three are measured one
after the other (so a change in the machine's load touches all three): BENCH_MCP_WARMUP requests
not counted, then exactly BENCH_MCP_REQUESTS (before all of it, one uncounted round at the
highest concurrency, so cargo lambda has started its instances). Per cell also the CPU time of
each server's processes (from /proc) per request: the figure a busy, shared machine does not
change. Peak RSS (VmHWM) of each server process is read at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_start import rss_kb  # noqa: E402

CALLS = {
    "calculate_pricing": {"services": ["basic_membership", "network_security", "global_data_10gb"]},
    "search_services": {"query": "Global Data eSIM"},
}
CHECKS = [
    ("calculate_pricing", CALLS["calculate_pricing"]),
    ("calculate_pricing", {"services": ["full_membership", "vpn_access", "dotm_metal_card", "vpn_access"]}),
    ("calculate_pricing", {"services": ["nope", "basic_membership"]}),
    ("search_services", CALLS["search_services"]),
    ("search_services", {"query": "vpn", "limit": 3}),
    ("search_services", {"query": "DOT eSIM"}),
    ("search_services", {"query": "support", "limit": 10}),
    ("search_services", {"query": "", "category": "network_features", "limit": 3}),
    ("search_services", {"query": "xylophone zebra"}),
    ("get_service_details", {"service_id": "global_data_10gb"}),
    ("compare_memberships", {}),
]
# X-Forwarded-For as API Gateway appends it: our rate limit reads the client's address from it
# (127.0.0.1 is exempt in the benchmark's stack); the same headers go to all three servers.
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "MCP-Protocol-Version": os.environ.get("MCP_PROTOCOL_VERSION", "2025-06-18"),
           "X-Forwarded-For": "127.0.0.1"}


def body(tool: str, args: dict) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": tool, "arguments": args}}).encode()


def call(url: str, tool: str, args: dict) -> dict:
    req = urllib.request.Request(url, data=body(tool, args), headers=HEADERS, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        answer = json.load(r)
    if "result" not in answer:
        raise SystemExit(f"{url} {tool}: {answer}")
    return answer["result"]


def wait_for(url: str, what: str, proc: subprocess.Popen | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            call(url, "compare_memberships", {})
            return
        except (OSError, SystemExit) as e:
            if proc is not None and proc.poll() is not None:
                raise SystemExit(f"{what} exited ({proc.returncode}); see .local/bench/*.log") from e
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} at {url} did not answer: {e}") from e
            time.sleep(0.1)


def same(a: dict, b: dict) -> str | None:
    """None when two tool results say the same, else what differs."""
    sa, sb = a.get("structuredContent"), b.get("structuredContent")
    if bool(a.get("isError")) != bool(b.get("isError")):
        return f"isError {a.get('isError')} vs {b.get('isError')}"
    if sa != sb:
        return f"structured content differs:\n  {json.dumps(sa)[:400]}\n  {json.dumps(sb)[:400]}"
    ta = [c.get("text") for c in a.get("content", [])]
    tb = [c.get("text") for c in b.get("content", [])]
    if ta != tb:
        return f"text differs:\n  {ta!r:.400}\n  {tb!r:.400}"
    return None


def lambda_pids(binary: str) -> list[int]:
    want = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/dotm-target")),
                        "lambda", binary, "bootstrap")
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/exe") == want:
                    pids.append(int(d))
            except OSError:
                pass
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def emulator_pids(port: str) -> list[int]:
    """cargo lambda watch serving on `port` (the emulator the Lambda path goes through)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if b"watch" in args and b"--invoke-port" in args and port.encode() in args:
                out.append(int(d))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lambda-url", required=True)
    p.add_argument("--direct-bin", required=True)
    p.add_argument("--direct-port", type=int, default=3220)
    p.add_argument("--peer-port", type=int, default=3230)
    p.add_argument("--peer-python", default=sys.executable)
    p.add_argument("--node", default="node")
    p.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_MCP_REQUESTS", "5000")))
    p.add_argument("--warmup", type=int, default=int(os.environ.get("BENCH_MCP_WARMUP", "300")))
    p.add_argument("--concurrency", default=os.environ.get("BENCH_MCP_CONCURRENCY", "1,8,64"))
    p.add_argument("--workdir", default=str(ROOT / ".local/bench"))
    p.add_argument("--out", required=True)
    a = p.parse_args()
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    loadavg_before = [round(x, 2) for x in os.getloadavg()]

    direct_url = f"http://127.0.0.1:{a.direct_port}/mcp"
    peer_url = f"http://127.0.0.1:{a.peer_port}/mcp"
    procs: dict[str, subprocess.Popen] = {}
    try:
        with open(work / "direct.log", "wb") as log:
            procs["direct"] = subprocess.Popen([a.direct_bin, "serve", f"127.0.0.1:{a.direct_port}"],
                                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        wait_for(direct_url, "the direct router", procs["direct"])
        with open(work / "peer.log", "wb") as log:
            procs["peer"] = subprocess.Popen(
                [a.peer_python, str(ROOT / "infra/bench/peer_server.py"), "--port", str(a.peer_port),
                 "--catalog-url", f"http://127.0.0.1:{a.direct_port}/mcp/api"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_for(peer_url, "the Python peer", procs["peer"])
        wait_for(a.lambda_url, "the mcp function (cargo lambda)", None, timeout=120)
        targets = {"lambda": a.lambda_url, "direct": direct_url, "peer": peer_url}

        # The same answers from all three, or the comparison means nothing.
        problems = []
        for tool, args in CHECKS:
            reference = call(direct_url, tool, args)
            for name in ("lambda", "peer"):
                diff = same(reference, call(targets[name], tool, args))
                if diff:
                    problems.append(f"{name} {tool} {json.dumps(args)}: {diff}")
        for line in problems:
            print(f"  answer check: {line}", file=sys.stderr)
        if problems:
            raise SystemExit("the servers do not answer the same; not measuring")
        print(f"  answer check: the three servers answer {len(CHECKS)} tool calls identically",
              file=sys.stderr)

        env = dict(os.environ, AUTOCANNON_DIR=str(work / "npm/node_modules/autocannon"))

        def load(url: str, body_file: Path, c: int, n: int, warmup: int, out: Path) -> None:
            subprocess.run([a.node, str(ROOT / "infra/bench/load.mjs"), url, str(body_file), str(c),
                            str(n), str(warmup), str(out)], check=True, env=env, stdout=subprocess.DEVNULL)

        # Before anything is measured, the highest concurrency once on each server: cargo lambda
        # starts its instances (Lambda's scaling), every process warms up.
        top = max(int(x) for x in a.concurrency.split(","))
        for tool, args in CALLS.items():
            body_file = work / f"body-{tool}.json"
            body_file.write_bytes(body(tool, args))
            for url in targets.values():
                load(url, body_file, top, max(a.warmup, 10 * top), 0, work / "prewarm.json")

        results = []
        for tool, args in CALLS.items():
            body_file = work / f"body-{tool}.json"
            for c in [int(x) for x in a.concurrency.split(",")]:
                for name, url in targets.items():
                    out = work / f"load-{tool}-{name}-c{c}.json"
                    if name == "lambda":
                        port = a.lambda_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
                        pids = {"server": lambda_pids("mcp"), "emulator": emulator_pids(port)}
                    else:
                        pids = {"server": [procs[name].pid], "emulator": []}
                    # CPU time of the server's processes over the whole cell (warm-up included,
                    # so per request it is divided by both): what a request costs, whatever else
                    # the machine runs.
                    before = {k: cpu_seconds(v) for k, v in pids.items()}
                    load(url, body_file, c, a.requests, a.warmup, out)
                    if name == "lambda":
                        pids["server"] = lambda_pids("mcp")
                    cpu = {k: cpu_seconds(v) - before[k] for k, v in pids.items()}
                    r = json.loads(out.read_text())
                    n = a.requests + a.warmup
                    r["cpu_us_per_request"] = cpu["server"] * 1e6 / n
                    r["emulator_cpu_us_per_request"] = cpu["emulator"] * 1e6 / n
                    if r["errors"] or r["non2xx"] or r["timeouts"]:
                        raise SystemExit(f"{name} {tool} c={c}: {r['errors']} errors, {r['non2xx']} "
                                         f"non-2xx, {r['timeouts']} timeouts")
                    r.update(target=name, tool=tool)
                    results.append(r)
                    print(f"  {tool:<18} c={c:<3} {name:<7} {r['rps']:9.0f} req/s   p50 {r['p50_ms']:7.3f} ms"
                          f"   p99 {r['p99_ms']:7.3f} ms   CPU {r['cpu_us_per_request']:6.0f} µs/request"
                          + (f" (+ emulator {r['emulator_cpu_us_per_request']:.0f})" if name == "lambda" else ""),
                          file=sys.stderr)
        rss = {"direct": rss_kb(procs["direct"].pid)[0], "peer": rss_kb(procs["peer"].pid)[0],
               "lambda": max([rss_kb(pid)[0] for pid in lambda_pids("mcp")] or [0]),
               "lambda_instances": len(lambda_pids("mcp"))}
        Path(a.out).write_text(json.dumps({"requests": a.requests, "warmup": a.warmup,
                                           "results": results, "peak_rss_kb": rss,
                                           "checked_calls": len(CHECKS),
                                           "loadavg_before": loadavg_before,
                                           "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                                           "lambda_concurrency": os.environ.get("LAMBDA_CONCURRENCY", "10")},
                                          indent=1))
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
