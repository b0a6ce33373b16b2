"""Stripe API objects as Stripe returns them, with every field that async-stripe 1.0.0-rc.10
requires to deserialize (miniserde `take_out` fails with a bare "error deserializing request
data" when a non-Option field is missing).

Required (non-Option) fields, from the crates' `deser_default` (a field that defaults to `None`
there must be present; one that defaults to `Some(None)` may be absent or null):

- Customer (stripe_shared): id, created, livemode
- InvoiceItem (stripe_billing): id, amount, currency, customer, date, discountable, livemode,
  period{start,end}, proration, quantity, quantity_decimal (a string)
- Invoice (stripe_shared): amount_due, amount_overpaid, amount_paid, amount_remaining,
  amount_shipping, attempt_count, attempted, automatic_tax{enabled}, collection_method, created,
  currency, default_tax_rates, discounts, issuer{type}, lines (list), livemode, payment_settings,
  period_end, period_start, post_payment_credit_notes_amount, pre_payment_credit_notes_amount,
  starting_balance, status_transitions, subtotal, total
- InvoiceLineItem (stripe_shared): id, amount, currency, discountable, discounts, livemode,
  metadata (a map, not null), period{start,end}, subtotal
- List (stripe_types): data, has_more, url
- Event (stripe_shared, used by stripe_webhook): id, created, data{object}, livemode,
  pending_webhooks, type; the data.object must parse as the type's object (Invoice here)
- Error (stripe_shared): error{type}

Everything else that real Stripe sends is filled with realistic defaults (mostly null) so that
the objects also look like Stripe's to a reader.
"""

from __future__ import annotations

import secrets
import string
import time

API_VERSION = "2026-09-30.endive"  # stripe_shared::version::VERSION of async-stripe 1.0.0-rc.10

_ALNUM = string.ascii_letters + string.digits


def new_id(prefix: str, n: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALNUM) for _ in range(n))


def now() -> int:
    return int(time.time())


def list_object(url: str, data: list, has_more: bool = False) -> dict:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def error_object(
    type_: str, message: str, *, code: str | None = None, param: str | None = None
) -> dict:
    err: dict = {"type": type_, "message": message}
    if code:
        err["code"] = code
        err["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        err["param"] = param
    return {"error": err}


def customer(
    *,
    id: str,
    created: int,
    email: str | None = None,
    name: str | None = None,
    description: str | None = None,
    phone: str | None = None,
    metadata: dict | None = None,
    invoice_prefix: str = "",
    next_invoice_sequence: int = 1,
) -> dict:
    return {
        "id": id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "invoice_prefix": invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(metadata or {}),
        "name": name,
        "next_invoice_sequence": next_invoice_sequence,
        "phone": phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def _pricing(unit_amount_decimal: str, price_id: str | None, product_id: str | None) -> dict | None:
    if not price_id:
        return None
    return {
        "type": "price_details",
        "price_details": {"price": price_id, "product": product_id or new_id("prod", 14)},
        "unit_amount_decimal": unit_amount_decimal,
    }


def invoice_item(item: dict) -> dict:
    """`item` is the sandbox's stored record (see stripe_api.Stripe.create_invoice_item)."""
    return {
        "id": item["id"],
        "object": "invoiceitem",
        "amount": item["amount"],
        "currency": item["currency"],
        "customer": item["customer"],
        "date": item["date"],
        "description": item.get("description"),
        "discountable": True,
        "discounts": [],
        "invoice": item.get("invoice"),
        "livemode": False,
        "metadata": dict(item.get("metadata") or {}),
        "net_amount": item["amount"],
        "parent": None,
        "period": {"start": item["date"], "end": item["date"]},
        "pricing": _pricing(item["unit_amount_decimal"], item.get("price"), item.get("product")),
        "proration": False,
        "quantity": item["quantity"],
        "quantity_decimal": str(item["quantity"]),
        "tax_rates": [],
        "test_clock": None,
    }


def invoice_line_item(item: dict, invoice_id: str) -> dict:
    return {
        "id": item["line_id"],
        "object": "line_item",
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item.get("description"),
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(item.get("metadata") or {}),
        "parent": {
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
        },
        "period": {"start": item["date"], "end": item["date"]},
        "pretax_credit_amounts": [],
        "pricing": _pricing(item["unit_amount_decimal"], item.get("price"), item.get("product")),
        "quantity": item["quantity"],
        "quantity_decimal": str(item["quantity"]),
        "subtotal": item["amount"],
        "taxes": [],
    }


def invoice(inv: dict, items: list[dict], customer_obj: dict | None) -> dict:
    """`inv` is the sandbox's stored record, `items` its invoice items (oldest first)."""
    subtotal = sum(i["amount"] for i in items)
    total = subtotal
    paid = inv["status"] == "paid"
    amount_paid = total if paid else 0
    amount_remaining = 0 if paid else total
    lines = [invoice_line_item(i, inv["id"]) for i in reversed(items)]
    return {
        "id": inv["id"],
        "object": "invoice",
        "account_country": "US",
        "account_name": "DOTM (sandbox)",
        "account_tax_ids": None,
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": amount_paid,
        "amount_remaining": amount_remaining,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": inv.get("attempt_count", 0),
        "attempted": inv.get("attempted", False),
        "auto_advance": inv["auto_advance"],
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": "manual",
        "collection_method": inv["collection_method"],
        "created": inv["created"],
        "currency": inv["currency"],
        "custom_fields": None,
        "customer": inv["customer"],
        "customer_address": None,
        "customer_email": (customer_obj or {}).get("email"),
        "customer_name": (customer_obj or {}).get("name"),
        "customer_phone": (customer_obj or {}).get("phone"),
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": inv.get("description"),
        "discounts": [],
        "due_date": inv.get("due_date"),
        "effective_at": inv.get("effective_at"),
        "ending_balance": 0 if inv["status"] != "draft" else None,
        "footer": inv.get("footer"),
        "from_invoice": None,
        "hosted_invoice_url": inv.get("hosted_invoice_url"),
        "invoice_pdf": inv.get("invoice_pdf"),
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_object(f"/v1/invoices/{inv['id']}/lines", lines),
        "livemode": False,
        "metadata": dict(inv.get("metadata") or {}),
        "next_payment_attempt": None,
        "number": inv.get("number"),
        "on_behalf_of": None,
        "parent": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": inv["created"],
        "period_start": inv["created"],
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": inv["status"],
        "status_transitions": {
            "finalized_at": inv.get("finalized_at"),
            "marked_uncollectible_at": None,
            "paid_at": inv.get("paid_at"),
            "voided_at": None,
        },
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": inv.get("webhooks_delivered_at"),
    }


def event(*, id: str, type_: str, created: int, obj: dict, request_id: str | None = None,
          idempotency_key: str | None = None, pending_webhooks: int = 1) -> dict:
    return {
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type_,
    }
