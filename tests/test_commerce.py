"""Commerce end to end on the running stack: orders (`POST /api/orders`), their emailed
invoices paid at the provider sandbox, what a paid invoice grants (data on the line, network
add-ons as carrier features, the member role, the Metal Card), subscriptions that renew, end and
are cancelled, refunds and disputes that take grants back, payments that match nothing of
DOTM's, and the operators' admin routes (`ADMIN_UIDS`, `dotm-admin` in `make up` / `make test`).

Only real HTTP: the API, the sandbox's Stripe test endpoints (pay, refund, dispute, advance a
subscription, redeliver an event), its carrier (`/__sandbox/carrier/lines`) and its mailbox.
Paying an invoice delivers the signed `invoice.paid` to the webhook on its first attempt; what
the activation worker does (activations, carrier updates, receipts) is polled for. Every test
makes users of its own (no reset: the stack is shared)."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import httpx
import pytest

from activation_support import mail_to, parse_time, phone_numbers, wait_until
from conftest import User, sandbox_token
from rewards_support import all_rewards, dotm_string, get_rewards
from test_payments import (
    activate_api,
    check_payment_required,
    customers_of,
    invoices_of,
    purchases_of,
)

# The first uid that operators listed (infra/scripts/providers.sh exports ADMIN_UIDS).
ADMIN_UID = os.environ.get("ADMIN_UIDS", "dotm-admin").split(",")[0].strip()
WORKER_S = 30.0  # anything the activation worker does after a payment (carrier, receipt)
LINE_S = 90.0    # an eSIM activation, through the carrier throttle (5 per 10 s under make test)
DAY = 86400

ADDRESS = {"name": "Ada Lovelace", "line1": "1 Main St", "line2": "Apt 4", "city": "Springfield",
           "state": "IL", "postal_code": "62701", "country": "us"}
RECEIPT_SUBJECT = "Your DOTM receipt"


# --------------------------------------------------------------------------- helpers


def problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """An RFC 9457 answer with DOTM's stable type; returns its body."""
    assert r.status_code == status, (status, slug, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["type"] == f"urn:dotm:problem:{slug}", body
    assert body["status"] == status and body["detail"], body
    return body


def post_order(http: httpx.Client, user: User, items: list[dict[str, Any]],
               shipping: dict[str, Any] | None = None, key: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"items": items}
    if shipping is not None:
        body["shipping_address"] = shipping
    headers = dict(user.auth)
    if key is not None:
        headers["Idempotency-Key"] = key
    return http.post("/api/orders", headers=headers, json=body)


def order(http: httpx.Client, user: User, items: list[dict[str, Any]],
          shipping: dict[str, Any] | None = None, key: str | None = None) -> dict[str, Any]:
    r = post_order(http, user, items, shipping, key)
    assert r.status_code == 200, (items, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    o = r.json()
    check_order_shape(o)
    return o


def check_order_shape(o: dict[str, Any]) -> None:
    assert o["order_id"] and o["status"] in ("open", "paid", "refunded", "disputed"), o
    assert o["currency"] == "usd", o
    assert o["total_cents"] == sum(i["amount_cents"] for i in o["items"]), o
    assert abs(o["total"] - o["total_cents"] / 100) < 1e-9, o
    for i in o["items"]:
        assert i["amount_cents"] == i["unit_cents"] * i["quantity"], i
        assert i["name"] and i["billing"], i
    for p in o["payments"]:
        assert p["invoice_id"].startswith("in_") and p["invoice_url"].startswith("http"), p
        assert isinstance(p["paid"], bool) and p["services"], p
    parse_time(o["created_at"])
    assert o["message"], o
    if os.environ.get("DOTM_USD_PRICE", "1") == "1":
        assert o["cashback_dotm"] == cashback(o["total_cents"]), o


def cashback(cents: int) -> str:
    """10.33 % of `cents` at 1 DOTM = $1, as the API writes DOTM amounts."""
    return dotm_string(cents * 1033 * 10**12)


def get_order(http: httpx.Client, user: User, order_id: str) -> dict[str, Any]:
    r = http.get(f"/api/orders/{order_id}", headers=user.auth)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def list_orders(http: httpx.Client, user: User) -> list[dict[str, Any]]:
    r = http.get("/api/orders", headers=user.auth)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["orders"]


def subscriptions(http: httpx.Client, user: User) -> list[dict[str, Any]]:
    r = http.get("/api/subscriptions", headers=user.auth)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["subscriptions"]


def subscription(http: httpx.Client, user: User, sid: str) -> dict[str, Any]:
    [s] = [s for s in subscriptions(http, user) if s["subscription_id"] == sid]
    return s


def account(http: httpx.Client, user: User) -> dict[str, Any]:
    r = http.get("/api/account", headers=user.auth)
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    for key in ("profile", "orders", "subscriptions", "entitlements", "rewards"):
        assert key in body, (key, body)
    return body


def me(http: httpx.Client, user: User) -> dict[str, Any]:
    r = http.get("/api/me", headers=user.auth)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def pay_invoice(sandbox: httpx.Client, invoice_id: str, **overrides: Any) -> dict[str, Any]:
    """Pays at the sandbox; the webhook must have answered 2xx on the first attempt."""
    r = sandbox.post(f"/__sandbox/stripe/invoices/{invoice_id}/pay", json=overrides)
    assert r.status_code == 200, r.text
    paid = r.json()
    assert paid["delivery"]["status"] in range(200, 300), paid["delivery"]
    return paid


def sandbox_post(sandbox: httpx.Client, path: str, body: dict[str, Any] | None = None) -> dict:
    """A sandbox test endpoint that makes an event; its first delivery must be taken."""
    r = sandbox.post(path, json=body or {})
    assert r.status_code == 200, (path, r.status_code, r.text)
    answer = r.json()
    assert answer["delivery"]["status"] in range(200, 300), answer["delivery"]
    return answer


def wait_line(http: httpx.Client, user: User, timeout: float = LINE_S) -> dict[str, Any]:
    """The user's first active line, as GET /api/user-phone-numbers lists it."""
    return wait_until(lambda: (phone_numbers(http, user) or [None])[0], timeout,
                      f"an active line for {user.uid}", every=1.0)


def carrier_line(sandbox: httpx.Client, iccid: str) -> dict[str, Any] | None:
    """The sandbox carrier's record of a line (OXIO's line object, its ICCID at sim.iccid, with
    the line services' data_balance_mb, features, topups and usage)."""
    r = sandbox.get("/__sandbox/carrier/lines")
    r.raise_for_status()
    return next((ln for ln in r.json()["lines"] if ln["sim"]["iccid"] == iccid), None)


def wait_carrier(sandbox: httpx.Client, iccid: str, pred, what: str,
                 timeout: float = WORKER_S) -> dict[str, Any]:
    """Polls the carrier's view of a line until `pred(line)`; fails with the last view."""
    deadline = time.monotonic() + timeout
    while True:
        line = carrier_line(sandbox, iccid)
        if line is not None and pred(line):
            return line
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout:.0f}s, line {iccid} has not {what}: {line}")
        time.sleep(0.5)


def receipts(sandbox: httpx.Client, user: User, invoice_id: str | None = None) -> list[dict]:
    return [m for m in mail_to(sandbox, user.email)
            if (m["subject"] or "").startswith(RECEIPT_SUBJECT)
            and (invoice_id is None or invoice_id in (m["text"] or ""))]


def wait_receipt(sandbox: httpx.Client, user: User, invoice_id: str) -> dict[str, Any]:
    [m] = wait_until(lambda: receipts(sandbox, user, invoice_id), WORKER_S,
                     f"the receipt of {invoice_id} to {user.email}")
    assert "DOTM cashback" in m["text"], m["text"]
    return m


def rewards_from(http: httpx.Client, user: User, source: str,
                 kind: str | None = None) -> list[dict[str, Any]]:
    return [r for r in all_rewards(get_rewards(http, user))
            if r["source"] == source and (kind is None or r["kind"] == kind)]


def entitlements_of(http: httpx.Client, user: User, *, invoice_id: str | None = None,
                    service_id: str | None = None) -> list[dict[str, Any]]:
    return [e for e in account(http, user)["entitlements"]
            if (invoice_id is None or e["invoice_id"] == invoice_id)
            and (service_id is None or e["service_id"] == service_id)]


def buy_esim(http: httpx.Client, sandbox: httpx.Client, user: User) -> dict[str, Any]:
    """The $1 eSIM through /api/esim/activate, paid, until its line is active."""
    answer = activate_api(http, user)
    check_payment_required(answer)
    pay_invoice(sandbox, answer["invoice_id"])
    return wait_line(http, user)


@pytest.fixture(scope="module")
def admin(sandbox: httpx.Client) -> User:
    """Signed in as the uid that ADMIN_UIDS lists."""
    email = f"{ADMIN_UID}@example.test"
    return User(ADMIN_UID, email, sandbox_token(sandbox, uid=ADMIN_UID, email=email))


@pytest.fixture(scope="module")
def stripe_v1(sandbox_url: str):
    """The sandbox's Stripe API itself (/v1), with the stack's Stripe key: for payments DOTM
    never asked for."""
    key = os.environ.get("STRIPE_SECRET_KEY", "sk_test_local")
    with httpx.Client(base_url=f"{sandbox_url}/v1", timeout=30,
                      headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


def unmatched(http: httpx.Client, admin: User) -> list[dict[str, Any]]:
    r = http.get("/api/admin/unmatched-payments", headers=admin.auth)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["payments"]


def unmatched_for(http: httpx.Client, admin: User, invoice_id: str) -> dict[str, Any]:
    found = [p for p in unmatched(http, admin) if p["invoice_id"] == invoice_id]
    assert len(found) == 1, (invoice_id, found)
    p = found[0]
    assert p["reason"] and p["event_id"].startswith("evt_"), p
    parse_time(p["at"])
    return p


# --------------------------------------------------------------------------- 1. data


def test_data_without_a_line_brings_the_esim_and_lands_on_the_new_line(
    http: httpx.Client, sandbox: httpx.Client, new_user
) -> None:
    user: User = new_user()
    o = order(http, user, [{"service_id": "global_data_10gb", "quantity": 2}])

    # No line yet: the $1.00 activation joins the same invoice.
    assert o["status"] == "open", o
    items = {i["service_id"]: i for i in o["items"]}
    assert set(items) == {"global_data_10gb", "esim_beta"}, o
    assert (items["global_data_10gb"]["quantity"], items["global_data_10gb"]["amount_cents"]) == \
        (2, 4000), items
    assert items["esim_beta"]["amount_cents"] == 100, items
    assert o["total_cents"] == 4100 and o["total"] == 41.0, o
    [payment] = o["payments"]
    assert "subscription_id" not in payment and not payment["paid"], payment
    assert sorted(payment["services"]) == ["esim_beta", "global_data_10gb"], payment
    assert payment["amount_cents"] == 4100, payment
    invoice_id = payment["invoice_id"]
    [inv] = invoices_of(sandbox, user.email)
    assert (inv["id"], inv["status"], inv["amount_due"]) == (invoice_id, "open", 4100), inv

    pay_invoice(sandbox, invoice_id)
    paid = get_order(http, user, o["order_id"])
    assert paid["status"] == "paid" and paid["paid_at"], paid
    assert paid["payments"][0]["paid"] is True, paid

    # The eSIM activates, then the worker tops up the new line with 2 x 10 GB.
    line = wait_line(http, user)
    wait_carrier(sandbox, line["iccid"], lambda ln: ln["data_balance_mb"] == 20480,
                 "20480 MB of data")

    receipt = wait_receipt(sandbox, user, invoice_id)
    assert receipt["idempotency_key"], receipt

    [reward] = rewards_from(http, user, invoice_id, "cashback")
    assert reward["status"] == "pending", reward  # no wallet yet: it waits for one
    assert reward["amount"] == cashback(4100), reward

    kinds = {e["kind"] for e in entitlements_of(http, user, invoice_id=invoice_id)}
    assert kinds == {"esim", "data"}, kinds


# --------------------------------------------------------------------------- 2. membership


def test_membership_gives_the_member_role_renews_a_year_and_ends_at_its_period_end(
    http: httpx.Client, sandbox: httpx.Client, new_user
) -> None:
    user: User = new_user()
    o = order(http, user, [{"service_id": "basic_membership"}])
    assert o["total_cents"] == 2400 and o["items"][0]["billing"] == "per year", o
    [payment] = o["payments"]
    assert payment["amount_cents"] == 2400 and payment["services"] == ["basic_membership"], payment
    sid = payment["subscription_id"]
    assert sid, payment
    sub = subscription(http, user, sid)
    assert (sub["status"], sub["paid_until"], sub["order_id"]) == ("unpaid", None, o["order_id"])
    assert sub["price_cents"] == 2400 and sub["service_id"] == "basic_membership", sub
    assert "member" not in me(http, user)["roles"]

    # The first year is paid: the role, until the period's end.
    first = payment["invoice_id"]
    pay_invoice(sandbox, first)
    sub = subscription(http, user, sid)
    assert sub["status"] == "active" and sub["cancel_at_period_end"] is False, sub
    year1 = parse_time(sub["paid_until"])
    assert 364 * DAY < year1 - time.time() < 367 * DAY, sub
    profile = me(http, user)
    assert "member" in profile["roles"], profile
    assert parse_time(profile["member_until"]) == year1, profile
    assert get_order(http, user, o["order_id"])["status"] == "paid"

    # Stripe renews it: the renewal invoice, paid, moves paid_until a year on and earns cashback.
    renewal = sandbox_post(sandbox, f"/__sandbox/stripe/subscriptions/{sid}/advance")["invoice"]
    assert renewal and renewal["status"] == "open" and renewal["amount_due"] == 2400, renewal
    assert renewal["id"] != first, renewal
    pay_invoice(sandbox, renewal["id"])

    def renewed():
        s = subscription(http, user, sid)
        return s if s["paid_until"] and parse_time(s["paid_until"]) > year1 else None

    sub = wait_until(renewed, WORKER_S, "paid_until to move on")
    year2 = parse_time(sub["paid_until"])
    assert 365 * DAY <= year2 - year1 <= 366 * DAY, (year1, year2)
    assert sub["status"] == "active", sub
    for source in (first, renewal["id"]):
        [reward] = rewards_from(http, user, source, "cashback")
        assert reward["amount"] == cashback(2400), reward

    # Cancelled: it ends at the period's end, the role stays meanwhile; a second cancel is a 409.
    r = http.post(f"/api/subscriptions/{sid}/cancel", headers=user.auth)
    assert r.status_code == 200, r.text
    cancelled = r.json()
    assert cancelled["subscription_id"] == sid and cancelled["cancel_at_period_end"] is True, \
        cancelled
    assert cancelled["status"] == "active", cancelled
    assert subscription(http, user, sid)["cancel_at_period_end"] is True
    assert "member" in me(http, user)["roles"]
    again = problem(http.post(f"/api/subscriptions/{sid}/cancel", headers=user.auth), 409,
                    "not-cancellable")
    assert "end" in again["detail"], again

    # The period ends (customer.subscription.deleted, ended_at = the period's end).
    ended = sandbox_post(sandbox, f"/__sandbox/stripe/subscriptions/{sid}/advance")
    assert ended["invoice"] is None and ended["subscription"]["status"] == "canceled", ended

    def canceled():
        s = subscription(http, user, sid)
        return s if s["status"] == "canceled" else None

    sub = wait_until(canceled, WORKER_S, "the subscription to be canceled")
    assert parse_time(sub["paid_until"]) == year2, sub
    memberships = entitlements_of(http, user, service_id="basic_membership")
    assert {e["invoice_id"] for e in memberships} == {first, renewal["id"]}, memberships
    assert all(e["kind"] == "role" and e["role"] == "member" for e in memberships), memberships
    assert max(parse_time(e["until"]) for e in memberships) == year2, memberships
    assert all(parse_time(e["until"]) <= year2 for e in memberships), memberships
    # The sandbox's period end lies in the future: what was paid lasts until then.
    profile = me(http, user)
    assert "member" in profile["roles"], profile
    assert parse_time(profile["member_until"]) == year2, profile
    r = http.post(f"/api/subscriptions/{sid}/cancel", headers=user.auth)
    problem(r, 409, "not-cancellable")


# --------------------------------------------------------------------------- 3. add-on


def test_vpn_add_on_turns_the_feature_on_and_a_refund_turns_it_off(
    http: httpx.Client, sandbox: httpx.Client, new_user
) -> None:
    user: User = new_user()
    line = buy_esim(http, sandbox, user)

    o = order(http, user, [{"service_id": "vpn_access"}])
    assert o["total_cents"] == 800 and o["items"][0]["billing"] == "per month", o
    [payment] = o["payments"]
    assert payment["subscription_id"] and payment["amount_cents"] == 800, payment
    invoice_id = payment["invoice_id"]
    pay_invoice(sandbox, invoice_id)

    wait_carrier(sandbox, line["iccid"], lambda ln: "vpn_access" in ln["features"],
                 "vpn_access on")
    [ent] = entitlements_of(http, user, invoice_id=invoice_id)
    assert (ent["service_id"], ent["kind"], ent["feature"]) == \
        ("vpn_access", "feature", "vpn_access"), ent
    assert ent["active"] is True and ent["revoked"] is False and ent["until"], ent
    assert subscription(http, user, payment["subscription_id"])["status"] == "active"

    sandbox_post(sandbox, f"/__sandbox/stripe/invoices/{invoice_id}/refund")
    wait_carrier(sandbox, line["iccid"], lambda ln: "vpn_access" not in ln["features"],
                 "vpn_access off after the refund")
    [ent] = entitlements_of(http, user, invoice_id=invoice_id)
    assert ent["revoked"] is True and ent["active"] is False, ent


# --------------------------------------------------------------------------- 4. Metal Card


def test_metal_card_is_ordered_when_paid_and_only_an_admin_marks_it_shipped(
    http: httpx.Client, sandbox: httpx.Client, new_user, admin: User
) -> None:
    user: User = new_user()
    o = order(http, user, [{"service_id": "dotm_metal_card"}], ADDRESS)
    assert o["total_cents"] == 9999, o
    assert o["shipping_address"] == {**ADDRESS, "country": "US"}, o
    assert o.get("card") is None, o  # nothing to ship before payment
    # The same request again while it is unpaid: the same order, no second invoice.
    twin = order(http, user, [{"service_id": "dotm_metal_card"}], ADDRESS)
    assert twin["order_id"] == o["order_id"], (o, twin)
    assert twin["payments"] == o["payments"], (o, twin)
    assert len(invoices_of(sandbox, user.email)) == 1

    [payment] = o["payments"]
    invoice_id = payment["invoice_id"]
    pay_invoice(sandbox, invoice_id)
    paid = get_order(http, user, o["order_id"])
    assert paid["status"] == "paid" and paid["card"] == {"status": "ordered"}, paid
    [founding] = rewards_from(http, user, f"founding#{invoice_id}")
    assert founding["kind"] == "founding_member", founding
    assert rewards_from(http, user, invoice_id, "cashback"), get_rewards(http, user)

    # Nobody but an admin sees unmatched payments or ships cards.
    card_url = f"/api/admin/orders/{user.uid}/{o['order_id']}/card"
    shipped = {"status": "shipped", "tracking": "UPS 1Z999AA10123456784"}
    problem(http.post(card_url, headers=user.auth, json=shipped), 403, "admin-only")
    problem(http.get("/api/admin/unmatched-payments", headers=user.auth), 403, "admin-only")
    assert get_order(http, user, o["order_id"])["card"] == {"status": "ordered"}

    r = http.post(card_url, headers=admin.auth, json=shipped)
    assert r.status_code == 200, r.text
    assert r.json()["order_id"] == o["order_id"] and r.json()["card"] == shipped, r.json()
    assert get_order(http, user, o["order_id"])["card"] == shipped

    # Paid: the same request now is a new order.
    again = order(http, user, [{"service_id": "dotm_metal_card"}], ADDRESS)
    assert again["order_id"] != o["order_id"] and again["status"] == "open", again
    assert {x["order_id"]: x["status"] for x in list_orders(http, user)} == \
        {o["order_id"]: "paid", again["order_id"]: "open"}


def test_the_admin_role_comes_from_admin_uids(http: httpx.Client, admin: User) -> None:
    r = http.post("/api/me", headers=admin.auth)
    assert r.status_code in (200, 201), r.text
    assert "admin" in me(http, admin)["roles"]
    assert isinstance(unmatched(http, admin), list)


# --------------------------------------------------------------------------- 5. dispute


def test_a_dispute_marks_the_order_reverses_the_data_and_refuses_the_cashback(
    http: httpx.Client, sandbox: httpx.Client, new_user
) -> None:
    user: User = new_user()
    line = buy_esim(http, sandbox, user)
    before = carrier_line(sandbox, line["iccid"])["data_balance_mb"]

    o = order(http, user, [{"service_id": "global_data_10gb"}])
    assert [i["service_id"] for i in o["items"]] == ["global_data_10gb"], o  # has a line
    assert o["total_cents"] == 2000, o
    invoice_id = o["payments"][0]["invoice_id"]
    pay_invoice(sandbox, invoice_id)
    wait_carrier(sandbox, line["iccid"], lambda ln: ln["data_balance_mb"] == before + 10240,
                 "10 GB more")
    [reward] = rewards_from(http, user, invoice_id, "cashback")
    assert reward["status"] == "pending", reward

    sandbox_post(sandbox, f"/__sandbox/stripe/invoices/{invoice_id}/dispute")
    assert wait_until(lambda: get_order(http, user, o["order_id"])["status"] == "disputed",
                      WORKER_S, "the order to be disputed")
    topped = wait_carrier(sandbox, line["iccid"], lambda ln: ln["data_balance_mb"] == before,
                          "the top-up reversed")
    assert any(t["reversed"] for t in topped["topups"]), topped
    [reward] = rewards_from(http, user, invoice_id, "cashback")
    assert reward["status"] == "refused" and reward["reason"], reward
    [ent] = entitlements_of(http, user, invoice_id=invoice_id)
    assert ent["kind"] == "data" and ent["revoked"] is True, ent


# --------------------------------------------------------------------------- 6. unmatched


def test_a_hand_made_invoice_naming_someone_grants_them_nothing(
    http: httpx.Client, sandbox: httpx.Client, stripe_v1: httpx.Client, new_user, admin: User
) -> None:
    victim: User = new_user()
    assert http.post("/api/me", headers=victim.auth).status_code in (200, 201)

    # Anyone with a Stripe account of their own can write metadata; DOTM never reads it.
    cus = stripe_v1.post("/customers", data={"email": f"x{uuid.uuid4().hex[:10]}@example.test",
                                             "metadata[firebase_uid]": victim.uid})
    assert cus.status_code == 200, cus.text
    cus_id = cus.json()["id"]
    inv = stripe_v1.post("/invoices", data={
        "customer": cus_id, "collection_method": "send_invoice", "days_until_due": "7",
        "metadata[firebase_uid]": victim.uid, "metadata[product]": "esim_beta"})
    assert inv.status_code == 200, inv.text
    invoice_id = inv.json()["id"]
    item = stripe_v1.post("/invoiceitems", data={
        "customer": cus_id, "invoice": invoice_id, "amount": "100", "currency": "usd",
        "description": "eSIM Beta Activation"})
    assert item.status_code == 200, item.text
    fin = stripe_v1.post(f"/invoices/{invoice_id}/finalize")
    assert fin.status_code == 200 and fin.json()["status"] == "open", fin.text
    paid = pay_invoice(sandbox, invoice_id)

    p = unmatched_for(http, admin, invoice_id)
    assert p["event_id"] == paid["event_id"], p
    assert (p["customer_id"], p["amount_paid"], p["currency"]) == (cus_id, 100, "usd"), p
    assert purchases_of(http, victim) == []
    assert rewards_from(http, victim, invoice_id) == []
    assert entitlements_of(http, victim) == []
    time.sleep(2)  # nothing was queued; give a wrong activation the time it would take
    assert phone_numbers(http, victim) == []


@pytest.mark.parametrize("overrides, reason_has", [
    ({"amount_paid": 1}, "$0.01"),
    ({"currency": "eur"}, "EUR"),
], ids=["underpaid", "in euros"])
def test_an_underpaid_or_foreign_currency_esim_payment_grants_nothing(
    http: httpx.Client, sandbox: httpx.Client, new_user, admin: User,
    overrides: dict[str, Any], reason_has: str
) -> None:
    user: User = new_user()
    answer = activate_api(http, user)
    check_payment_required(answer)
    invoice_id = answer["invoice_id"]
    paid = pay_invoice(sandbox, invoice_id, **overrides)

    p = unmatched_for(http, admin, invoice_id)
    assert p["event_id"] == paid["event_id"], p
    assert p["amount_paid"] == overrides.get("amount_paid", 100), p
    assert p["currency"] == overrides.get("currency", "usd"), p
    assert reason_has in p["reason"], p
    # Nothing granted; DOTM still waits for the $1.00 on the same invoice.
    assert purchases_of(http, user) == []
    assert rewards_from(http, user, invoice_id) == []
    again = activate_api(http, user)
    assert again["status"] == "payment_required" and again["invoice_id"] == invoice_id, again
    assert phone_numbers(http, user) == []


# --------------------------------------------------------------------------- 7. redelivery


def test_a_redelivered_paid_event_grants_credits_and_mails_once(
    http: httpx.Client, sandbox: httpx.Client, new_user
) -> None:
    user: User = new_user()
    o = order(http, user, [{"service_id": "global_data_10gb"}])
    invoice_id = o["payments"][0]["invoice_id"]
    event_id = pay_invoice(sandbox, invoice_id)["event_id"]
    line = wait_line(http, user)
    wait_carrier(sandbox, line["iccid"], lambda ln: ln["data_balance_mb"] == 10240, "10 GB")
    wait_receipt(sandbox, user, invoice_id)

    for _ in range(2):
        r = sandbox.post(f"/__sandbox/stripe/events/{event_id}/redeliver", json={})
        assert r.status_code == 200, r.text
        # A duplicate is no error.
        assert r.json()["delivery"]["status"] in range(200, 300), r.json()
    time.sleep(3)  # what a second delivery would have queued has had time to run

    assert [p["purchase_id"] for p in purchases_of(http, user)] == [invoice_id]
    assert len(rewards_from(http, user, invoice_id, "cashback")) == 1
    assert len(receipts(sandbox, user)) == 1, receipts(sandbox, user)
    ln = carrier_line(sandbox, line["iccid"])
    assert ln["data_balance_mb"] == 10240 and len(ln["topups"]) == 1, ln
    assert len(phone_numbers(http, user)) == 1
    assert get_order(http, user, o["order_id"])["status"] == "paid"


# --------------------------------------------------------------------------- 8. bad input, keys

BAD_ORDERS = {
    "unknown id": ({"items": [{"service_id": "no_such_service"}]}, "no_such_service"),
    "data x0": ({"items": [{"service_id": "global_data_10gb", "quantity": 0}]}, "global_data_10gb"),
    "data x11": ({"items": [{"service_id": "global_data_10gb", "quantity": 11}]},
                 "global_data_10gb"),
    "add-on x2": ({"items": [{"service_id": "vpn_access", "quantity": 2}]}, "vpn_access"),
    "free beta": ({"items": [{"service_id": "beta_access"}]}, "beta_access"),
    "info item": ({"items": [{"service_id": "dotm_rewards"}]}, "dotm_rewards"),
    "card without address": ({"items": [{"service_id": "dotm_metal_card"}]}, "shipping address"),
    "card, 3-letter country": ({"items": [{"service_id": "dotm_metal_card"}],
                                "shipping_address": {**ADDRESS, "country": "USA"}}, "country"),
    "card, empty line1": ({"items": [{"service_id": "dotm_metal_card"}],
                           "shipping_address": {**ADDRESS, "line1": "  "}}, "line1"),
    "address without card": ({"items": [{"service_id": "esim_beta"}],
                              "shipping_address": ADDRESS}, "shipping address"),
    "no items": ({"items": []}, "item"),
}


def test_bad_orders_are_refused_with_the_reason_and_write_nothing(
    http: httpx.Client, sandbox: httpx.Client, new_user
) -> None:
    user: User = new_user()
    for case, (body, needle) in BAD_ORDERS.items():
        r = http.post("/api/orders", headers=user.auth, json=body)
        detail = problem(r, 400, "invalid-order")["detail"]
        assert needle in detail, (case, detail)
    for case, raw in {"malformed": b'{"items": [', "not an object": b'"global_data_10gb"',
                      "quantity not a number": b'{"items": [{"service_id": "global_data_10gb",'
                                               b' "quantity": "two"}]}'}.items():
        r = http.post("/api/orders", content=raw,
                      headers={**user.auth, "Content-Type": "application/json"})
        problem(r, 400, "invalid-body")
    assert list_orders(http, user) == []
    assert customers_of(sandbox, user.email) == [] and invoices_of(sandbox, user.email) == []


@pytest.mark.parametrize("verified", [None, False], ids=["no email", "unverified email"])
def test_an_order_needs_a_verified_email_on_the_token(http: httpx.Client, sandbox: httpx.Client,
                                                      verified: bool | None) -> None:
    uid = f"t{uuid.uuid4().hex}"
    email = f"{uid}@example.test"
    claims: dict[str, Any] = {} if verified is None else {"email": email,
                                                          "email_verified": verified}
    user = User(uid, email, sandbox_token(sandbox, uid=uid, **claims))
    r = post_order(http, user, [{"service_id": "global_data_10gb"}])
    problem(r, 422, "no-email")
    assert list_orders(http, user) == []
    assert invoices_of(sandbox, email) == []


def test_an_idempotency_key_replays_its_order_and_refuses_another_body(
    http: httpx.Client, sandbox: httpx.Client, new_user
) -> None:
    user: User = new_user()
    key = f"order-{uuid.uuid4().hex}"
    data = [{"service_id": "global_data_10gb", "quantity": 1}]
    first = order(http, user, data, key=key)
    replay = order(http, user, data, key=key)
    assert replay["order_id"] == first["order_id"], (first, replay)
    assert replay["payments"] == first["payments"], (first, replay)
    assert len(invoices_of(sandbox, user.email)) == 1

    other = post_order(http, user, [{"service_id": "global_data_10gb", "quantity": 2}], key=key)
    problem(other, 409, "idempotency-conflict")
    assert [o["order_id"] for o in list_orders(http, user)] == [first["order_id"]]

    # Without a key the request itself is the key, while its order is unpaid.
    time.sleep(1.1)  # created_at has whole seconds: make "newest first" observable
    cart = order(http, user, data)
    assert cart["order_id"] != first["order_id"], cart
    assert order(http, user, data)["order_id"] == cart["order_id"]
    assert [o["order_id"] for o in list_orders(http, user)] == [cart["order_id"],
                                                                first["order_id"]]
    assert len(invoices_of(sandbox, user.email)) == 2


def test_another_persons_order_and_subscription_are_not_found(
    http: httpx.Client, new_user
) -> None:
    owner: User = new_user()
    other: User = new_user()
    o = order(http, owner, [{"service_id": "network_monitoring"}])
    sid = o["payments"][0]["subscription_id"]
    assert sid, o

    problem(http.get(f"/api/orders/{o['order_id']}", headers=other.auth), 404, "no-such-order")
    problem(http.get("/api/orders/ord_00000000000000000000", headers=owner.auth), 404,
            "no-such-order")
    assert list_orders(http, other) == []
    problem(http.post(f"/api/subscriptions/{sid}/cancel", headers=other.auth), 404,
            "no-such-subscription")
    problem(http.post("/api/subscriptions/sub_doesnotexist/cancel", headers=owner.auth), 404,
            "no-such-subscription")
    assert subscriptions(http, other) == []
    # The owner's subscription is untouched by the stranger's attempt.
    s = subscription(http, owner, sid)
    assert s["cancel_at_period_end"] is False and s["status"] == "unpaid", s
    assert get_order(http, owner, o["order_id"])["order_id"] == o["order_id"]
