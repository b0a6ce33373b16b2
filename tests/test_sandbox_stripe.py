"""The provider sandbox's Stripe contract: what DOTM's Stripe adapter and webhook rely on.

Runs against the sandbox of the running stack (DOTM_SANDBOX_URL, STRIPE_SECRET_KEY,
STRIPE_WEBHOOK_SECRET, all exported by infra/scripts/providers.sh). Webhook deliveries in these
tests go to a receiver started here (the pay call's `webhook_url`), not to the stack's webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest


def _env(name: str) -> str:
    v = os.environ.get(name)
    if not v:
        pytest.fail(f"{name} is not set: run under `make test`, or source "
                    "infra/scripts/providers.sh, call providers_start and export its variables")
    return v


@pytest.fixture(scope="module")
def sandbox() -> str:
    url = _env("DOTM_SANDBOX_URL").rstrip("/")
    try:
        httpx.get(f"{url}/__sandbox/health", timeout=5).raise_for_status()
    except httpx.HTTPError as e:
        pytest.fail(f"no provider sandbox at {url}: {e}")
    return url


@pytest.fixture(scope="module")
def stripe(sandbox):
    key = _env("STRIPE_SECRET_KEY")
    with httpx.Client(base_url=f"{sandbox}/v1", timeout=30,
                      headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


@pytest.fixture(scope="module")
def webhook_secret() -> str:
    return _env("STRIPE_WEBHOOK_SECRET")


def verify_stripe_signature(payload: bytes, header: str, secret: str, tolerance: int = 300) -> int:
    """As Stripe documents it: t and v1 from the header, HMAC-SHA256 of "<t>.<payload>" with the
    endpoint secret, constant-time compare against every v1, timestamp within the tolerance."""
    items = [p.split("=", 1) for p in header.split(",")]
    t = [v for k, v in items if k == "t"]
    v1 = [v for k, v in items if k == "v1"]
    assert len(t) == 1 and v1, header
    expected = hmac.new(secret.encode(), f"{t[0]}.".encode() + payload, hashlib.sha256).hexdigest()
    assert any(hmac.compare_digest(expected, s) for s in v1), "signature does not match"
    assert abs(time.time() - int(t[0])) <= tolerance, "timestamp outside tolerance"
    return int(t[0])


class Receiver:
    """A tiny webhook endpoint: records each request; answers the statuses it is given in turn.
    With `types`, events of other types are answered 200 and neither recorded nor counted."""

    def __init__(self, statuses=(200,), types: tuple[str, ...] | None = None):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        rec = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if types is not None and json.loads(body).get("type") not in types:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                rec.requests.append({"headers": dict(self.headers), "body": body,
                                     "at": time.time()})
                status = rec.statuses.pop(0) if len(rec.statuses) > 1 else rec.statuses[0]
                out = json.dumps({"received": True, "n": len(rec.requests)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*statuses):
        # The pay endpoint's invoice.paid only (its invoice_payment.paid follows on its own).
        r = Receiver(statuses or (200,), types=("invoice.paid",))
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def email() -> str:
    return f"sbx-{uuid.uuid4().hex[:12]}@example.com"


def open_invoice(stripe, cents=(100,), mail=None, uid="u-test") -> dict:
    """Customer + send_invoice draft + items + finalize, as DOTM's billing adapter does."""
    cus = stripe.post("/customers", data={"email": mail or email(),
                                          "metadata[firebase_uid]": uid}).json()
    inv = stripe.post("/invoices", data={
        "customer": cus["id"], "collection_method": "send_invoice", "days_until_due": "7",
        "metadata[firebase_uid]": uid, "metadata[product_id]": "esim_beta"}).json()
    assert inv["status"] == "draft", inv
    for c in cents:
        r = stripe.post("/invoiceitems", data={"customer": cus["id"], "amount": str(c),
                                               "currency": "usd", "invoice": inv["id"],
                                               "description": "eSIM Beta Activation"})
        assert r.status_code == 200, r.text
    r = stripe.post(f"/invoices/{inv['id']}/finalize")
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return pred()


# ---- API shape and auth ---------------------------------------------------------------------

