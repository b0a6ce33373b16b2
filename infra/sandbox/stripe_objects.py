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
- Product: id, active, created, images, livemode, marketing_features, metadata, name, type, updated
- Price: id, active, billing_scheme, created, currency, livemode, metadata, product, type;
  its recurring{interval, interval_count, usage_type}
- Subscription: id, automatic_tax{enabled}, billing_cycle_anchor, billing_mode{type},
  billing_schedules, cancel_at_period_end, collection_method, created, currency, customer,
  discounts, invoice_settings{issuer{type}}, items (list), livemode, metadata, start_date, status
- SubscriptionItem: id, created, current_period_end, current_period_start, discounts, metadata,
  plan (a Plan: id, active, billing_scheme, created, currency, interval, interval_count,
  livemode, usage_type), price, subscription
- Charge: id, amount, amount_captured, amount_refunded, billing_details, captured, created,
  currency, disputed, livemode, metadata, paid, refunded, status
- Refund: id, amount, created, currency
- Dispute: id, amount, balance_transactions, charge, created, currency,
  enhanced_eligibility_types, evidence{enhanced_evidence}, evidence_details{enhanced_eligibility,
  has_evidence, past_due, submission_count}, is_charge_refundable, livemode, metadata, reason,
  status
- an invoice's parent{type} (subscription_details{subscription}) and a subscription line's
  parent{type} (subscription_item_details{proration, subscription_item})

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


def subscription_line_item(line: dict, invoice_id: str, price_obj: dict) -> dict:
    """A subscription's line on its invoice: `line` is the sandbox's stored record (see
    stripe_api.Stripe._subscription_invoice), `price_obj` the price as it is now."""
    return {
        "id": line["line_id"],
        "object": "line_item",
        "amount": line["amount"],
        "currency": line["currency"],
        "description": line.get("description"),
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(line.get("metadata") or {}),
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": line["subscription"],
                "subscription_item": line["subscription_item"],
            },
        },
        "period": {"start": line["period_start"], "end": line["period_end"]},
        "pretax_credit_amounts": [],
        "pricing": {
            "type": "price_details",
            "price_details": {"price": price_obj["id"], "product": price_obj["product"]
                              if isinstance(price_obj["product"], str)
                              else price_obj["product"]["id"]},
            "unit_amount_decimal": price_obj["unit_amount_decimal"],
        },
        "quantity": line["quantity"],
        "quantity_decimal": str(line["quantity"]),
        "subscription": line["subscription"],
        "subtotal": line["amount"],
        "taxes": [],
    }


def invoice(inv: dict, items: list[dict], customer_obj: dict | None,
            sub_lines: list[dict] | tuple = ()) -> dict:
    """`inv` is the sandbox's stored record, `items` its invoice items (oldest first),
    `sub_lines` its subscription lines already rendered (subscription_line_item).

    A paid invoice's `amount_paid` and `currency` are what the payment said when the sandbox was
    told to pay otherwise (the pay endpoint's `amount_paid`/`currency`: a provider-side mismatch).
    """
    subtotal = sum(i["amount"] for i in items) + sum(li["amount"] for li in sub_lines)
    total = subtotal
    paid = inv["status"] == "paid"
    amount_paid = inv.get("paid_amount", total) if paid else 0
    amount_remaining = 0 if paid else total
    lines = [invoice_line_item(i, inv["id"]) for i in reversed(items)] + list(sub_lines)
    sub = inv.get("subscription")
    parent = None if not sub else {
        "type": "subscription_details",
        "quote_details": None,
        "subscription_details": {
            "metadata": dict(inv.get("subscription_metadata") or {}),
            "subscription": sub,
        },
    }
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
        "billing_reason": inv.get("billing_reason", "manual"),
        "collection_method": inv["collection_method"],
        "created": inv["created"],
        "currency": inv.get("paid_currency") or inv["currency"],
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
        "parent": parent,
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
        "subscription": sub,
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
          idempotency_key: str | None = None, pending_webhooks: int = 1,
          previous_attributes: dict | None = None) -> dict:
    data: dict = {"object": obj}
    if previous_attributes is not None:  # Stripe sends it on *.updated events only
        data["previous_attributes"] = previous_attributes
    return {
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type_,
    }


# ---- billing: products, prices, subscriptions ---------------------------------------------


