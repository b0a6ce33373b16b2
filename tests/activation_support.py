"""Shared steps of the activation end-to-end tests (issue 5): users who pay, the state the API
reports, what the sandbox's carrier and mailbox saw, and the queues in the AWS emulator.

The stack's throttle comes from ACTIVATIONS_PER_WINDOW / ACTIVATION_WINDOW_SECONDS (the same
variables the functions read; `make test` runs with a scaled-down window, e.g. 5 per 10 s) and
ACTIVATION_MAX_ATTEMPTS (template.yaml: 5)."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import httpx

from conftest import User

LIMIT = int(os.environ.get("ACTIVATIONS_PER_WINDOW", "100"))
WINDOW = float(os.environ.get("ACTIVATION_WINDOW_SECONDS", "3600"))
MAX_ATTEMPTS = int(os.environ.get("ACTIVATION_MAX_ATTEMPTS", "5"))
SMDP = "smdp.sandbox.oxio.local"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Buyer:
    user: User
    invoice_id: str
    paid_at: float = 0.0  # when the pay call returned (the webhook had answered)
    answer: dict[str, Any] = field(default_factory=dict)  # /api/esim/activate right after paying
    asked: tuple[float, float] = (0.0, 0.0)  # that request's start and end

    @property
    def purchase_id(self) -> str:
        return self.invoice_id


def parse_time(s: str) -> float:
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    assert t.tzinfo is not None, s
    return t.timestamp()


def activate(http: httpx.Client, user: User) -> dict[str, Any]:
    r = http.post("/api/esim/activate", headers=user.auth, json={})
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def buyers(base_url: str, new_user, n: int) -> list[Buyer]:
    """n new users, each with the open $1 invoice that activate_esim made them."""
    users = [new_user() for _ in range(n)]

    def one(u: User) -> Buyer:
        with httpx.Client(base_url=base_url, timeout=60) as c:
            for _ in range(3):  # a 503 says "try again in a moment": a client may (see below)
                r = c.post("/api/esim/activate", headers=u.auth, json={})
                if r.status_code != 503:
                    break
                time.sleep(1)
            assert r.status_code == 200, (r.status_code, r.text)
            a = r.json()
        assert a["status"] == "payment_required", a
        return Buyer(u, a["invoice_id"])

    # Setup, not under test: a few at a time. (The emulator serializes requests:
    # infra/moto_server.py; a 503 is still retried, as a client may.)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, users))


def pay(sandbox: httpx.Client, b: Buyer, delivered: bool = True) -> None:
    """Pays; with `delivered`, the webhook must have taken the event on the first attempt (else
    the sandbox retries it, as Stripe does)."""
    r = sandbox.post(f"/__sandbox/stripe/invoices/{b.invoice_id}/pay", json={})
    assert r.status_code == 200, r.text
    if delivered:
        assert r.json()["delivery"]["status"] in range(200, 300), r.json()["delivery"]
    b.paid_at = time.time()


def pay_and_ask(http: httpx.Client, sandbox: httpx.Client, b: Buyer) -> None:
    """Pays, then at once asks the API for the activation's state (position, ETA)."""
    pay(sandbox, b)
    t0 = time.time()
    b.answer = activate(http, b.user)
    b.asked = (t0, time.time())


