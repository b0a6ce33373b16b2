"""The activation pipeline on the benchmark's stack: payment -> active, and a drain of a backlog.

    python infra/bench/pipeline.py latency --out .local/bench/latency.json [--users 50]
    python infra/bench/pipeline.py drain --count 300 --limit 10 --window 4 --bench-bin BIN --out F
    python infra/bench/pipeline.py drain --in-process --count 10000 --limit 100 --window 2 \
        --bench-bin BIN --out F

`latency` and `drain` run against the stack that infra/bench/run.sh started (the release
functions under cargo lambda, moto, the provider sandbox, the SQS event source, the gateway) and
read its exports (DOTM_SANDBOX_URL, ...) and its function log (DOTM_STACK_LOGDIR); the stack's
ACTIVATIONS_PER_WINDOW / ACTIVATION_WINDOW_SECONDS must be --limit / --window.
`drain --in-process` needs no stack. BIN is functions/mcp/examples/bench.rs, built.

`latency`: --users people one after another, each under the limit: an ID token from the
sandbox, `POST /api/esim/activate` (the $1.00 invoice), then the clock starts as the sandbox
pays the invoice (Stripe's `invoice.paid` goes to the webhook through the gateway at once) and
stops when `POST /api/esim/activate` answers `active` (polled every 20 ms). The first --warmup
people (cold starts) are not counted. Where the time went, from the functions' JSON log lines
(their timestamps) and the sandbox's records of each carrier and mail call:

    webhook     payment -> the slot reserved (signature, dedup, purchase and claim recorded,
                activation created; under the limit the slot is the time of reserving it)
    enqueue     slot reserved -> the job sent to SQS (`activation queued`)
    queue wait  job sent -> the worker's permit (`[ACTIVATION ALLOWED]`): SQS, the event source,
                the worker's read and claim of the activation, the throttle's permit
    carrier     permit -> the carrier's answer (the sandbox's `ended_at` of the call)
    record      carrier answer -> the line stored (`eSIM active`)
    mail        line stored -> the QR email at the mail API (the sandbox's `at`; after `active`)

`drain`: COUNT activations are put in line at once (BIN `enqueue`: the real enqueue use case
and adapters, a user with an email address each) on a stack whose licence is scaled down, and
the worker drains the line. Measured from the sandbox's record of every carrier call (`at`: when
the call reached the carrier) and the slot each job was given (its ETA, as the person is told):
the time to drain, throttle violations (any window of the licence's length holding more than the
limit of carrier calls), and the ETA error (actual start - ETA). The AWS emulator (moto, one
request at a time, ~100-200 requests/s here) carries a few activations a second, so this
backlog is small. `--in-process` drains the issue's 10,000 with the same enqueue and worker code
on the in-memory ports (BIN `drain`: the machine's clock, SQS's delays and Lambda's batching
imitated), starts taken from the worker's permit log lines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx

STAGES = ["webhook", "enqueue", "queue wait", "carrier", "record", "mail"]


def percentile(samples: list[float], p: float) -> float:
    s = sorted(samples)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def log_events(logdir: Path) -> list[dict]:
    """The functions' JSON log lines (cargo lambda writes each instance's stdout to lambda.log)."""
    out = []
    with open(logdir / "lambda.log", errors="replace") as f:
        for line in f:
            i = line.find("{")
            if i < 0:
                continue
            try:
                ev = json.loads(line[i:])
            except ValueError:
                continue
            if isinstance(ev, dict) and "timestamp" in ev and "fields" in ev:
                out.append(ev)
    return out


def by_uid(events: list[dict], message_prefix: str) -> dict[str, float]:
    """First timestamp per short uid of the log lines whose message starts with the prefix."""
    found: dict[str, float] = {}
    for ev in events:
        f = ev["fields"]
        msg = str(f.get("message", ""))
        if not msg.startswith(message_prefix):
            continue
        uid = f.get("uid")
        if uid is None and msg.startswith("[") and " uid " in msg:
            uid = msg.split(" uid ", 1)[1].split(" ", 1)[0]
        if uid:
            found.setdefault(str(uid).rstrip("…")[:8], ts(ev["timestamp"]))
    return found


def wait_for(check, timeout: float, every: float = 0.02):
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        v = check()
        if v:
            return v
        time.sleep(every)
    raise SystemExit(f"gave up after {timeout} s")


def latency(a) -> dict:
    run = uuid.uuid4().hex[:6]
    people = []
    with httpx.Client(base_url=a.base_url, timeout=30) as api, \
            httpx.Client(base_url=a.sandbox_url, timeout=30) as sandbox:
        for i in range(a.warmup + a.users):
            uid = f"{i:04d}{run[:4]}p{run}"  # unique in its first 8 characters (the logs' short uid)
            token = sandbox.post("/__sandbox/firebase/token",
                                 json={"uid": uid, "email": f"{uid}@example.test"}).json()["id_token"]
            auth = {"Authorization": f"Bearer {token}"}
            first = api.post("/api/esim/activate", headers=auth).json()
            if first.get("status") != "payment_required":
                raise SystemExit(f"expected payment_required, got {first}")
            paid_at = time.time()
            paid = sandbox.post(f"/__sandbox/stripe/invoices/{first['invoice_id']}/pay")
            paid.raise_for_status()
            delivery = paid.json()["delivery"]
            if not delivery.get("ok"):
                raise SystemExit(f"the webhook refused invoice.paid: {delivery}")

            def active():
                r = api.post("/api/esim/activate", headers=auth)
                return r if r.status_code == 200 and r.json().get("status") == "active" else None

            wait_for(active, 60)
            active_at = time.time()
            people.append({"uid": uid, "email": f"{uid}@example.test",
                           "invoice": first["invoice_id"], "paid_at": paid_at,
                           "active_at": active_at, "warmup": i < a.warmup,
                           "webhook_answered_at": delivery["at"] + delivery["duration_ms"] / 1000})
            print(f"  {i + 1:>3}/{a.warmup + a.users}: active after {1000 * (active_at - paid_at):6.0f} ms"
                  f"{' (warm-up)' if i < a.warmup else ''}", file=sys.stderr)
        time.sleep(1.0)  # the last mail and log lines
        # The carrier (OXIO: no idempotency key) knows a person by their end user's email.
        carrier = {(c["email"] or "").lower(): c
                   for c in sandbox.get("/__sandbox/carrier/calls").json()["calls"]
                   if c.get("status") in (200, 201) and c.get("line_id")}
        mails = {}
        for c in sandbox.get("/__sandbox/mail/calls").json()["calls"]:
            key = c.get("idempotency_key") or ""
            if key.startswith("dotm-activation-email-"):
                mails.setdefault(key.removeprefix("dotm-activation-email-"), c)

    events = log_events(Path(a.logdir))
    queued = {}
    for ev in events:
        f = ev["fields"]
        if f.get("message") == "activation queued":
            queued.setdefault(str(f["uid"]).rstrip("…")[:8], (ts(ev["timestamp"]), int(f["slot_ms"]) / 1000))
    allowed = by_uid(events, "[ACTIVATION ALLOWED]")
    stored = by_uid(events, "eSIM active")
    rows = []
    for p in people:
        if p["warmup"]:
            continue
        short = p["uid"][:8]
        c, m = carrier.get(p["email"].lower()), mails.get(p["invoice"])
        if short not in queued or short not in allowed or short not in stored or c is None or m is None:
            raise SystemExit(f"incomplete trace for {p['uid']} ({p['invoice']}): queued {short in queued}, "
                             f"allowed {short in allowed}, stored {short in stored}, carrier {c is not None}, "
                             f"mail {m is not None}; see {a.logdir}/lambda.log")
        sent_at, slot = queued[short]
        points = [p["paid_at"], slot, sent_at, allowed[short], c["ended_at"], stored[short], m["at"]]
        stages = {name: (points[k + 1] - points[k]) * 1000 for k, name in enumerate(STAGES)}
        rows.append({"total_ms": (p["active_at"] - p["paid_at"]) * 1000,
                     "to_mail_ms": (m["at"] - p["paid_at"]) * 1000,
                     "webhook_answer_ms": (p["webhook_answered_at"] - p["paid_at"]) * 1000,
                     "stages_ms": stages})
    totals = [r["total_ms"] for r in rows]
    result = {
        "users": a.users, "warmup": a.warmup,
        "limit": int(os.environ.get("ACTIVATIONS_PER_WINDOW", "100")),
        "window_seconds": int(os.environ.get("ACTIVATION_WINDOW_SECONDS", "3600")),
        "p50_ms": percentile(totals, 50), "p99_ms": percentile(totals, 99), "max_ms": max(totals),
        "to_mail_p50_ms": percentile([r["to_mail_ms"] for r in rows], 50),
        "stages": {name: {"p50_ms": percentile([r["stages_ms"][name] for r in rows], 50),
                          "p99_ms": percentile([r["stages_ms"][name] for r in rows], 99)}
                   for name in STAGES},
        "samples_ms": sorted(totals),
        "rows": rows,
    }
    print(f"  payment -> active: p50 {result['p50_ms']:.0f} ms  p99 {result['p99_ms']:.0f} ms  "
          f"({a.users} activations)", file=sys.stderr)
    for name in STAGES:
        s = result["stages"][name]
        print(f"    {name:<11} p50 {s['p50_ms']:7.1f} ms   p99 {s['p99_ms']:7.1f} ms", file=sys.stderr)
    return result


def drain_email(purchase_id: str) -> str:
    """The email of the person behind a drain purchase, as BIN `enqueue` makes them
    (functions/mcp/examples/bench.rs: purchase `in_drain{i:06}{run}`, email
    `drain{i}.{run}@example.test`), for an enqueue file that does not list it."""
    rest = purchase_id.removeprefix("in_drain")
    return f"drain{int(rest[:6])}.{rest[6:]}@example.test"


def violations(starts: list[float], limit: int, window: float) -> tuple[int, int]:
    """(windows [t, t + window) starting at a call that hold more than `limit` calls, the most
    calls in any such window)."""
    s = sorted(starts)
    bad, most, j = 0, 0, 0
    for i in range(len(s)):
        while j < len(s) and s[j] < s[i] + window:
            j += 1
        n = j - i
        most = max(most, n)
        if n > limit:
            bad += 1
    return bad, most


def drain(a) -> dict:
    """The backlog drain; `--in-process` for the worker's code on the in-memory ports."""
    limit, window = a.limit, a.window
    work = Path(a.workdir)
    mode = "in-process" if a.in_process else "stack"
    out = work / f"drain-{mode}-enqueued.txt"
    log_path = work / f"drain-{mode}.log"
    t0 = time.time()
    if a.in_process:
        with open(log_path, "wb") as log:
            subprocess.run([a.bench_bin, "drain", str(a.count), str(limit), str(int(window * 1000)), str(out)],
                           check=True, stdout=log, stderr=log, timeout=a.count / limit * window * 2 + 600)
        # Enqueueing takes milliseconds in memory: each job's own time is in the file.
    else:
        with open(log_path, "wb") as log:
            subprocess.run([a.bench_bin, "enqueue", str(a.count), str(out), str(a.enqueue_concurrency)],
                           check=True, stdout=log, stderr=log)
    jobs = {}
    for line in out.read_text().split("\n"):
        if line.strip():
            pid, uid, ticket, slot, enq, *email = line.split()
            jobs[pid] = {"uid": uid, "ticket": int(ticket), "slot": int(slot) / 1000, "enqueued": int(enq) / 1000,
                         "email": (email[0] if email else drain_email(pid)).lower()}
    if len(jobs) != a.count:
        raise SystemExit(f"enqueued {len(jobs)} of {a.count}")
    last_enqueued = max(j["enqueued"] for j in jobs.values())
    last_slot = max(j["slot"] for j in jobs.values())
    print(f"  drain ({mode}): {a.count} activations enqueued in {last_enqueued - t0:.1f} s; the last ETA is "
          f"{last_slot - t0:.0f} s after the start ({limit} per {window:g} s)", file=sys.stderr)

    if a.in_process:
        # Starts: the worker's permit, logged right before its (in-memory) carrier call.
        by_short = {j["uid"][:8]: pid for pid, j in jobs.items()}
        events = []
        with open(log_path, errors="replace") as f:
            for line in f:
                if line.startswith("{"):
                    try:
                        events.append(json.loads(line))
                    except ValueError:
                        pass
        allowed = by_uid(events, "[ACTIVATION ALLOWED]")
        done = {by_short[u]: t for u, t in allowed.items() if u in by_short}
        all_starts = [ts(ev["timestamp"]) for ev in events
                      if str(ev.get("fields", {}).get("message", "")).startswith("[ACTIVATION ALLOWED]")]
        rate_limited = sum(1 for ev in events
                           if str(ev.get("fields", {}).get("message", "")).startswith("[RATE LIMITED]"))
        source = "the worker's permit log line, right before its carrier call (in memory)"
    else:
        done = {}
        deadline = last_slot + a.grace
        by_email = {j["email"]: pid for pid, j in jobs.items()}  # the carrier's calls are by email
        with httpx.Client(base_url=a.sandbox_url, timeout=60) as sandbox:
            while True:
                calls = [c for c in sandbox.get("/__sandbox/carrier/calls").json()["calls"]
                         if (c["email"] or "").lower() in by_email]
                done = {}
                for c in calls:
                    if c.get("status") in (200, 201) and c.get("line_id"):
                        done.setdefault(by_email[c["email"].lower()], c["at"])
                if len(done) >= a.count:
                    break
                if time.time() > deadline:
                    print(f"  drain: only {len(done)} of {a.count} activated {a.grace:.0f} s after the last "
                          "ETA; reporting what was done", file=sys.stderr)
                    break
                print(f"  drain: {len(done)}/{a.count} at the carrier", file=sys.stderr)
                time.sleep(5)
        all_starts = [c["at"] for c in calls]
        events = log_events(Path(a.logdir))
        rate_limited = sum(1 for ev in events
                           if str(ev["fields"].get("message", "")).startswith("[RATE LIMITED]"))
        source = "the carrier sandbox's record of each call's arrival"
        # The same count on the worker's own permit log lines (written once the permit's write
        # returned), to tell the throttle's decisions from the time between a permit and its call.
        permits = [ts(ev["timestamp"]) for ev in events
                   if str(ev["fields"].get("message", "")).startswith("[ACTIVATION ALLOWED]")]
        permit_check = violations(permits, limit, window)
    t_done = max(done.values()) if done else time.time()
    bad, most = violations(all_starts, limit, window)
    errors = sorted((done[k] - jobs[k]["slot"]) * 1000 for k in done)
    ideal = (a.count - 1) // limit * window  # the licence's own bound: full windows one after another
    result = {
        "mode": mode, "starts_from": source,
        "count": a.count, "activated": len(done), "limit": limit, "window_seconds": window,
        "enqueue_seconds": last_enqueued - t0,
        "drain_seconds": t_done - t0,
        "licence_bound_seconds": ideal,
        "carrier_calls": len(all_starts),
        "throttle_violations": bad, "most_in_a_window": most,
        "eta_error_ms": {"p50": percentile(errors, 50), "p99": percentile(errors, 99),
                         "min": errors[0], "max": errors[-1],
                         "max_abs": max(abs(errors[0]), abs(errors[-1]))} if errors else None,
        "rate_limited_log_lines": rate_limited,
        "permit_log_violations": None if a.in_process else permit_check[0],
        "permit_log_most_in_a_window": None if a.in_process else permit_check[1],
        "eta_errors_ms_percentiles": [percentile(errors, q) for q in range(0, 101)] if errors else [],
        "starts_per_second": per_second(sorted(done.values()), t0),
    }
    e = result["eta_error_ms"] or {"p50": float("nan"), "p99": float("nan"), "max_abs": float("nan")}
    print(f"  drain ({mode}): {len(done)} activated in {result['drain_seconds']:.1f} s (licence bound "
          f"{ideal:.0f} s); {bad} throttle violations (most in any {window:g} s: {most}, limit {limit}); "
          f"ETA error p50 {e['p50']:.0f} ms, p99 {e['p99']:.0f} ms, max |error| {e['max_abs']:.0f} ms",
          file=sys.stderr)
    return result