def product(p: dict) -> dict:
    """`p` is the sandbox's stored record (see stripe_api.Stripe.create_product)."""
    return {
        "id": p["id"],
        "object": "product",
        "active": p["active"],
        "created": p["created"],
        "default_price": None,
        "description": p.get("description"),
        "images": list(p.get("images") or []),
        "livemode": False,
        "marketing_features": [],
        "metadata": dict(p.get("metadata") or {}),
        "name": p["name"],
        "package_dimensions": None,
        "shippable": p.get("shippable"),
        "statement_descriptor": p.get("statement_descriptor"),
        "tax_code": None,
        "type": "service",
        "unit_label": p.get("unit_label"),
        "updated": p["updated"],
        "url": p.get("url"),
    }


def price(p: dict, product_obj: dict | None = None) -> dict:
    """`p` is the sandbox's stored record; `product_obj` replaces the product id when expanded."""
    recurring = None if p.get("interval") is None else {
        "interval": p["interval"],
        "interval_count": p["interval_count"],
        "meter": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }
    return {
        "id": p["id"],
        "object": "price",
        "active": p["active"],
        "billing_scheme": "per_unit",
        "created": p["created"],
        "currency": p["currency"],
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": p.get("lookup_key"),
        "metadata": dict(p.get("metadata") or {}),
        "nickname": p.get("nickname"),
        "product": product_obj if product_obj is not None else p["product"],
        "recurring": recurring,
        "tax_behavior": p.get("tax_behavior") or "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time" if recurring is None else "recurring",
        "unit_amount": p["unit_amount"],
        "unit_amount_decimal": str(p["unit_amount"]),
    }