def wait_until(pred, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def states(http: httpx.Client, bs: list[Buyer]) -> dict[str, dict]:
    return {b.purchase_id: activate(http, b.user) for b in bs}


def wait_all(http: httpx.Client, bs: list[Buyer], status: str, timeout: float) -> dict[str, dict]:
    def done():
        s = states(http, bs)
        pending = {k: v["status"] for k, v in s.items() if v["status"] != status}
        return s if not pending else None

    return wait_until(done, timeout, f"{len(bs)} activations to be {status}", every=1.0)


def time_for(n_jobs: int) -> float:
    """Generous time for n jobs to pass the throttle (plus the backlog of earlier tests)."""
    windows = (n_jobs + 2 * LIMIT) // LIMIT + 1
    return min(windows * WINDOW, 3600) + 90


# --------------------------------------------------------------------------- the sandbox


def carrier_calls(sandbox: httpx.Client, email: str | None = None) -> list[dict]:
    """Every line-creation call (POST /v3/lines/line) the carrier saw; with `email`, those for
    that person's OXIO end user (each test user has an email of their own)."""
    r = sandbox.get("/__sandbox/carrier/calls", params={"email": email} if email else None)
    r.raise_for_status()
    return r.json()["calls"]


def carrier_lines(sandbox: httpx.Client, email: str) -> list[dict]:
    """The lines the carrier made for that person's end user (OXIO's line objects)."""
    r = sandbox.get("/__sandbox/carrier/lines", params={"email": email})
    r.raise_for_status()
    return r.json()["lines"]


def made_calls(calls: list[dict]) -> list[dict]:
    """The calls that made a line (OXIO has no idempotency key: each of these is a line)."""
    return [c for c in calls if c["status"] in range(200, 300) and c["line_id"]]


def one_line(sandbox: httpx.Client, email: str) -> dict:
    """One purchase, one line: exactly one line at the carrier for that person, made by exactly
    one successful line-creation call (whatever failed, timed out or was delivered twice)."""
    lines = carrier_lines(sandbox, email)
    assert len(lines) == 1, (email, [ln["lineId"] for ln in lines])
    made = made_calls(carrier_calls(sandbox, email))
    assert [c["line_id"] for c in made] == [lines[0]["lineId"]], (email, made)
    return lines[0]


def line_number(line: dict) -> str:
    """A carrier line's phone number (OXIO: phoneNumbers[0].phoneNumber)."""
    return line["phoneNumbers"][0]["phoneNumber"]


def arm(sandbox: httpx.Client, **fault) -> None:
    r = sandbox.post("/__sandbox/carrier/faults", json=fault)
    assert r.status_code == 200, r.text


def mail_to(sandbox: httpx.Client, email: str) -> list[dict]:
    r = sandbox.get("/__sandbox/mail/messages", params={"to": email})
    r.raise_for_status()
    return r.json()["messages"]


def first_starts(calls: list[dict]) -> dict[str, float]:
    """Email (the person's end user) -> start of their first line-creation call."""
    out: dict[str, float] = {}
    for c in sorted(calls, key=lambda c: c["at"]):
        if c["email"]:
            out.setdefault(c["email"], c["at"])
    return out


def busiest_window(times: list[float], window: float) -> tuple[int, list[float]]:
    """Most starts in any half-open window [t, t + window), with those starts."""
    ts = sorted(times)
    best: tuple[int, list[float]] = (0, [])
    j = 0
    for i in range(len(ts)):
        while ts[i] - ts[j] >= window:
            j += 1
        if i - j + 1 > best[0]:
            best = (i - j + 1, ts[j:i + 1])
    return best


def window_problem(sandbox: httpx.Client) -> str | None:
    """Why the carrier's call log breaks the licence (more than L starts in a W window), or None.
    Every call counts, retries too: each is a line-creation call the carrier sees (the probes
    of tests/test_sandbox_carrier.py, end users `sandbox-probe-...`, are not the worker's)."""
    calls = [c for c in carrier_calls(sandbox)
             if not str(c.get("email") or "").startswith("sandbox-probe-")]
    n, starts = busiest_window([c["at"] for c in calls], WINDOW)
    if n <= LIMIT:
        return None
    emails = [c["email"] for c in calls if c["at"] in starts]
    return (f"{n} carrier calls started within {WINDOW}s (limit {LIMIT}): offsets "
            f"{[round(t - starts[0], 3) for t in starts]} from {starts[0]:.3f}, emails {emails}")


def check_window(sandbox: httpx.Client) -> None:
    problem = window_problem(sandbox)
    assert problem is None, problem


def check_active(answer: dict, line: dict) -> None:
    """`answer` (DOTM's) shows the carrier's `line` (OXIO's line object)."""
    assert answer["status"] == "active", answer
    assert answer["phone_number"] == line_number(line), (answer, line)
    assert answer["iccid"] == line["sim"]["iccid"], (answer, line)
    assert answer["lpa_code"] == line["sim"]["activationCode"], (answer, line)
    assert line["sim"]["activationCode"].startswith(f"LPA:1${SMDP}$"), line
    check_qr_data_url(answer["qr_code"])
    parse_time(answer["activated_at"])


def check_qr_data_url(url: str) -> None:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix), url[:60]
    assert base64.b64decode(url[len(prefix):]).startswith(PNG_MAGIC)


