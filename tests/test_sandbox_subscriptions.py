"""The provider sandbox's Stripe billing: Products, Prices (by lookup key), Subscriptions and their
invoices, renewals, and what happens to a payment afterwards (charges, refunds, disputes, failed
attempts), with the webhook events each one sends.

Runs against a sandbox of its own (started here, with its webhook pointed at a receiver started
here first), so that the events that real API calls send (`customer.subscription.updated`, ...)
can be read back and `POST /__sandbox/reset` can be tried."""

from __future__ import annotations

import calendar
import json
import os
import sys
import time
import uuid

import httpx
import pytest

from private_sandbox import ROOT, PrivateSandbox
from test_sandbox_stripe import Receiver, verify_stripe_signature

KEY = "sk_test_subscriptions"
SECRET = "whsec_subscriptions"

# What async-stripe 1.0.0-rc.10 needs present to deserialize each object (its `deser_default`
# fields that default to None; see infra/sandbox/stripe_objects.py).
REQUIRED = {
    "product": {"id", "active", "created", "images", "livemode", "marketing_features",
                "metadata", "name", "type", "updated"},
    "price": {"id", "active", "billing_scheme", "created", "currency", "livemode", "metadata",
              "product", "type"},
    "recurring": {"interval", "interval_count", "usage_type"},
    "subscription": {"id", "automatic_tax", "billing_cycle_anchor", "billing_mode",
                     "billing_schedules", "cancel_at_period_end", "collection_method",
                     "created", "currency", "customer", "discounts", "invoice_settings",
                     "items", "livemode", "metadata", "start_date", "status"},
    "subscription_item": {"id", "created", "current_period_end", "current_period_start",
                          "discounts", "metadata", "plan", "price", "subscription"},
    "plan": {"id", "active", "billing_scheme", "created", "currency", "interval",
             "interval_count", "livemode", "usage_type"},
    "charge": {"id", "amount", "amount_captured", "amount_refunded", "billing_details",
               "captured", "created", "currency", "disputed", "livemode", "metadata", "paid",
               "refunded", "status"},
    "refund": {"id", "amount", "created", "currency"},
    "dispute": {"id", "amount", "balance_transactions", "charge", "created", "currency",
                "enhanced_eligibility_types", "evidence", "evidence_details",
                "is_charge_refundable", "livemode", "metadata", "reason", "status"},
    "line_item": {"id", "amount", "currency", "discountable", "discounts", "livemode",
                  "metadata", "period", "subtotal"},
}


def period(sub: dict) -> tuple[int, int]:
    """A subscription's current period: on its items since API version 2025-03-31.basil."""
    item = sub["items"]["data"][0]
    return item["current_period_start"], item["current_period_end"]


def intent(stripe, paid: dict) -> str:
    """The payment intent that paid an invoice, from its invoice payment (an invoice names no
    charge or payment intent since 2025-03-31.basil)."""
    tie = ok(stripe.get(f"/invoice_payments/{paid['invoice_payment']}"))
    assert tie["invoice"] == paid["invoice"]["id"] and tie["status"] == "paid"
    return tie["payment"]["payment_intent"]


def has_required(obj: dict, kind: str) -> None:
    missing = REQUIRED[kind] - set(obj)
    assert not missing, f"{kind} lacks {sorted(missing)}"


@pytest.fixture(scope="module")
def rx():
    r = Receiver((200,))
    yield r
    r.close()


@pytest.fixture(scope="module")
def sbx(rx):
    s = PrivateSandbox("--stripe-key", KEY, "--webhook-url", rx.url, "--webhook-secret", SECRET,
                       "--webhook-retry-base", "0.2", "--webhook-attempts", "2")
    yield s
    s.close()


@pytest.fixture(scope="module")
def stripe(sbx):
    with httpx.Client(base_url=f"{sbx.url}/v1", timeout=30,
                      headers={"Authorization": f"Bearer {KEY}"}) as c:
        yield c


@pytest.fixture(scope="module")
def sandbox(sbx):
    with httpx.Client(base_url=f"{sbx.url}/__sandbox/stripe", timeout=30) as c:
        yield c


def uid() -> str:
    return uuid.uuid4().hex[:10]


def ok(r: httpx.Response) -> dict:
    assert r.status_code == 200, (r.request.method, r.request.url.path, r.status_code, r.text)
    return r.json()


def err(r: httpx.Response, status: int = 400) -> dict:
    assert r.status_code == status, (r.request.url.path, r.status_code, r.text)
    return r.json()["error"]