def plan(price_obj: dict) -> dict:
    """The legacy Plan view of a recurring price (a subscription item still carries it)."""
    rec = price_obj["recurring"] or {}
    prod = price_obj["product"]
    return {
        "id": price_obj["id"],
        "object": "plan",
        "active": price_obj["active"],
        "amount": price_obj["unit_amount"],
        "amount_decimal": price_obj["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price_obj["created"],
        "currency": price_obj["currency"],
        "interval": rec.get("interval"),
        "interval_count": rec.get("interval_count"),
        "livemode": False,
        "metadata": dict(price_obj["metadata"]),
        "meter": None,
        "nickname": price_obj["nickname"],
        "product": prod if isinstance(prod, str) else prod["id"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def subscription_item(it: dict, sub: dict, price_obj: dict) -> dict:
    return {
        "id": it["id"],
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": it["created"],
        "current_period_end": sub["current_period_end"],
        "current_period_start": sub["current_period_start"],
        "discounts": [],
        "metadata": dict(it.get("metadata") or {}),
        "plan": plan(price_obj),
        "price": price_obj,
        "quantity": it["quantity"],
        "subscription": sub["id"],
        "tax_rates": [],
    }


def subscription(sub: dict, items: list[dict], latest_invoice, customer) -> dict:
    """`sub` is the sandbox's stored record (see stripe_api.Stripe.create_subscription),
    `items` its rendered subscription items; `latest_invoice` and `customer` are ids or, when
    expanded, objects."""
    details = sub.get("cancellation_details") or {}
    return {
        "id": sub["id"],
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": sub["billing_cycle_anchor"],
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": sub.get("cancel_at"),
        "cancel_at_period_end": sub["cancel_at_period_end"],
        "canceled_at": sub.get("canceled_at"),
        "cancellation_details": {"comment": details.get("comment"),
                                 "feedback": details.get("feedback"),
                                 "reason": details.get("reason")},
        "collection_method": sub["collection_method"],
        "created": sub["created"],
        "currency": sub["currency"],
        "customer": customer,
        "customer_account": None,
        "days_until_due": sub.get("days_until_due"),
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": sub.get("description"),
        "discounts": [],
        "ended_at": sub.get("ended_at"),
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": list_object(f"/v1/subscription_items?subscription={sub['id']}", items),
        "latest_invoice": latest_invoice,
        "livemode": False,
        "metadata": dict(sub.get("metadata") or {}),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": sub["start_date"],
        "status": sub["status"],
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


# ---- payments: charges, refunds, disputes -------------------------------------------------


def invoice_payment(ip: dict) -> dict:
    """The tie between a payment and the invoice it paid (API 2025-03-31.basil and later; an
    invoice names no charge or payment intent, a charge no invoice)."""
    return {
        "id": ip["id"],
        "object": "invoice_payment",
        "amount_paid": ip["amount_paid"],
        "amount_requested": ip["amount_requested"],
        "created": ip["created"],
        "currency": ip["currency"],
        "invoice": ip["invoice"],
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": ip["payment_intent"]},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": ip["created"]},
    }


def webhook_endpoint(we: dict, *, secret: str | None = None) -> dict:
    """`secret` only in the answer to its creation, as at Stripe."""
    obj = {
        "id": we["id"],
        "object": "webhook_endpoint",
        "api_version": we["api_version"],
        "application": None,
        "created": we["created"],
        "description": we.get("description"),
        "enabled_events": list(we["enabled_events"]),
        "livemode": False,
        "metadata": dict(we.get("metadata") or {}),
        "status": "disabled" if we.get("disabled") else "enabled",
        "url": we["url"],
    }
    if secret is not None:
        obj["secret"] = secret
    return obj


def refund(r: dict) -> dict:
    return {
        "id": r["id"],
        "object": "refund",
        "amount": r["amount"],
        "balance_transaction": None,
        "charge": r["charge"],
        "created": r["created"],
        "currency": r["currency"],
        "destination_details": {
            "card": {"type": "refund"},
            "type": "card",
        },
        "metadata": dict(r.get("metadata") or {}),
        "payment_intent": r["payment_intent"],
        "reason": r.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def charge(ch: dict, refunds: list[dict], customer_obj: dict | None) -> dict:
    """`ch` is the sandbox's stored record (see stripe_api.Stripe._charge_invoice), `refunds`
    its rendered refunds, newest first."""
    c = customer_obj or {}
    return {
        "id": ch["id"],
        "object": "charge",
        "amount": ch["amount"],
        "amount_captured": ch["amount"],
        "amount_refunded": ch["amount_refunded"],
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": {
            "address": {"city": None, "country": None, "line1": None, "line2": None,
                        "postal_code": None, "state": None},
            "email": c.get("email"),
            "name": c.get("name"),
            "phone": c.get("phone"),
            "tax_id": None,
        },
        "calculated_statement_descriptor": "DOTM SANDBOX",
        "captured": True,
        "created": ch["created"],
        "currency": ch["currency"],
        "customer": ch["customer"],
        "description": ch.get("description"),
        "disputed": ch["disputed"],
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": ch["payment_intent"],
        "payment_method": ch["payment_method"],
        "payment_method_details": {
            "card": {
                "brand": "visa",
                "checks": {"address_line1_check": None, "address_postal_code_check": None,
                           "cvc_check": "pass"},
                "country": "US",
                "exp_month": 12,
                "exp_year": 2034,
                "fingerprint": None,
                "funding": "credit",
                "last4": "4242",
                "network": "visa",
            },
            "type": "card",
        },
        "receipt_email": c.get("email"),
        "receipt_number": None,
        "receipt_url": None,
        "refunded": ch["amount_refunded"] >= ch["amount"] and ch["amount_refunded"] > 0,
        "refunds": list_object(f"/v1/charges/{ch['id']}/refunds", refunds),
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


_EVIDENCE = (
    "access_activity_log", "billing_address", "cancellation_policy",
    "cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication",
    "customer_email_address", "customer_name", "customer_purchase_ip", "customer_signature",
    "duplicate_charge_documentation", "duplicate_charge_explanation", "duplicate_charge_id",
    "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
    "refund_refusal_explanation", "service_date", "service_documentation", "shipping_address",
    "shipping_carrier", "shipping_date", "shipping_documentation", "shipping_tracking_number",
    "uncategorized_file", "uncategorized_text",
)


def dispute(d: dict) -> dict:
    evidence = {k: None for k in _EVIDENCE}
    evidence["enhanced_evidence"] = {}
    return {
        "id": d["id"],
        "object": "dispute",
        "amount": d["amount"],
        "balance_transactions": [],
        "charge": d["charge"],
        "created": d["created"],
        "currency": d["currency"],
        "enhanced_eligibility_types": [],
        "evidence": evidence,
        "evidence_details": {
            "due_by": d["created"] + 7 * 86400,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": d["payment_intent"],
        "payment_method_details": {
            "card": {"brand": "visa", "case_type": "chargeback", "network": "visa",
                     "network_reason_code": "10.4"},
            "type": "card",
        },
        "reason": d["reason"],
        "status": d["status"],
    }