def check_email(sandbox: httpx.Client, b: Buyer, line: dict) -> None:
    # The payment's receipt and the welcome mail (a new profile) are mails of their own
    # (tests/test_commerce.py and tests/test_beta.py check them).
    msgs = [m for m in mail_to(sandbox, b.user.email)
            if not (m["subject"] or "").startswith(("Your DOTM receipt", "Welcome to DOTM"))]
    assert len(msgs) == 1, [(m["subject"], m["idempotency_key"]) for m in msgs]
    m = msgs[0]
    lpa = line["sim"]["activationCode"]
    for part in (m["text"] or "", m["html"] or ""):
        if part:
            assert line_number(line) in part and lpa in part, part
    pngs = [a for a in m["attachments"] if a["content_type"] == "image/png"]
    assert len(pngs) == 1, m["attachments"]
    assert base64.b64decode(pngs[0]["content"]).startswith(PNG_MAGIC)
    assert pngs[0]["size"] > 100


def phone_numbers(http: httpx.Client, user: User) -> list[dict]:
    r = http.get("/api/user-phone-numbers", headers=user.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True, body
    return body["phone_numbers"]


# --------------------------------------------------------------------------- AWS emulator


def aws(service: str):
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    assert endpoint, "AWS_ENDPOINT_URL is not set (run under `make test`)"
    return boto3.client(service, endpoint_url=endpoint,
                        region_name=os.environ.get("AWS_REGION", "us-east-1"),
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))


def dlq_jobs() -> list[dict]:
    """The bodies on the activation dead-letter queue (peeked: they come back in 3 s)."""
    url = os.environ.get("ACTIVATION_DLQ_URL")
    assert url, "ACTIVATION_DLQ_URL is not set (run under `make test`)"
    sqs = aws("sqs")
    seen: dict[str, dict] = {}
    for _ in range(20):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=3,
                                  WaitTimeSeconds=0).get("Messages", [])
        if not got:
            break
        for m in got:
            try:
                seen[m["MessageId"]] = json.loads(m["Body"])
            except ValueError:
                seen[m["MessageId"]] = {"raw": m["Body"]}
    return list(seen.values())


def activation_record(uid: str, purchase_id: str) -> dict:
    table = os.environ.get("TABLE_NAME")
    assert table, "TABLE_NAME is not set (run under `make test`)"
    item = aws("dynamodb").get_item(TableName=table, ConsistentRead=True, Key={
        "pk": {"S": f"USER#{uid}"}, "sk": {"S": f"ACTIVATION#{purchase_id}"}}).get("Item")
    assert item, f"no ACTIVATION#{purchase_id} under USER#{uid}"
    return {k: (v.get("S") if "S" in v else int(v["N"]) if "N" in v else v) for k, v in item.items()}


def send_duplicate_job(b: Buyer, delay_seconds: int = 0) -> None:
    """A second delivery of the job, as SQS may make (its body as the webhook sends it)."""
    rec = activation_record(b.user.uid, b.purchase_id)
    job = {"purchase_id": b.purchase_id, "uid": b.user.uid, "ticket": rec["ticket"],
           "slot_ms": rec["slot_ms"], "attempts": 0}
    aws("sqs").send_message(QueueUrl=os.environ["ACTIVATION_QUEUE_URL"],
                            MessageBody=json.dumps(job), DelaySeconds=delay_seconds)

