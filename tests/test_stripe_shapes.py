"""The sandbox's Stripe objects have no field that real Stripe's lack: every object it emits (in
its /v1 answers and in its events) is checked against the field lists of Stripe's published
fixtures (`openapi/fixtures3.json` of stripe/openapi, committed as infra/sandbox/
stripe_fields.json by infra/tools/stripe_fields.py). A removed field such as `invoice.charge` or
`charge.invoice` (gone since API version 2025-03-31.basil) fails here.

Runs a sandbox of its own and walks one of everything: an invoice paid, refunded, another
disputed and closed, a subscription made, renewed and cancelled, webhook endpoints.
"""

from __future__ import annotations

import json
import uuid

import httpx

from private_sandbox import ROOT

# The sandbox of the billing tests (its own, with a webhook receiver), started for this module too.
from test_sandbox_subscriptions import KEY, rx, sbx  # noqa: F401  (fixtures)

FIELDS = json.loads((ROOT / "infra" / "sandbox" / "stripe_fields.json").read_text())["fields"]
# Documented fields that the fixtures' minimal examples leave out: an endpoint's signing secret
# (only in the answer to its creation), an invoice payment's payment intent (`payment.type` is
# `payment_intent`) and a line's price (`pricing.type` is `price_details`), as Stripe's API
# reference shows them.
EXTRA = {("webhook_endpoint", "secret"), ("invoice_payment", "payment.payment_intent"),
         ("line_item", "pricing.price_details")}


def violations(obj, found: list[str], seen: set[str]) -> None:
    """Every field of every Stripe object in `obj` (nested anywhere) that its type's fixture
    lacks, as "type.path"."""
    if isinstance(obj, list):
        for x in obj:
            violations(x, found, seen)
        return
    if not isinstance(obj, dict):
        return
    kind = obj.get("object")
    if kind == "list":
        violations(obj.get("data"), found, seen)
        return
    if isinstance(kind, str) and kind in FIELDS:
        seen.add(kind)
        check(kind, obj, FIELDS[kind], kind, found, seen)
        return
    for v in obj.values():
        violations(v, found, seen)


def check(kind: str, obj: dict, shape: dict, path: str, found: list[str], seen: set[str]) -> None:
    for key, value in obj.items():
        if key not in shape:
            if (kind, f"{path}.{key}".split(".", 1)[1]) not in EXTRA:
                found.append(f"{path}.{key}")
            continue
        sub = shape[key]
        if isinstance(value, dict) and "object" in value:
            violations(value, found, seen)  # an expanded object: checked as its own type
        elif key in ("data", "lines", "items", "refunds") or key == "object":
            violations(value, found, seen)
        elif isinstance(sub, dict) and isinstance(value, dict):
            check(kind, value, sub, f"{path}.{key}", found, seen)
        elif isinstance(sub, dict) and "[]" in sub and isinstance(value, list):
            for x in value:
                if isinstance(x, dict):
                    check(kind, x, sub["[]"], f"{path}.{key}[]", found, seen)


