"""`activate_esim` through the official MCP Python SDK on the running stack (issue 4): the whole
way from a sandbox ID token to a paid purchase (`queued` or `active`), concurrent first calls,
and identity from the token only. The ID token travels in the HTTP `Authorization` header of
the MCP POSTs."""

from __future__ import annotations

from typing import Any

import anyio
import httpx

from conftest import Mcp, User, mcp_text
from test_payments import (
    activate_api,
    check_one_purchase,
    check_paid,
    check_payment_required,
    customers_of,
    invoices_of,
    pay,
    purchases_of,
)

# --------------------------------------------------------------------------- the whole way


def test_sign_in_activate_pay_webhook_paid(http: httpx.Client, sandbox: httpx.Client, mcp: Mcp,
                                           new_user) -> None:
    user: User = new_user()

    # 1. activate_esim through the MCP SDK with the ID token: pay first, here is the invoice.
    result = mcp.call("activate_esim", {}, token=user.token)
    assert not result.is_error, result
    answer = result.structured_content
    check_payment_required(answer)
    invoice_id = answer["invoice_id"]
    assert "$1.00" in mcp_text(result) or answer["invoice_url"] in mcp_text(result), mcp_text(result)

    # 2. The sandbox has exactly that invoice, open and sent, for a customer tagged with the uid;
    #    its hosted page is where the answer points.
    invoices = invoices_of(sandbox, user.email)
    assert [i["id"] for i in invoices] == [invoice_id], invoices
    inv = invoices[0]
    assert inv["status"] == "open" and inv["amount_due"] == 100 and inv["currency"] == "usd", inv
    assert inv["collection_method"] == "send_invoice", inv
    assert inv["hosted_invoice_url"] == answer["invoice_url"], inv
    assert inv["sandbox"]["sent_at"], inv
    customers = customers_of(sandbox, user.email)
    assert len(customers) == 1 and customers[0]["metadata"].get("firebase_uid") == user.uid, customers
    page = httpx.get(answer["invoice_url"], timeout=30)
    assert page.status_code == 200 and "$1.00" in page.text, page.text[:300]

    # 3. Nothing is paid yet: asking again gives the same invoice, the purchases list is empty.
    again = activate_api(http, user)
    check_payment_required(again)
    assert again["invoice_id"] == invoice_id, again
    assert purchases_of(http, user) == []

    # 4. The person pays; Stripe (the sandbox) sends the signed invoice.paid to the webhook,
    #    which answers 2xx on the first attempt.
    paid = pay(sandbox, invoice_id)
    assert paid["delivery"]["status"] in range(200, 300), paid["delivery"]
    events = sandbox.get("/__sandbox/stripe/events", params={"invoice": invoice_id}).json()["data"]
    assert [e["type"] for e in events] == ["invoice.paid", "invoice_payment.paid"], events
    assert events[0]["delivered"], events[0]
    assert [a["status"] for a in events[0]["attempts"]] == [paid["delivery"]["status"]], events[0]

    # 5. activate_esim now answers with the paid purchase (queued or active); so does the API.
    result = mcp.call("activate_esim", {}, token=user.token)
    assert not result.is_error, result
    check_paid(result.structured_content, invoice_id)
    check_paid(activate_api(http, user), invoice_id)

    # 6. The purchase is listed; no second invoice was made for the paid product.
    check_one_purchase(purchases_of(http, user), invoice_id)
    assert [i["id"] for i in invoices_of(sandbox, user.email)] == [invoice_id]
    me = http.get("/api/me", headers=user.auth).json()
    assert me["stripe_customer_id"] == customers[0]["id"], me



def test_ten_concurrent_mcp_activations_make_one_invoice(sandbox: httpx.Client, mcp: Mcp,
                                                         new_user) -> None:
    user: User = new_user()
    results: list[Any] = [None] * 10

    async def run() -> None:
        async def one(i: int) -> None:
            results[i] = await mcp.acall("activate_esim", {}, token=user.token)

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(one, i)

    anyio.run(run)
    assert not any(r.is_error for r in results), results
    answers = [r.structured_content for r in results]
    for a in answers:
        check_payment_required(a)
    assert len({a["invoice_id"] for a in answers}) == 1, answers
    assert len(customers_of(sandbox, user.email)) == 1
    assert [i["id"] for i in invoices_of(sandbox, user.email)] == [answers[0]["invoice_id"]]


# --------------------------------------------------------------------------- identity from the token only


def test_mcp_arguments_naming_another_user_act_for_the_token_user(
    http: httpx.Client, sandbox: httpx.Client, mcp: Mcp, new_user
) -> None:
    a, b = new_user(), new_user()
    result = mcp.call("activate_esim", {"firebase_uid": b.uid, "email": b.email}, token=a.token)
    assert not result.is_error, result
    answer = result.structured_content
    assert answer["status"] == "payment_required", answer
    a_invoices = sandbox.get("/__sandbox/stripe/invoices", params={"customer_email": a.email}).json()["data"]
    assert [i["id"] for i in a_invoices] == [answer["invoice_id"]], a_invoices
    assert sandbox.get("/__sandbox/stripe/invoices", params={"customer_email": b.email}).json()["data"] == []
    assert sandbox.get("/__sandbox/stripe/customers", params={"email": b.email}).json()["data"] == []
