"""The $1 eSIM payment end to end on the running stack (issue 4; DESIGN §5 steps 1-4): an ID token
from the provider sandbox, `POST /api/esim/activate`, a Stripe invoice at the
sandbox, the sandbox paying it and delivering a signed `invoice.paid` to /webhooks/stripe, and
the purchase as the API lists it. Only real HTTP; every test makes users of its own."""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from conftest import User

PRODUCT = "esim_beta"


def invoices_of(sandbox: httpx.Client, email: str) -> list[dict[str, Any]]:
    r = sandbox.get("/__sandbox/stripe/invoices", params={"customer_email": email})
    r.raise_for_status()
    return r.json()["data"]


def customers_of(sandbox: httpx.Client, email: str) -> list[dict[str, Any]]:
    r = sandbox.get("/__sandbox/stripe/customers", params={"email": email})
    r.raise_for_status()
    return r.json()["data"]


def purchases_of(http: httpx.Client, user: User) -> list[dict[str, Any]]:
    r = http.get("/api/user-purchases", headers=user.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True, body
    return body["purchases"]


def activate_api(http: httpx.Client, user: User, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = http.post("/api/esim/activate", headers=user.auth, json=body or {})
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    return r.json()


def pay(sandbox: httpx.Client, invoice_id: str, **body: Any) -> dict[str, Any]:
    r = sandbox.post(f"/__sandbox/stripe/invoices/{invoice_id}/pay", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def parse_time(s: str) -> datetime:
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    assert t.tzinfo is not None, s
    return t


def check_payment_required(answer: dict[str, Any]) -> None:
    assert answer["status"] == "payment_required", answer
    assert answer["product_id"] == PRODUCT, answer
    assert answer["invoice_id"].startswith("in_"), answer
    assert answer["invoice_url"].startswith("http"), answer
    assert answer["amount"] == 1.0 and answer["amount_cents"] == 100, answer
    assert answer["currency"] == "usd", answer
    assert answer["message"], answer


def check_paid(answer: dict[str, Any], invoice_id: str) -> None:
    """After payment the answer is the activation's state for that purchase (DESIGN §5 step 6):
    queued (waiting for a carrier permit) or already active; never another invoice."""
    assert answer["status"] in ("queued", "active"), answer
    assert answer["purchase_id"] == invoice_id, answer
    assert answer["message"], answer
    assert "invoice_url" not in answer and "invoice_id" not in answer, answer


def check_one_purchase(purchases: list[dict[str, Any]], invoice_id: str) -> None:
    assert len(purchases) == 1, purchases
    p = purchases[0]
    assert p["purchase_id"] == invoice_id, p
    assert p["product_id"] == PRODUCT and p["product_name"], p
    assert p["amount"] == 1.0 and p["amount_cents"] == 100 and p["currency"] == "usd", p
    assert abs(parse_time(p["paid_at"]).timestamp() - time.time()) < 600, p


# --------------------------------------------------------------------------- concurrency


def test_ten_concurrent_first_activations_make_one_customer_and_one_invoice(
    base_url: str, sandbox: httpx.Client, new_user
) -> None:
    user: User = new_user()  # never seen: the user itself is made by these calls too

    def activate(_: int) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=120) as c:
            return c.post("/api/esim/activate", headers=user.auth, json={})

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(activate, range(10)))

    assert [r.status_code for r in responses] == [200] * 10, [(r.status_code, r.text) for r in responses]
    answers = [r.json() for r in responses]
    for a in answers:
        check_payment_required(a)
    assert len({a["invoice_id"] for a in answers}) == 1, answers
    assert len({a["invoice_url"] for a in answers}) == 1, answers

    customers = customers_of(sandbox, user.email)
    assert len(customers) == 1, customers
    invoices = invoices_of(sandbox, user.email)
    assert [i["id"] for i in invoices] == [answers[0]["invoice_id"]], invoices


# --------------------------------------------------------------------------- duplicates


def test_a_redelivered_paid_event_records_one_purchase(http: httpx.Client, sandbox: httpx.Client,
                                                       new_user) -> None:
    user: User = new_user()
    invoice_id = activate_api(http, user)["invoice_id"]
    event_id = pay(sandbox, invoice_id)["event_id"]
    check_one_purchase(purchases_of(http, user), invoice_id)

    for _ in range(2):
        r = sandbox.post(f"/__sandbox/stripe/events/{event_id}/redeliver", json={})
        assert r.status_code == 200, r.text
        assert r.json()["delivery"]["status"] in range(200, 300), r.json()  # a duplicate is no error

    check_one_purchase(purchases_of(http, user), invoice_id)
    check_paid(activate_api(http, user), invoice_id)
    attempts = sandbox.get(f"/__sandbox/stripe/events/{event_id}").json()["attempts"]
    assert len(attempts) == 3 and all(200 <= a["status"] < 300 for a in attempts), attempts


# --------------------------------------------------------------------------- webhook signatures

DEAD_URL = "http://127.0.0.1:9/webhooks/stripe"  # the discard port: nothing listens


def stripe_signature(secret: str, body: bytes, t: int, scheme: str = "v1") -> str:
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},{scheme}={mac}"