def test_customer_form_encoded_with_nested_metadata(stripe):
    mail = email()
    r = stripe.post("/customers", content=f"email={mail.replace('@', '%40')}"
                    "&metadata%5Bfirebase_uid%5D=uid-1&metadata%5Bsource%5D=mcp",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["request-id"].startswith("req_")
    cus = r.json()
    assert cus["object"] == "customer" and cus["id"].startswith("cus_")
    assert cus["email"] == mail and cus["livemode"] is False
    assert cus["metadata"] == {"firebase_uid": "uid-1", "source": "mcp"}
    got = stripe.get(f"/customers/{cus['id']}").json()
    assert got == cus
    listed = stripe.get("/customers", params={"email": mail}).json()
    assert listed["object"] == "list" and listed["url"] == "/v1/customers"
    assert [c["id"] for c in listed["data"]] == [cus["id"]] and listed["has_more"] is False


def test_wrong_or_missing_key_is_401_in_stripes_shape(sandbox):
    for headers in ({"Authorization": "Bearer sk_test_not_the_key"}, {}):
        r = httpx.post(f"{sandbox}/v1/customers", data={"email": email()}, headers=headers)
        assert r.status_code == 401, r.text
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error" and err["message"]
    assert "sk_test_not_the_key" not in r.text  # the key is masked, as Stripe does


def test_unknown_parameter_missing_param_and_404(stripe):
    r = stripe.post("/customers", data={"emial": "x@example.com"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "emial"
    assert r.json()["error"]["code"] == "parameter_unknown"
    r = stripe.post("/invoices", data={"collection_method": "send_invoice"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "customer"
    r = stripe.get("/invoices/in_doesnotexist")
    assert r.status_code == 404 and r.json()["error"]["code"] == "resource_missing"
    r = stripe.post("/customers", json={"email": "x@example.com"})
    assert r.status_code == 400, "Stripe takes form bodies, not JSON"


def test_idempotency_key_replays_first_response_and_creates_nothing(stripe, sandbox):
    mail, key = email(), f"idem-{uuid.uuid4()}"
    first = stripe.post("/customers", data={"email": mail}, headers={"Idempotency-Key": key})
    again = stripe.post("/customers", data={"email": mail}, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(stripe.get("/customers", params={"email": mail}).json()["data"]) == 1
    other = stripe.post("/customers", data={"email": email()}, headers={"Idempotency-Key": key})
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    # concurrent first uses of one key still make one object
    key2, mail2 = f"idem-{uuid.uuid4()}", email()
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(stripe.post(
        "/customers", data={"email": mail2}, headers={"Idempotency-Key": key2}).json()["id"]))
        for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert len(httpx.get(f"{sandbox}/__sandbox/stripe/customers",
                         params={"email": mail2}).json()["data"]) == 1


# ---- invoices -------------------------------------------------------------------------------

def test_invoice_lifecycle_draft_open_paid(stripe, sandbox, receiver, webhook_secret):
    mail = email()
    cus = stripe.post("/customers", data={"email": mail, "metadata[firebase_uid]": "u-life"}).json()
    inv = stripe.post("/invoices", data={
        "customer": cus["id"], "collection_method": "send_invoice", "days_until_due": "7",
        "metadata[firebase_uid]": "u-life", "auto_advance": "false"}).json()
    assert inv["id"].startswith("in_") and inv["status"] == "draft"
    assert inv["amount_due"] == 0 and inv["hosted_invoice_url"] is None
    item = stripe.post("/invoiceitems", data={
        "customer": cus["id"], "amount": "100", "currency": "usd", "invoice": inv["id"],
        "description": "eSIM Beta Activation", "metadata[product_id]": "esim_beta"}).json()
    assert item["id"].startswith("ii_") and item["amount"] == 100 and item["invoice"] == inv["id"]
    item2 = stripe.post("/invoiceitems", data={
        "customer": cus["id"], "unit_amount_decimal": "25", "quantity": "2", "currency": "usd",
        "invoice": inv["id"]}).json()
    assert item2["amount"] == 50 and item2["quantity"] == 2
    draft = stripe.get(f"/invoices/{inv['id']}").json()
    assert (draft["subtotal"], draft["total"], draft["amount_due"]) == (150, 150, 150)
    assert [li["amount"] for li in draft["lines"]["data"]] == [50, 100]
    assert all(li["id"].startswith("il_") for li in draft["lines"]["data"])

    opened = stripe.post(f"/invoices/{inv['id']}/finalize").json()
    assert opened["status"] == "open" and opened["number"]
    assert opened["status_transitions"]["finalized_at"] is not None
    assert opened["due_date"] == opened["status_transitions"]["finalized_at"] + 7 * 86400
    assert opened["hosted_invoice_url"] == f"{sandbox}/__sandbox/stripe/hosted/{inv['id']}"
    page = httpx.get(opened["hosted_invoice_url"])
    assert page.status_code == 200 and "$1.50" in page.text
    assert stripe.post(f"/invoices/{inv['id']}/finalize").status_code == 400
    r = stripe.post("/invoiceitems", data={"customer": cus["id"], "amount": "5",
                                           "currency": "usd", "invoice": inv["id"]})
    assert r.status_code == 400, "items only go on drafts"
    sent = stripe.post(f"/invoices/{inv['id']}/send")
    assert sent.status_code == 200 and sent.json()["status"] == "open"

    listed = stripe.get("/invoices", params={"customer": cus["id"], "status": "open"}).json()
    assert [i["id"] for i in listed["data"]] == [inv["id"]]
    assert stripe.get("/invoices", params={"customer": cus["id"],
                                           "status": "paid"}).json()["data"] == []

    rx = receiver(200)
    paid = httpx.post(f"{sandbox}/__sandbox/stripe/invoices/{inv['id']}/pay",
                      json={"webhook_url": rx.url}).json()
    assert paid["invoice"]["status"] == "paid"
    assert paid["invoice"]["amount_paid"] == 150 and paid["invoice"]["amount_remaining"] == 0
    assert paid["invoice"]["status_transitions"]["paid_at"] is not None
    assert paid["delivery"]["status"] == 200 and paid["delivery"]["ok"] is True
    assert httpx.post(f"{sandbox}/__sandbox/stripe/invoices/{inv['id']}/pay").status_code == 400

    # the delivery, exactly as Stripe makes it
    assert len(rx.requests) == 1
    req = rx.requests[0]
    assert req["headers"]["Content-Type"] == "application/json; charset=utf-8"
    verify_stripe_signature(req["body"], req["headers"]["Stripe-Signature"], webhook_secret)
    with pytest.raises(AssertionError):
        verify_stripe_signature(req["body"] + b" ", req["headers"]["Stripe-Signature"],
                                webhook_secret)
    event = json.loads(req["body"])
    assert event["object"] == "event" and event["id"].startswith("evt_")
    assert event["type"] == "invoice.paid" and event["livemode"] is False
    assert event["api_version"] and isinstance(event["created"], int)
    assert event["data"]["object"]["id"] == inv["id"]
    assert event["data"]["object"]["status"] == "paid"
    assert event["data"]["object"]["metadata"] == {"firebase_uid": "u-life"}
    assert event["data"]["object"]["customer"] == cus["id"]
    assert paid["event_id"] == event["id"]

    # the sandbox's own records
    events = httpx.get(f"{sandbox}/__sandbox/stripe/events",
                       params={"invoice": inv["id"]}).json()["data"]
    assert [e["type"] for e in events] == ["invoice.paid", "invoice_payment.paid"]
    events = events[:1]
    assert [e["id"] for e in events] == [event["id"]]
    assert [a["status"] for a in events[0]["attempts"]] == [200]
    assert json.loads(events[0]["attempts"][0]["body"]) == {"received": True, "n": 1}
    invoices = httpx.get(f"{sandbox}/__sandbox/stripe/invoices",
                         params={"customer_email": mail}).json()["data"]
    assert [(i["id"], i["status"]) for i in invoices] == [(inv["id"], "paid")]
    assert len(invoices[0]["sandbox"]["sent_at"]) == 1


def test_pending_items_join_an_invoice_that_includes_them(stripe):
    cus = stripe.post("/customers", data={"email": email()}).json()
    stripe.post("/invoiceitems", data={"customer": cus["id"], "currency": "usd",
                                       "price_data[currency]": "usd",
                                       "price_data[product]": "prod_esim",
                                       "price_data[unit_amount]": "100"})
    excluded = stripe.post("/invoices", data={"customer": cus["id"],
                                              "collection_method": "send_invoice",
                                              "days_until_due": "1"}).json()
    assert excluded["amount_due"] == 0, "exclude is the default, as in current Stripe versions"
    included = stripe.post("/invoices", data={"customer": cus["id"],
                                              "collection_method": "send_invoice",
                                              "days_until_due": "1",
                                              "pending_invoice_items_behavior": "include"}).json()
    assert included["amount_due"] == 100 and len(included["lines"]["data"]) == 1


def test_failed_deliveries_are_retried_until_2xx(stripe, sandbox, receiver, webhook_secret):
    inv = open_invoice(stripe)
    rx = receiver(500, 500, 200)
    paid = httpx.post(f"{sandbox}/__sandbox/stripe/invoices/{inv['id']}/pay",
                      json={"webhook_url": rx.url}, timeout=30).json()
    assert paid["delivery"]["status"] == 500 and paid["delivery"]["ok"] is False
    assert wait_for(lambda: len(rx.requests) >= 3, timeout=20), rx.requests
    time.sleep(0.3)
    ev = httpx.get(f"{sandbox}/__sandbox/stripe/events/{paid['event_id']}").json()
    assert [a["status"] for a in ev["attempts"]] == [500, 500, 200]
    assert ev["delivered"] is True
    gaps = [b["at"] - a["at"] for a, b in zip(rx.requests, rx.requests[1:])]
    assert gaps[0] >= 0.9 and gaps[1] >= gaps[0] * 1.5, gaps  # backs off
    bodies = {r["body"] for r in rx.requests}
    assert len(bodies) == 1, "every attempt carries the same event"
    for r in rx.requests:
        verify_stripe_signature(r["body"], r["headers"]["Stripe-Signature"], webhook_secret)


def test_unreachable_endpoint_is_recorded_and_retried(stripe, sandbox):
    inv = open_invoice(stripe)
    paid = httpx.post(f"{sandbox}/__sandbox/stripe/invoices/{inv['id']}/pay",
                      json={"webhook_url": "http://127.0.0.1:9/webhooks/stripe"}).json()
    assert paid["delivery"]["status"] is None and paid["delivery"]["error"]

    def retried():
        e = httpx.get(f"{sandbox}/__sandbox/stripe/events/{paid['event_id']}").json()
        return e if len(e["attempts"]) >= 2 else None

    ev = wait_for(retried, timeout=10)
    assert ev and ev["delivered"] is False and len(ev["attempts"]) >= 2


def test_redeliver_sends_the_same_event_with_a_fresh_signature(stripe, sandbox, receiver,
                                                              webhook_secret):
    inv = open_invoice(stripe)
    rx = receiver(200)
    paid = httpx.post(f"{sandbox}/__sandbox/stripe/invoices/{inv['id']}/pay",
                      json={"webhook_url": rx.url}).json()
    time.sleep(1.1)  # a new second: a new `t`
    again = httpx.post(f"{sandbox}/__sandbox/stripe/events/{paid['event_id']}/redeliver").json()
    assert again["event_id"] == paid["event_id"] and again["delivery"]["status"] == 200
    assert len(rx.requests) == 2
    a, b = rx.requests
    assert json.loads(a["body"])["id"] == json.loads(b["body"])["id"] == paid["event_id"]
    assert a["body"] == b["body"]
    ta = verify_stripe_signature(a["body"], a["headers"]["Stripe-Signature"], webhook_secret)
    tb = verify_stripe_signature(b["body"], b["headers"]["Stripe-Signature"], webhook_secret)
    assert tb > ta and a["headers"]["Stripe-Signature"] != b["headers"]["Stripe-Signature"]


def test_every_call_is_recorded(stripe, sandbox):
    key = f"rec-{uuid.uuid4()}"
    stripe.post("/customers", data={"email": email()}, headers={"Idempotency-Key": key})
    calls = httpx.get(f"{sandbox}/__sandbox/requests", params={"prefix": "/v1/"}).json()["data"]
    mine = [c for c in calls if c["idempotency_key"] == key]
    assert len(mine) == 1 and mine[0]["method"] == "POST" and mine[0]["path"] == "/v1/customers"
    assert mine[0]["status"] == 200 and "email=" in mine[0]["body"]
