"""Payment -> active latency on a running local stack (`make up`), under the carrier licence.

    make bench-activation          # or: .venv/bin/python infra/bench/activation_latency.py --users 20

For each of --users new people, one after another (so the run stays under the licence): an ID
token from the provider sandbox, `POST /api/esim/activate` (the $1.00 invoice), then the clock
starts as the sandbox pays the invoice (which delivers the signed `invoice.paid` to the webhook,
which queues the activation; the SQS event source hands it to the worker, which calls the
carrier, stores the line and emails the QR code); the clock stops when `POST
/api/esim/activate` answers `active`, polled every 20 ms. As a named peer in the same run:
payment -> the purchase being listed by `GET /api/user-purchases` (the webhook's share of the
path). Prints p50/p99/max of both and their ratio; the first --warmup users (cold starts of the
functions) are not counted. Seed target: p99 <= 2 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

import httpx


def percentile(samples: list[float], p: float) -> float:
    s = sorted(samples)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def line(name: str, samples: list[float]) -> str:
    ms = [x * 1000 for x in samples]
    return (f"{name:<40} n={len(ms):<3} p50 {percentile(ms, 50):7.0f} ms   "
            f"p99 {percentile(ms, 99):7.0f} ms   max {max(ms):7.0f} ms")


def wait_for(check, timeout: float = 30.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if check():
            return time.perf_counter()
        time.sleep(0.02)
    raise SystemExit(f"gave up after {timeout} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", default=os.environ.get("DOTM_BASE_URL", "http://127.0.0.1:3000"))
    p.add_argument("--sandbox-url", default=os.environ.get("DOTM_SANDBOX_URL", "http://127.0.0.1:3001"))
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2, help="uncounted first users: cold starts (2)")
    a = p.parse_args()
    to_active, to_listed = [], []
    with httpx.Client(base_url=a.base_url, timeout=30) as api, \
            httpx.Client(base_url=a.sandbox_url, timeout=30) as sandbox:
        for i in range(a.warmup + a.users):
            uid = f"benchpay{uuid.uuid4().hex[:16]}"
            token = sandbox.post("/__sandbox/firebase/token",
                                 json={"uid": uid, "email": f"{uid}@example.test"}).json()["id_token"]
            auth = {"Authorization": f"Bearer {token}"}
            first = api.post("/api/esim/activate", headers=auth).json()
            if first.get("status") != "payment_required":
                raise SystemExit(f"expected payment_required, got {first}")
            paid_at = time.perf_counter()
            sandbox.post(f"/__sandbox/stripe/invoices/{first['invoice_id']}/pay").raise_for_status()
            listed = wait_for(lambda: api.get("/api/user-purchases", headers=auth).json()["purchases"])
            active = wait_for(lambda: api.post("/api/esim/activate", headers=auth).json()["status"] == "active")
            if i < a.warmup:
                continue
            to_listed.append(listed - paid_at)
            to_active.append(active - paid_at)
            print(f"  {i + 1 - a.warmup:>3}/{a.users}: active after {1000 * (active - paid_at):6.0f} ms",
                  file=sys.stderr)
    print(line("payment -> active (activate_esim)", to_active))
    print(line("peer: payment -> purchase listed", to_listed))
    print(f"ratio (active / listed): p50 {percentile(to_active, 50) / percentile(to_listed, 50):.2f}x"
          f"   p99 {percentile(to_active, 99) / percentile(to_listed, 99):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