def test_every_object_the_sandbox_emits_has_only_fields_real_stripe_objects_have(sbx):
    answers: list = []
    v1 = httpx.Client(base_url=f"{sbx.url}/v1", timeout=30,
                      headers={"Authorization": f"Bearer {KEY}"})
    hooks = httpx.Client(base_url=f"{sbx.url}/__sandbox/stripe", timeout=30)

    def call(method: str, path: str, **kw) -> dict:
        r = v1.request(method, path, **kw)
        assert r.status_code == 200, (method, path, r.text)
        answers.append(r.json())
        return r.json()

    def hook(path: str, body: dict | None = None) -> dict:
        r = hooks.post(path, json=body or {})
        assert r.status_code == 200, (path, r.text)
        return r.json()

    def paid_invoice(cents: int) -> tuple[str, dict]:
        cus = call("POST", "/customers", data={"email": f"{uuid.uuid4().hex[:8]}@example.com"})
        call("GET", f"/customers/{cus['id']}")
        item = call("POST", "/invoiceitems", data={"customer": cus["id"], "amount": str(cents),
                                                   "currency": "usd", "description": "eSIM"})
        call("GET", f"/invoiceitems/{item['id']}")
        inv = call("POST", "/invoices", data={"customer": cus["id"],
                                              "collection_method": "send_invoice",
                                              "days_until_due": "7",
                                              "pending_invoice_items_behavior": "include"})
        call("POST", f"/invoices/{inv['id']}/finalize")
        call("POST", f"/invoices/{inv['id']}/send")
        paid = hook(f"/invoices/{inv['id']}/pay")
        call("GET", f"/invoices/{inv['id']}")
        return inv["id"], paid

    refunded, paid = paid_invoice(100)
    [tie] = call("GET", "/invoice_payments", params={"invoice": refunded})["data"]
    assert tie["payment"]["type"] == "payment_intent" and tie["invoice"] == refunded
    by_intent = call("GET", "/invoice_payments", params={
        "payment[type]": "payment_intent",
        "payment[payment_intent]": tie["payment"]["payment_intent"]})["data"]
    assert [t["id"] for t in by_intent] == [tie["id"]] == [paid["invoice_payment"]]
    call("GET", f"/invoice_payments/{tie['id']}")
    refund = hook(f"/invoices/{refunded}/refund")
    call("GET", f"/refunds/{refund['refund']['id']}")
    call("GET", f"/charges/{paid['charge']}")

    disputed, _ = paid_invoice(200)
    dispute = hook(f"/invoices/{disputed}/dispute")["dispute"]
    hook(f"/disputes/{dispute['id']}/close", {"status": "lost"})
    call("GET", f"/disputes/{dispute['id']}")

    prod = call("POST", "/products", data={"id": f"prod_{uuid.uuid4().hex[:8]}", "name": "VPN"})
    call("GET", f"/products/{prod['id']}")
    price = call("POST", "/prices", data={"product": prod["id"], "unit_amount": "500",
                                          "currency": "usd", "recurring[interval]": "month"})
    call("GET", "/prices", params={"product": prod["id"], "expand[]": "data.product"})
    cus = call("POST", "/customers", data={"email": "sub@example.com"})
    sub = call("POST", "/subscriptions", data={
        "customer": cus["id"], "items[0][price]": price["id"], "items[0][quantity]": "1",
        "collection_method": "send_invoice", "days_until_due": "7",
        "expand[]": "latest_invoice"})
    call("POST", f"/invoices/{sub['latest_invoice']['id']}/finalize")
    call("POST", f"/invoices/{sub['latest_invoice']['id']}/send")
    hook(f"/invoices/{sub['latest_invoice']['id']}/pay")
    hook(f"/subscriptions/{sub['id']}/advance")
    call("POST", f"/subscriptions/{sub['id']}", data={"cancel_at_period_end": "true"})
    call("GET", "/subscriptions", params={"customer": cus["id"], "status": "all"})
    call("DELETE", f"/subscriptions/{sub['id']}")

    we = call("POST", "/webhook_endpoints", data={
        "url": "https://dotm.example/stripe/webhook", "enabled_events[0]": "invoice.paid",
        "api_version": "2026-09-30.endive"})
    assert we["secret"].startswith("whsec_")
    call("POST", f"/webhook_endpoints/{we['id']}", data={"enabled_events[0]": "charge.refunded"})
    call("GET", "/webhook_endpoints")
    call("GET", f"/webhook_endpoints/{we['id']}")

    events = hooks.get("/events").json()["data"]
    kinds = {e["type"] for e in events}
    assert {"invoice.paid", "invoice_payment.paid", "charge.refunded", "charge.dispute.created",
            "charge.dispute.closed", "customer.subscription.updated",
            "customer.subscription.deleted"} <= kinds, kinds

    found: list[str] = []
    seen: set[str] = set()
    violations(answers + [e["event"] for e in events], found, seen)
    assert not found, f"fields real Stripe objects lack: {sorted(set(found))}"
    # Every type the sandbox emits was looked at (so a type cannot escape the check).
    assert seen == set(FIELDS), f"not emitted: {sorted(set(FIELDS) - seen)}"