def per_second(starts: list[float], t0: float) -> list[int]:
    if not starts:
        return []
    n = int(starts[-1] - t0) + 1
    counts = [0] * n
    for s in starts:
        counts[max(0, int(s - t0))] += 1
    return counts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    for name in ("latency", "drain"):
        s = sub.add_parser(name)
        s.add_argument("--out", required=True)
        s.add_argument("--base-url", default=os.environ.get("DOTM_BASE_URL", "http://127.0.0.1:3200"))
        s.add_argument("--sandbox-url", default=os.environ.get("DOTM_SANDBOX_URL", "http://127.0.0.1:3202"))
        s.add_argument("--logdir", default=os.environ.get("DOTM_STACK_LOGDIR", ".local/bench/stack"))
        s.add_argument("--workdir", default=".local/bench")
    lat = sub.choices["latency"]
    lat.add_argument("--users", type=int, default=int(os.environ.get("BENCH_ACTIVATIONS", "50")))
    lat.add_argument("--warmup", type=int, default=3)
    dr = sub.choices["drain"]
    dr.add_argument("--count", type=int, required=True)
    dr.add_argument("--limit", type=int, required=True)
    dr.add_argument("--window", type=float, required=True, help="seconds")
    dr.add_argument("--in-process", action="store_true")
    dr.add_argument("--bench-bin", required=True, help="functions/mcp/examples/bench.rs, built")
    dr.add_argument("--enqueue-concurrency", type=int, default=2)
    dr.add_argument("--grace", type=float, default=120.0, help="seconds past the last ETA to wait")
    a = p.parse_args()
    result = latency(a) if a.what == "latency" else drain(a)
    Path(a.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