@pytest.fixture
def undelivered_paid_event(http: httpx.Client, sandbox: httpx.Client, new_user):
    """A user with an open invoice that the sandbox has paid, its `invoice.paid` event sent to a
    dead URL: (user, invoice id, event id, the exact bytes that Stripe signs and sends)."""
    user: User = new_user()
    invoice_id = activate_api(http, user)["invoice_id"]
    paid = pay(sandbox, invoice_id, webhook_url=DEAD_URL)
    assert not paid["delivery"]["ok"], paid["delivery"]
    event_id = paid["event_id"]
    event = sandbox.get(f"/__sandbox/stripe/events/{event_id}").json()["event"]
    body = json.dumps(event, indent=2).encode()  # byte for byte what the sandbox sends
    assert purchases_of(http, user) == []
    return user, invoice_id, event_id, body


def _refused_cases(secret: str, body: bytes) -> dict[str, tuple[bytes, dict[str, str]]]:
    now = int(time.time())
    tampered = body.replace(b'"amount_paid": 100', b'"amount_paid": 10000', 1)
    assert tampered != body
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    json_ct = {"Content-Type": "application/json; charset=utf-8"}
    return {
        "forged": (body, {**json_ct, "Stripe-Signature": stripe_signature("whsec_not_ours", body, now)}),
        "tampered": (tampered, {**json_ct, "Stripe-Signature": stripe_signature(secret, body, now)}),
        "re-serialized": (compact, {**json_ct, "Stripe-Signature": stripe_signature(secret, body, now)}),
        "stale": (body, {**json_ct, "Stripe-Signature": stripe_signature(secret, body, now - 301)}),
        "missing": (body, json_ct),
        "v0-only": (body, {**json_ct, "Stripe-Signature": stripe_signature(secret, body, now, "v0")}),
        "no-timestamp": (body, {**json_ct, "Stripe-Signature":
                                stripe_signature(secret, body, now).split(",", 1)[1]}),
    }


REFUSED = list(_refused_cases("x", b'{"amount_paid": 100}'))


@pytest.mark.parametrize("case", REFUSED)
def test_webhook_refuses_bad_signatures_and_writes_nothing(
    http: httpx.Client, webhook_secret: str, undelivered_paid_event, case: str
) -> None:
    user, invoice_id, event_id, body = undelivered_paid_event
    data, headers = _refused_cases(webhook_secret, body)[case]
    r = http.post("/webhooks/stripe", content=data, headers=headers)
    assert r.status_code == 400, (case, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    assert r.json()["status"] == 400, r.text

    # Nothing written: no purchase, still payment_required for the same invoice ...
    assert purchases_of(http, user) == []
    state = activate_api(http, user)
    assert state["status"] == "payment_required" and state["invoice_id"] == invoice_id, state

    # ... and no dedupe marker either: the genuine event with that id is recorded afterwards.
    # (This also shows that the refused request differed from an accepted one only in the defect.)
    now = int(time.time())
    wrong = stripe_signature("whsec_not_ours", body, now).split(",")[1]
    genuine = f"{stripe_signature(webhook_secret, body, now)},{wrong}"  # any matching v1 passes
    ok = http.post("/webhooks/stripe", content=body,
                   headers={"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": genuine})
    assert ok.status_code in range(200, 300), (ok.status_code, ok.text)
    check_one_purchase(purchases_of(http, user), invoice_id)


def test_webhook_refusals_leave_purchases_of_a_paying_user_unchanged(
    base_url: str, http: httpx.Client, sandbox: httpx.Client, webhook_secret: str, undelivered_paid_event
) -> None:
    """Every refused request in a row, then Stripe's own delivery: exactly one purchase."""
    user, invoice_id, event_id, body = undelivered_paid_event
    for case, (data, headers) in _refused_cases(webhook_secret, body).items():
        r = http.post("/webhooks/stripe", content=data, headers=headers)
        assert r.status_code == 400, (case, r.status_code, r.text)
    assert purchases_of(http, user) == []

    r = sandbox.post(f"/__sandbox/stripe/events/{event_id}/redeliver",
                     json={"webhook_url": f"{base_url}/webhooks/stripe"})
    assert r.status_code == 200 and r.json()["delivery"]["status"] in range(200, 300), r.text
    check_one_purchase(purchases_of(http, user), invoice_id)