def received(rx: Receiver, pred, n: int = 1, timeout: float = 10.0) -> list[dict]:
    """The events the webhook receiver got that match `pred` (signatures checked), once there
    are `n` of them."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for r in list(rx.requests):
            verify_stripe_signature(r["body"], r["headers"]["Stripe-Signature"], SECRET)
            ev = json.loads(r["body"])
            if pred(ev):
                found.append(ev)
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def price(stripe, cents=999, interval="month", count=1, lookup_key=None, **extra) -> dict:
    prod = ok(stripe.post("/products", data={"id": f"prod_t{uid()}", "name": "DOTM Plus"}))
    data = {"product": prod["id"], "unit_amount": str(cents), "currency": "usd",
            "recurring[interval]": interval, "recurring[interval_count]": str(count), **extra}
    if lookup_key:
        data["lookup_key"] = lookup_key
    return ok(stripe.post("/prices", data=data))


def subscribe(stripe, price_id: str, method="send_invoice", **extra) -> dict:
    cus = ok(stripe.post("/customers", data={"email": f"{uid()}@example.com"}))
    data = {"customer": cus["id"], "items[0][price]": price_id, "items[0][quantity]": "1",
            "collection_method": method, "expand[]": "latest_invoice", **extra}
    if method == "send_invoice":
        data.setdefault("days_until_due", "7")
    return ok(stripe.post("/subscriptions", data=data))


def open_and_send(stripe, invoice_id: str) -> dict:
    ok(stripe.post(f"/invoices/{invoice_id}/finalize"))
    return ok(stripe.post(f"/invoices/{invoice_id}/send"))


def paid_invoice(stripe, sandbox, cents=999) -> dict:
    p = price(stripe, cents)
    sub = subscribe(stripe, p["id"])
    open_and_send(stripe, sub["latest_invoice"]["id"])
    return ok(sandbox.post(f"/invoices/{sub['latest_invoice']['id']}/pay", json={}))


# ---- products and prices ---------------------------------------------------------------------

def test_products_create_get_list_and_existing_id(stripe):
    pid = f"dotm_{uid()}"
    prod = ok(stripe.post("/products", data={"id": pid, "name": "DOTM Plus",
                                              "description": "More data",
                                              "metadata[service_id]": "plus"}))
    assert prod["id"] == pid and prod["object"] == "product" and prod["active"] is True
    assert prod["name"] == "DOTM Plus" and prod["description"] == "More data"
    assert prod["metadata"] == {"service_id": "plus"}
    has_required(prod, "product")
    assert ok(stripe.get(f"/products/{pid}")) == prod
    assert err(stripe.get("/products/dotm_nope"), 404)["code"] == "resource_missing"
    again = err(stripe.post("/products", data={"id": pid, "name": "Again"}))
    assert again["code"] == "resource_already_exists" and again["param"] == "id"
    listed = ok(stripe.get("/products", params={"ids[]": pid}))
    assert listed["object"] == "list" and [p["id"] for p in listed["data"]] == [pid]
    made = ok(stripe.post("/products", data={"name": "No id given"}))
    assert made["id"].startswith("prod_")
    assert err(stripe.post("/products", data={"nmae": "x"}))["code"] == "parameter_unknown"
    assert err(stripe.post("/products", data={"id": f"p{uid()}"}))["param"] == "name"


def test_price_lookup_key_moves_only_with_transfer(stripe):
    key = f"plus_{uid()}"
    first = price(stripe, 999, lookup_key=key, nickname="Plus (monthly)",
                  **{"metadata[service_id]": "plus"})
    assert first["id"].startswith("price_") and first["object"] == "price"
    assert (first["unit_amount"], first["currency"], first["type"]) == (999, "usd", "recurring")
    assert first["recurring"]["interval"] == "month" and first["recurring"]["interval_count"] == 1
    assert first["lookup_key"] == key and first["nickname"] == "Plus (monthly)"
    assert first["metadata"] == {"service_id": "plus"} and first["active"] is True
    has_required(first, "price")
    has_required(first["recurring"], "recurring")
    assert ok(stripe.get(f"/prices/{first['id']}")) == first

    base = {"product": first["product"], "unit_amount": "1299", "currency": "usd",
            "recurring[interval]": "month", "lookup_key": key}
    assert err(stripe.post("/prices", data=base))["param"] == "lookup_key"
    second = ok(stripe.post("/prices", data={**base, "transfer_lookup_key": "true"}))
    assert second["lookup_key"] == key
    assert ok(stripe.get(f"/prices/{first['id']}"))["lookup_key"] is None
    found = ok(stripe.get("/prices", params={"lookup_keys[]": key, "active": "true"}))
    assert [p["id"] for p in found["data"]] == [second["id"]]
    # a deactivated price no longer blocks its key
    ok(stripe.post(f"/prices/{second['id']}", data={"active": "false"}))
    assert ok(stripe.get("/prices", params={"lookup_keys[]": key, "active": "true"}))["data"] == []
    third = ok(stripe.post("/prices", data=base))
    assert third["lookup_key"] == key
    assert ok(stripe.get(f"/prices/{second['id']}"))["lookup_key"] is None


def test_prices_are_never_edited_in_place(stripe):
    p = price(stripe, 500)
    e = err(stripe.post(f"/prices/{p['id']}", data={"unit_amount": "600"}))
    assert e["code"] == "parameter_unknown" and e["param"] == "unit_amount"
    changed = ok(stripe.post(f"/prices/{p['id']}", data={"nickname": "old", "metadata[a]": "1",
                                                        "active": "false"}))
    assert (changed["unit_amount"], changed["nickname"], changed["active"]) == (500, "old", False)
    assert changed["metadata"] == {"a": "1"}
    assert err(stripe.get("/prices/price_nope"), 404)["code"] == "resource_missing"


def test_price_validation_and_list_filters(stripe):
    prod = ok(stripe.post("/products", data={"name": "Filters"}))
    base = {"product": prod["id"], "unit_amount": "100", "currency": "usd"}
    for bad, param in (({"recurring[interval]": "fortnight"}, "recurring[interval]"),
                       ({"recurring[interval]": "month", "recurring[interval_count]": "13"},
                        "recurring[interval_count]"),
                       ({"recurring[interval]": "month", "recurring[foo]": "1"},
                        "recurring[foo]"),
                       ({"product": "prod_missing"}, "product"),
                       ({"tiers_mode": "graduated"}, "tiers_mode")):
        assert err(stripe.post("/prices", data={**base, **bad}))["param"] == param, bad
    assert err(stripe.post("/prices", data={"product": prod["id"], "currency": "usd"})) \
        ["param"] == "unit_amount"
    one = ok(stripe.post("/prices", data=base))
    assert one["type"] == "one_time" and one["recurring"] is None
    yearly = ok(stripe.post("/prices", data={**base, "recurring[interval]": "year",
                                             "expand[]": "product"}))
    assert yearly["product"]["id"] == prod["id"], "expand[]=product"
    listed = ok(stripe.get("/prices", params={"product": prod["id"], "type": "recurring"}))
    assert [p["id"] for p in listed["data"]] == [yearly["id"]]
    inline = ok(stripe.post("/prices", data={"unit_amount": "100", "currency": "usd",
                                             "product_data[name]": "Inline"}))
    assert ok(stripe.get(f"/products/{inline['product']}"))["name"] == "Inline"
    key = f"idem-{uid()}"
    a = stripe.post("/prices", data=base, headers={"Idempotency-Key": key})
    b = stripe.post("/prices", data=base, headers={"Idempotency-Key": key})
    assert a.json() == b.json() and b.headers["idempotent-replayed"] == "true"


# ---- subscriptions ---------------------------------------------------------------------------

def test_send_invoice_subscription_is_active_with_a_draft_first_invoice(stripe, sandbox, sbx):
    p = price(stripe, 999)
    sub = subscribe(stripe, p["id"], description="DOTM Plus",
                    **{"metadata[firebase_uid]": "u-sub", "metadata[scope]": "s1"})
    assert sub["id"].startswith("sub_") and sub["object"] == "subscription"
    assert sub["status"] == "active" and sub["collection_method"] == "send_invoice"
    assert sub["days_until_due"] == 7 and sub["cancel_at_period_end"] is False
    assert sub["canceled_at"] is None and sub["ended_at"] is None
    assert sub["metadata"] == {"firebase_uid": "u-sub", "scope": "s1"}
    assert "current_period_end" not in sub, "since basil the period is on the items"
    has_required(sub, "subscription")
    [item] = sub["items"]["data"]
    assert item["id"].startswith("si_") and item["quantity"] == 1
    assert item["price"]["id"] == p["id"] and item["price"]["object"] == "price"
    assert item["current_period_end"] > item["current_period_start"] == sub["start_date"]
    has_required(item, "subscription_item")
    has_required(item["plan"], "plan")

    inv = sub["latest_invoice"]  # expanded
    assert inv["object"] == "invoice" and inv["status"] == "draft"
    assert inv["billing_reason"] == "subscription_create" and inv["subscription"] == sub["id"]
    assert inv["customer"] == sub["customer"] and inv["currency"] == "usd"
    assert inv["parent"]["type"] == "subscription_details"
    assert inv["parent"]["subscription_details"]["subscription"] == sub["id"]
    assert inv["parent"]["subscription_details"]["metadata"] == sub["metadata"]
    assert inv["metadata"] == {}, "subscription metadata is not copied onto the invoice"
    assert inv["amount_due"] == 999 and inv["hosted_invoice_url"] is None
    [line] = inv["lines"]["data"]
    assert (line["amount"], line["quantity"]) == (999, 1)
    assert line["pricing"]["price_details"]["price"] == p["id"] and "price" not in line
    assert line["period"] == {"start": period(sub)[0],
                              "end": period(sub)[1]}
    assert line["parent"]["subscription_item_details"]["subscription_item"] == item["id"]
    has_required(line, "line_item")

    plain = ok(stripe.get(f"/subscriptions/{sub['id']}"))
    assert plain["latest_invoice"] == inv["id"], "an id unless expanded"
    opened = open_and_send(stripe, inv["id"])
    assert opened["status"] == "open" and opened["subscription"] == sub["id"]
    assert opened["hosted_invoice_url"] == f"{sbx.url}/__sandbox/stripe/hosted/{inv['id']}"
    page = httpx.get(opened["hosted_invoice_url"])
    assert page.status_code == 200 and "$9.99" in page.text and "DOTM Plus" in page.text

    mine = ok(stripe.get("/subscriptions", params={"customer": sub["customer"]}))
    assert mine["object"] == "list" and [s["id"] for s in mine["data"]] == [sub["id"]]
    listed = ok(sandbox.get("/subscriptions", params={"customer": sub["customer"]}))["data"]
    assert [s["id"] for s in listed] == [sub["id"]]


def test_subscription_create_validation(stripe):
    p = price(stripe)
    cus = ok(stripe.post("/customers", data={"email": f"{uid()}@example.com"}))
    base = {"customer": cus["id"], "items[0][price]": p["id"], "collection_method": "send_invoice"}
    assert err(stripe.post("/subscriptions", data=base))["param"] == "days_until_due"
    one_time = ok(stripe.post("/prices", data={"product": p["product"], "unit_amount": "5",
                                               "currency": "usd"}))
    for bad, param in (({"items[0][price]": one_time["id"]}, "items[0][price]"),
                       ({"items[0][price]": "price_nope"}, "items[0][price]"),
                       ({"customer": "cus_nope"}, "customer"),
                       ({"items[0][quantity]": "x"}, "items[0][quantity]"),
                       ({"items[0][colour]": "red"}, "items[0][colour]"),
                       ({"trial_period_days": "7"}, "trial_period_days")):
        e = err(stripe.post("/subscriptions", data={**base, "days_until_due": "7", **bad}))
        assert e["param"] == param, (bad, e)
    assert err(stripe.post("/subscriptions", data={"customer": cus["id"]}))["param"] == "items"
    assert err(stripe.get("/subscriptions/sub_nope"), 404)["code"] == "resource_missing"


def test_paying_the_first_invoice_makes_a_charge_on_the_invoice(stripe, sandbox, rx):
    p = price(stripe, 1500)
    sub = subscribe(stripe, p["id"], **{"metadata[firebase_uid]": "u-pay"})
    iid = sub["latest_invoice"]["id"]
    open_and_send(stripe, iid)
    paid = ok(sandbox.post(f"/invoices/{iid}/pay", json={}))
    inv = paid["invoice"]
    assert inv["status"] == "paid" and inv["amount_paid"] == 1500
    assert paid["charge"].startswith("ch_") and "charge" not in inv and "payment_intent" not in inv
    pi = intent(stripe, paid)
    assert pi.startswith("pi_") and paid["delivery"]["status"] == 200
    [ev] = received(rx, lambda e: e["id"] == paid["event_id"])
    obj = ev["data"]["object"]
    assert ev["type"] == "invoice.paid" and obj["id"] == iid and "charge" not in obj
    [tie] = received(rx, lambda e: e["type"] == "invoice_payment.paid"
                     and e["data"]["object"]["invoice"] == iid)
    assert tie["data"]["object"]["payment"] == {"type": "payment_intent", "payment_intent": pi}
    assert obj["parent"]["subscription_details"]["metadata"] == {"firebase_uid": "u-pay"}
    assert obj["billing_reason"] == "subscription_create" and obj["metadata"] == {}
    [charge] = ok(sandbox.get("/charges", params={"invoice": iid}))["data"]
    assert charge["id"] == paid["charge"] and charge["object"] == "charge"
    assert (charge["amount"], charge["amount_captured"], charge["amount_refunded"]) == \
        (1500, 1500, 0)
    assert charge["paid"] is True and charge["status"] == "succeeded"
    assert charge["refunded"] is False and charge["disputed"] is False
    assert "invoice" not in charge and charge["payment_intent"] == pi
    assert charge["customer"] == sub["customer"] and charge["disputes"] == []
    has_required(charge, "charge")
    got = ok(stripe.get(f"/charges/{charge['id']}"))
    assert got == {k: v for k, v in charge.items() if k != "disputes"}
    events = ok(sandbox.get("/events", params={"subscription": sub["id"]}))["data"]
    assert [e["type"] for e in events] == ["invoice.paid", "invoice_payment.paid"]
    assert events[0]["invoice"] == iid and events[0]["subscription"] == sub["id"]


def test_pay_can_say_another_amount_or_currency(stripe, sandbox, rx):
    p = price(stripe, 1000)
    sub = subscribe(stripe, p["id"])
    iid = sub["latest_invoice"]["id"]
    open_and_send(stripe, iid)
    bad = sandbox.post(f"/invoices/{iid}/pay", json={"amount_paid": "10"})
    assert bad.status_code == 400
    paid = ok(sandbox.post(f"/invoices/{iid}/pay", json={"amount_paid": 400, "currency": "EUR"}))
    assert (paid["invoice"]["amount_paid"], paid["invoice"]["currency"]) == (400, "eur")
    [ev] = received(rx, lambda e: e["id"] == paid["event_id"])
    assert (ev["data"]["object"]["amount_paid"], ev["data"]["object"]["currency"]) == (400, "eur")
    assert ev["data"]["object"]["total"] == 1000
    [charge] = ok(sandbox.get("/charges", params={"invoice": iid}))["data"]
    assert (charge["amount"], charge["currency"]) == (400, "eur")


def test_update_sends_subscription_updated_with_previous_attributes(stripe, sandbox, rx):
    sub = subscribe(stripe, price(stripe)["id"], **{"metadata[a]": "1"})
    sid = sub["id"]
    key = f"cancel-{sid}"
    upd = stripe.post(f"/subscriptions/{sid}", data={"cancel_at_period_end": "true"},
                      headers={"Idempotency-Key": key})
    again = stripe.post(f"/subscriptions/{sid}", data={"cancel_at_period_end": "true"},
                        headers={"Idempotency-Key": key})
    assert again.json() == upd.json() and again.headers["idempotent-replayed"] == "true"
    s = ok(upd)
    assert s["cancel_at_period_end"] is True and s["status"] == "active"
    assert s["cancel_at"] == period(s)[1] and s["canceled_at"] is not None
    [ev] = received(rx, lambda e: e["type"] == "customer.subscription.updated"
                    and e["data"]["object"]["id"] == sid)
    assert ev["data"]["object"]["cancel_at_period_end"] is True
    prev = ev["data"]["previous_attributes"]
    assert prev["cancel_at_period_end"] is False and prev["canceled_at"] is None
    # metadata: the changed keys' old values
    ok(stripe.post(f"/subscriptions/{sid}", data={"metadata[a]": "2", "metadata[b]": "x"}))
    evs = received(rx, lambda e: e["type"] == "customer.subscription.updated"
                   and e["data"]["object"]["id"] == sid, n=2)
    assert evs[1]["data"]["previous_attributes"] == {"metadata": {"a": "1", "b": None}}
    assert evs[1]["data"]["object"]["metadata"] == {"a": "2", "b": "x"}
    # nothing changed: no event
    ok(stripe.post(f"/subscriptions/{sid}", data={"cancel_at_period_end": "true"}))
    time.sleep(0.3)
    recs = ok(sandbox.get("/events", params={"subscription": sid,
                                              "type": "customer.subscription.updated"}))["data"]
    assert len(recs) == 2 and all(r["invoice"] == sub["latest_invoice"]["id"] for r in recs)
    assert err(stripe.post(f"/subscriptions/{sid}", data={"items[0][price]": "x"}))["param"] \
        == "items"


def test_advance_renews_with_a_sent_invoice_for_the_next_period(stripe, sandbox, rx):
    p = price(stripe, 700)
    sub = subscribe(stripe, p["id"], **{"metadata[firebase_uid]": "u-renew"})
    first = sub["latest_invoice"]["id"]
    open_and_send(stripe, first)
    ok(sandbox.post(f"/invoices/{first}/pay", json={}))
    adv = ok(sandbox.post(f"/subscriptions/{sub['id']}/advance", json={}))
    s, inv = adv["subscription"], adv["invoice"]
    assert period(s)[0] == period(sub)[1]
    start = time.gmtime(period(sub)[0])
    end = time.gmtime(period(s)[1])
    months = (end.tm_year - start.tm_year) * 12 + end.tm_mon - start.tm_mon
    last_day = calendar.monthrange(end.tm_year, end.tm_mon)[1]
    assert months == 2 and end.tm_mday == min(start.tm_mday, last_day), "calendar months"
    assert end[3:6] == start[3:6], "same time of day"
    assert s["latest_invoice"] == inv["id"] != first and s["status"] == "active"
    assert inv["status"] == "open" and inv["billing_reason"] == "subscription_cycle"
    assert inv["subscription"] == sub["id"] and inv["amount_due"] == 700
    assert inv["parent"]["subscription_details"]["metadata"] == {"firebase_uid": "u-renew"}
    assert inv["lines"]["data"][0]["period"] == {"start": period(s)[0],
                                                 "end": period(s)[1]}
    assert inv["hosted_invoice_url"] and httpx.get(inv["hosted_invoice_url"]).status_code == 200
    [listed] = [i for i in ok(sandbox.get("/invoices"))["data"] if i["id"] == inv["id"]]
    assert len(listed["sandbox"]["sent_at"]) == 1, "sent"
    assert adv["delivery"]["status"] == 200
    [ev] = received(rx, lambda e: e["id"] == adv["event_id"])
    assert ev["type"] == "customer.subscription.updated"
    prev = ev["data"]["previous_attributes"]
    assert period(prev) == period(sub)
    assert prev["latest_invoice"] == first
    paid = ok(sandbox.post(f"/invoices/{inv['id']}/pay", json={}))
    assert paid["invoice"]["status"] == "paid"
    types = [e["type"] for e in ok(sandbox.get("/events", params={"subscription": sub["id"]}))
             ["data"]]
    assert types == ["invoice.paid", "invoice_payment.paid", "customer.subscription.updated",
                     "invoice.paid", "invoice_payment.paid"]


def test_advance_after_cancel_at_period_end_ends_the_subscription(stripe, sandbox, rx):
    sub = subscribe(stripe, price(stripe)["id"], cancel_at_period_end="true")
    assert sub["cancel_at_period_end"] is True and sub["cancel_at"] == period(sub)[1]
    adv = ok(sandbox.post(f"/subscriptions/{sub['id']}/advance", json={}))
    assert adv["invoice"] is None
    s = adv["subscription"]
    assert s["status"] == "canceled" and s["ended_at"] == period(sub)[1]
    [ev] = received(rx, lambda e: e["id"] == adv["event_id"])
    assert ev["type"] == "customer.subscription.deleted"
    assert ev["data"]["object"]["status"] == "canceled"
    again = sandbox.post(f"/subscriptions/{sub['id']}/advance", json={})
    assert again.status_code == 400


def test_delete_cancels_at_once(stripe, rx):
    sub = subscribe(stripe, price(stripe)["id"])
    gone = ok(stripe.delete(f"/subscriptions/{sub['id']}"))
    assert gone["status"] == "canceled"
    assert gone["canceled_at"] is not None and gone["ended_at"] == gone["canceled_at"]
    [ev] = received(rx, lambda e: e["type"] == "customer.subscription.deleted"
                    and e["data"]["object"]["id"] == sub["id"])
    assert ev["data"]["object"]["ended_at"] == gone["ended_at"]
    assert ok(stripe.get("/subscriptions", params={"customer": sub["customer"]}))["data"] == []
    canceled = ok(stripe.get("/subscriptions", params={"customer": sub["customer"],
                                                       "status": "canceled"}))
    assert [s["id"] for s in canceled["data"]] == [sub["id"]]
    assert stripe.delete(f"/subscriptions/{sub['id']}").status_code == 400
    e = err(stripe.post(f"/subscriptions/{sub['id']}", data={"cancel_at_period_end": "true"}))
    assert e["param"] == "cancel_at_period_end"


def test_charge_automatically_is_incomplete_until_its_invoice_is_paid(stripe, sandbox, rx):
    sub = subscribe(stripe, price(stripe, 300)["id"], method="charge_automatically")
    assert sub["status"] == "incomplete" and sub["days_until_due"] is None
    inv = sub["latest_invoice"]
    assert inv["status"] == "open" and inv["collection_method"] == "charge_automatically"
    ok(sandbox.post(f"/invoices/{inv['id']}/pay", json={}))
    [ev] = received(rx, lambda e: e["type"] == "customer.subscription.updated"
                    and e["data"]["object"]["id"] == sub["id"])
    assert ev["data"]["object"]["status"] == "active"
    assert ev["data"]["previous_attributes"] == {"status": "incomplete"}
    assert ok(stripe.get(f"/subscriptions/{sub['id']}"))["status"] == "active"


# ---- after the payment: refunds, disputes, failed attempts -----------------------------------

def test_refunds_partial_then_the_rest(stripe, sandbox, rx):
    paid = paid_invoice(stripe, sandbox, 1000)
    ch_id = paid["charge"]
    r = ok(stripe.post("/refunds", data={"charge": ch_id, "amount": "300",
                                         "reason": "requested_by_customer",
                                         "metadata[why]": "test"}))
    assert r["id"].startswith("re_") and r["object"] == "refund" and r["amount"] == 300
    assert r["charge"] == ch_id and r["status"] == "succeeded" and r["metadata"] == {"why": "test"}
    has_required(r, "refund")
    assert ok(stripe.get(f"/refunds/{r['id']}")) == r
    [ev] = received(rx, lambda e: e["type"] == "charge.refunded"
                    and e["data"]["object"]["id"] == ch_id)
    assert ev["data"]["object"]["amount_refunded"] == 300
    assert ev["data"]["object"]["refunded"] is False
    e = err(stripe.post("/refunds", data={"charge": ch_id, "amount": "800"}))
    assert e["param"] == "amount"
    rest = ok(stripe.post("/refunds", data={"payment_intent": intent(stripe, paid)}))
    assert rest["amount"] == 700
    ch = ok(stripe.get(f"/charges/{ch_id}"))
    assert ch["amount_refunded"] == 1000 and ch["refunded"] is True
    assert [x["id"] for x in ch["refunds"]["data"]] == [rest["id"], r["id"]]
    assert err(stripe.post("/refunds", data={"charge": ch_id}))["code"] == \
        "charge_already_refunded"
    assert err(stripe.post("/refunds", data={"charge": "ch_nope"}))["param"] == "charge"
    recs = ok(sandbox.get("/events", params={"invoice": paid["invoice"]["id"],
                                              "type": "charge.refunded"}))["data"]
    assert len(recs) == 2


def test_refund_shortcut_and_its_errors(stripe, sandbox, rx):
    paid = paid_invoice(stripe, sandbox, 800)
    iid = paid["invoice"]["id"]
    out = ok(sandbox.post(f"/invoices/{iid}/refund", json={"amount": 200}))
    assert out["refund"]["amount"] == 200 and out["charge"]["amount_refunded"] == 200
    assert out["delivery"]["status"] == 200
    [ev] = received(rx, lambda e: e["id"] == out["event_id"])
    assert ev["type"] == "charge.refunded" and ev["data"]["object"]["id"] == out["charge"]["id"]
    assert sandbox.post(f"/invoices/{iid}/refund", json={"amount": 601}).status_code == 400
    rest = ok(sandbox.post(f"/invoices/{iid}/refund", json={}))
    assert rest["refund"]["amount"] == 600 and rest["charge"]["refunded"] is True
    assert sandbox.post(f"/invoices/{iid}/refund", json={}).status_code == 400
    unpaid = subscribe(stripe, price(stripe)["id"])["latest_invoice"]["id"]
    assert sandbox.post(f"/invoices/{unpaid}/refund", json={}).status_code == 400
    assert sandbox.post("/invoices/in_nope/refund", json={}).status_code == 404


def test_dispute_created_then_closed(stripe, sandbox, rx):
    paid = paid_invoice(stripe, sandbox, 999)
    iid = paid["invoice"]["id"]
    out = ok(sandbox.post(f"/invoices/{iid}/dispute", json={}))
    d = out["dispute"]
    assert d["id"].startswith("dp_") and d["object"] == "dispute"
    assert (d["amount"], d["reason"], d["status"]) == (999, "fraudulent", "needs_response")
    assert d["charge"] == paid["charge"] and d["payment_intent"] == intent(stripe, paid)
    assert d["currency"] == "usd"
    has_required(d, "dispute")
    [ev] = received(rx, lambda e: e["id"] == out["event_id"])
    assert ev["type"] == "charge.dispute.created" and ev["data"]["object"]["id"] == d["id"]
    [ch] = ok(sandbox.get("/charges", params={"invoice": iid}))["data"]
    assert ch["disputed"] is True and [x["id"] for x in ch["disputes"]] == [d["id"]]
    assert sandbox.post(f"/invoices/{iid}/dispute", json={}).status_code == 400, "one open"
    assert err(stripe.post("/refunds", data={"charge": ch["id"]}))["code"] == "charge_disputed"
    assert sandbox.post(f"/disputes/{d['id']}/close", json={"status": "maybe"}).status_code == 400
    closed = ok(sandbox.post(f"/disputes/{d['id']}/close", json={"status": "lost"}))
    assert closed["dispute"]["status"] == "lost"
    [ev] = received(rx, lambda e: e["id"] == closed["event_id"])
    assert ev["type"] == "charge.dispute.closed" and ev["data"]["object"]["status"] == "lost"
    assert sandbox.post(f"/disputes/{d['id']}/close", json={"status": "won"}).status_code == 400
    types = [e["type"] for e in ok(sandbox.get("/events", params={"invoice": iid}))["data"]]
    assert types == ["invoice.paid", "invoice_payment.paid", "charge.dispute.created",
                     "charge.dispute.closed"]
    assert ok(stripe.get(f"/disputes/{d['id']}"))["status"] == "lost"
    other = paid_invoice(stripe, sandbox, 500)["invoice"]["id"]
    part = ok(sandbox.post(f"/invoices/{other}/dispute",
                           json={"amount": 200, "reason": "product_not_received"}))
    assert (part["dispute"]["amount"], part["dispute"]["reason"]) == (200, "product_not_received")
    assert sandbox.post(f"/invoices/{other}/dispute", json={"reason": "bored"}).status_code == 400


def test_failed_payment_attempt(stripe, sandbox, rx):
    sub = subscribe(stripe, price(stripe, 450)["id"])
    iid = sub["latest_invoice"]["id"]
    assert sandbox.post(f"/invoices/{iid}/fail", json={}).status_code == 400, "a draft"
    open_and_send(stripe, iid)
    out = ok(sandbox.post(f"/invoices/{iid}/fail", json={}))
    assert out["invoice"]["attempt_count"] == 1 and out["invoice"]["attempted"] is True
    assert out["invoice"]["status"] == "open"
    [ev] = received(rx, lambda e: e["id"] == out["event_id"])
    assert ev["type"] == "invoice.payment_failed" and ev["data"]["object"]["id"] == iid
    assert ok(sandbox.post(f"/invoices/{iid}/fail", json={}))["invoice"]["attempt_count"] == 2
    ok(sandbox.post(f"/invoices/{iid}/pay", json={}))
    assert sandbox.post(f"/invoices/{iid}/fail", json={}).status_code == 400, "paid"


# ---- the sandbox's own records ---------------------------------------------------------------

def test_assertion_endpoints_and_reset(stripe, sandbox, sbx):
    paid_invoice(stripe, sandbox, 100)
    for path in ("/subscriptions", "/products", "/prices", "/charges"):
        assert ok(sandbox.get(path))["data"], path
    assert ok(httpx.post(f"{sbx.url}/__sandbox/reset")) == {"ok": True}
    for path in ("/subscriptions", "/products", "/prices", "/charges", "/events"):
        assert ok(sandbox.get(path))["data"] == [], path
    assert ok(stripe.get("/products"))["data"] == []


def test_calendar_periods_keep_the_anchor_day():
    sys.path.insert(0, os.fspath(ROOT / "infra" / "sandbox"))
    from stripe_api import add_interval

    jan31 = 1769817600  # 2026-01-31T00:00:00Z
    ends = [time.strftime("%Y-%m-%d", time.gmtime(add_interval(jan31, "month", 1, n)))
            for n in (1, 2, 3)]
    assert ends == ["2026-02-28", "2026-03-31", "2026-04-30"]
    assert time.strftime("%Y-%m-%d", time.gmtime(add_interval(jan31, "year", 1))) == "2027-01-31"
    assert add_interval(jan31, "week", 2) == jan31 + 14 * 86400
    assert add_interval(jan31, "month", 3, 2) == add_interval(jan31, "month", 6)
