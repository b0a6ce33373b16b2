"""Latency of `activate_esim` -> `payment_required` on a running local stack (`make up`).

    make bench-activate                      # or: .venv/bin/python infra/bench/activate_latency.py
    .venv/bin/python infra/bench/activate_latency.py --users 100 --base-url http://127.0.0.1:3000

For each of --users new people (a fresh uid and email, an ID token from the provider sandbox):
open an MCP client (official Python SDK, Streamable HTTP, the token in the Authorization header),
then time one `tools/call activate_esim`: find-or-create the user, create the Stripe customer,
invoice item and invoice, finalize and send it (at the sandbox), and answer `payment_required`
with the hosted URL. Every answer is checked. As a named peer in the same run, the same number
of `GET /api/health` requests through the same gateway and the same cargo lambda: what a call
costs with no work in it. Prints p50/p90/p99/max for both and their ratio (with 50 samples p99 is
the slowest). Warm-up calls (cold starts) are not counted. Seed target: p99 < 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(samples)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def summary(name: str, samples: list[float]) -> str:
    ms = [x * 1000 for x in samples]
    return (f"{name:<34} n={len(ms):<4} p50 {percentile(ms, 50):8.1f} ms   p90 {percentile(ms, 90):8.1f} ms"
            f"   p99 {percentile(ms, 99):8.1f} ms   max {max(ms):8.1f} ms   mean {statistics.fmean(ms):8.1f} ms")


def new_token(sandbox: httpx.Client) -> tuple[str, str, str]:
    uid = f"bench{uuid.uuid4().hex}"
    email = f"{uid}@example.test"
    r = sandbox.post("/__sandbox/firebase/token", json={"uid": uid, "email": email})
    r.raise_for_status()
    return uid, email, r.json()["id_token"]


async def activate_once(mcp_url: str, token: str) -> tuple[float, float, dict]:
    """(seconds for tools/call, seconds including connect + initialize, the answer)."""
    t0 = time.perf_counter()
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                  timeout=httpx2.Timeout(60)) as http_client:
        async with Client(streamable_http_client(mcp_url, http_client=http_client),
                          read_timeout_seconds=60) as client:
            t1 = time.perf_counter()
            result = await client.call_tool("activate_esim", {})
            t2 = time.perf_counter()
    if result.is_error:
        raise SystemExit(f"activate_esim failed: {result.content}")
    answer = result.structured_content or {}
    if answer.get("status") != "payment_required" or not str(answer.get("invoice_url", "")).startswith("http"):
        raise SystemExit(f"activate_esim answered {answer}, expected payment_required with a URL")
    return t2 - t1, t2 - t0, answer


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", default=os.environ.get("DOTM_BASE_URL", "http://127.0.0.1:3000"))
    p.add_argument("--sandbox-url", default=os.environ.get("DOTM_SANDBOX_URL", "http://127.0.0.1:3001"))
    p.add_argument("--users", type=int, default=50, help="new users, one activate_esim each (50)")
    p.add_argument("--warmup", type=int, default=3, help="uncounted calls of each kind first (3)")
    a = p.parse_args()
    base, mcp_url = a.base_url.rstrip("/"), a.base_url.rstrip("/") + "/mcp"

    with httpx.Client(base_url=a.sandbox_url, timeout=30) as sandbox, \
         httpx.Client(base_url=base, timeout=30) as http:
        try:
            http.get("/api/health").raise_for_status()
            sandbox.get("/__sandbox/health").raise_for_status()
        except httpx.HTTPError as e:
            print(f"no stack at {base} / sandbox at {a.sandbox_url} ({e}); start one with `make up`",
                  file=sys.stderr)
            return 2

        def health() -> float:
            t = time.perf_counter()
            r = http.get("/api/health")
            d = time.perf_counter() - t
            r.raise_for_status()
            return d

        for _ in range(a.warmup):
            health()
            anyio.run(activate_once, mcp_url, new_token(sandbox)[2])

        call, whole, peer = [], [], []
        for _ in range(a.users):  # interleaved, so both see the same machine load
            token = new_token(sandbox)[2]
            c, w, _answer = anyio.run(activate_once, mcp_url, token)
            call.append(c)
            whole.append(w)
            peer.append(health())

    print(f"activate_esim -> payment_required, {a.users} new users, MCP Python SDK via {mcp_url}")
    print(summary("activate_esim (tools/call)", call))
    print(summary("  incl. connect + initialize", whole))
    print(summary("peer: GET /api/health", peer))
    ratio50 = percentile(call, 50) / percentile(peer, 50)
    ratio99 = percentile(call, 99) / percentile(peer, 99)
    print(f"ratio activate_esim / health: p50 {ratio50:.1f}x   p99 {ratio99:.1f}x")
    p99 = percentile(call, 99)
    print(f"target p99 < 2000 ms: {'met' if p99 < 2.0 else 'MISSED'} ({p99 * 1000:.0f} ms)")
    return 0 if p99 < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
