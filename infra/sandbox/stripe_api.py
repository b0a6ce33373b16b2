"""The subset of Stripe's REST API that DOTM uses, plus the sandbox's test endpoints.

Stripe's conventions are kept: form-encoded bodies with nested keys, `Authorization: Bearer
<secret key>` (or HTTP Basic with the key as user name), `Idempotency-Key` on POSTs (the first
response is replayed with `Idempotent-Replayed: true`; the same key with other parameters is a
400 `idempotency_error`), unknown parameters are a 400, errors are `{"error": {type, message,
code?, param?}}`, lists are `{"object": "list", ...}` newest first. Webhooks are signed as
Stripe signs them: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
The billing endpoints (products, prices, subscriptions, refunds) answer a real Stripe parameter
that the sandbox does not implement with a 400 naming it, rather than billing otherwise in
silence; a few that change nothing here (default_payment_method, payment_settings,
proration_behavior, off_session, invoice_settings; payment_behavior is checked, then ignored)
are accepted.

The API (under /v1):

    POST /v1/customers, GET /v1/customers[?email=], GET /v1/customers/{id}
    POST /v1/invoiceitems, GET /v1/invoiceitems/{id}
    POST /v1/invoices, GET /v1/invoices[?customer=&status=&collection_method=],
    GET  /v1/invoices/{id}, POST /v1/invoices/{id}/finalize, POST /v1/invoices/{id}/send
    POST /v1/products {id?, name, description, metadata, active, ...}   (an existing id: 400
         resource_already_exists), GET /v1/products[?active=&ids[]=], GET /v1/products/{id}
    POST /v1/prices {product | product_data, unit_amount, currency, recurring[interval]
         (day|week|month|year), recurring[interval_count], lookup_key, transfer_lookup_key,
         nickname, metadata, active}: a lookup key names one price; taking it from another
         active price needs transfer_lookup_key=true (from an inactive one it just moves)
    POST /v1/prices/{id} {active, metadata, nickname, lookup_key, transfer_lookup_key} (prices
         are never edited otherwise: unit_amount there is parameter_unknown, as at Stripe)
    GET  /v1/prices[?lookup_keys[]=&active=&product=&currency=&type=], GET /v1/prices/{id}
    POST /v1/subscriptions {customer, items[N][price], items[N][quantity], collection_method,
         days_until_due, metadata, description, cancel_at_period_end, payment_behavior}
         send_invoice: `active` at once, its first invoice (billing_reason subscription_create)
         a DRAFT for the caller to finalize and send. charge_automatically: `incomplete` with
         the first invoice finalized (open) at once; `active` when that invoice is paid.
         Subscription invoices carry `subscription`, `parent.subscription_details{subscription,
         metadata}` (the subscription's metadata, snapshotted; invoice.metadata stays empty) and
         one line per item (price, quantity, amount, period = the billed period).
    GET  /v1/subscriptions[?customer=&status=&price=] (canceled ones only with status=canceled
         or status=all, as at Stripe), GET /v1/subscriptions/{id}
    POST /v1/subscriptions/{id} {cancel_at_period_end, metadata, description,
         cancellation_details}  -> customer.subscription.updated (data.previous_attributes) when
         something changed
    DELETE /v1/subscriptions/{id}  -> status canceled, canceled_at = ended_at = now,
         customer.subscription.deleted
    POST /v1/refunds {charge | payment_intent, amount? (default: what is left), reason,
         metadata} -> charge.refunded; GET /v1/refunds/{id}, GET /v1/charges/{id},
         GET /v1/disputes/{id}
    GET  /v1/invoice_payments[?invoice=&payment[type]=payment_intent&payment[payment_intent]=
         &status=], GET /v1/invoice_payments/{id}: which payment paid which invoice (since
         2025-03-31.basil an invoice names no charge or payment intent and a charge no invoice)
    POST /v1/webhook_endpoints {url, enabled_events[], api_version, description, metadata},
         GET /v1/webhook_endpoints, GET|POST|DELETE /v1/webhook_endpoints/{id}: recorded for
         setup and preflight (its `secret`, on creation only, is the sandbox's --webhook-secret:
         every delivery is signed with that one). Unlike Stripe, which wants a public URL, it
         takes loopback `http://` URLs: the local stacks register their gateway's. Deliveries go to --webhook-url (or a test
         endpoint's `webhook_url`), as `stripe listen --forward-to` forwards every event.
    `Stripe-Version`: absent or 2026-09-30.endive (the one version the sandbox renders);
    any other is a 400 naming it.
    `expand[]`: latest_invoice, customer and items.data.price.product on subscriptions, product
    (data.product on lists) on prices; other paths are accepted and left unexpanded.

Periods follow the calendar from the billing cycle anchor (the start): months and years keep
the anchor's day of month (clamped to the month's last day), days and weeks are 86400 s units.

Events that /v1 calls cause are delivered (and retried) in the background, to --webhook-url.
Test endpoints (under /__sandbox/stripe/; the POSTs that make an event take an optional
`webhook_url` in their JSON body and answer its first delivery attempt, the rest being retried
in the background):

    POST invoices/{id}/pay {amount_paid?, currency?}   pay an open invoice: a charge (ch_, with a
         payment intent pi_) and an invoice payment (inpay_) tying the intent to the invoice are
         made; invoice.paid (its first attempt answered), then invoice_payment.paid.
         `amount_paid`/`currency` override what the paid invoice says (a provider-side
         mismatch). -> {invoice, charge, invoice_payment, event_id, delivery}
    POST invoices/{id}/fail        an open invoice's payment attempt fails (attempt_count + 1);
         invoice.payment_failed -> {invoice, event_id, delivery}
    POST invoices/{id}/refund {amount?, reason?}   refund the invoice's charge; charge.refunded
         -> {refund, charge, event_id, delivery}. As at Stripe, no refund once the charge is
         disputed (400 charge_disputed), nor beyond what is left (400).
    POST invoices/{id}/dispute {amount?, reason?}  dispute the invoice's charge (needs_response);
         charge.dispute.created -> {dispute, event_id, delivery}
    POST disputes/{id}/close {status: lost|won}    charge.dispute.closed -> {dispute, event_id,
         delivery}
    POST subscriptions/{id}/advance   the next period: a renewal invoice (subscription_cycle),
         finalized and sent, and customer.subscription.updated -> {subscription, invoice,
         event_id, delivery}; with cancel_at_period_end the subscription ends instead (canceled,
         ended_at = the period's end) and customer.subscription.deleted -> {subscription,
         invoice: null, event_id, delivery}
    POST events/{id}/redeliver, GET events[?type=&invoice=&subscription=], GET events/{id}
         an event's `invoice` is the related invoice (a charge's or dispute's invoice, a
         subscription's latest invoice), `subscription` the related subscription
    GET  invoices?customer_email=, customers?email=, subscriptions[?customer=], products,
         prices, charges[?invoice=] (each charge with its refunds and `disputes`)
    GET  hosted/{id}                the hosted invoice page (its button pays the invoice)
    GET  requests                   the last 1000 /v1 calls: {method, path, stripe_version}
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import html
import json
import re
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

import formdata
import stripe_objects as so
from common import BadRequest, Request, Response, html_response, json_response


class StripeError(Exception):
    def __init__(self, status: int, type_: str, message: str, *, code: str | None = None,
                 param: str | None = None, save: bool = True):
        super().__init__(message)
        self.status, self.type_, self.code, self.param = status, type_, code, param
        self.save = save  # whether an idempotent replay returns this answer

    def response(self) -> Response:
        return json_response(self.status, so.error_object(self.type_, self.message_,
                                                          code=self.code, param=self.param))

    @property
    def message_(self) -> str:
        return str(self)


def _invalid(message: str, *, code: str | None = None, param: str | None = None,
             status: int = 400, save: bool = False) -> StripeError:
    return StripeError(status, "invalid_request_error", message, code=code, param=param, save=save)


def _missing(param: str) -> StripeError:
    return _invalid(f"Missing required param: {param}.", code="parameter_missing", param=param)


def _no_such(kind: str, id_: str, param: str, status: int) -> StripeError:
    return _invalid(f"No such {kind}: '{id_}'", code="resource_missing", param=param,
                    status=status, save=True)


IDEMPOTENCY_TTL = 24 * 3600  # seconds a key's first answer is replayed, as at Stripe

ALLOWED = {
    ("POST", "customers"): {
        "address", "balance", "business_name", "cash_balance", "description", "email",
        "individual_name", "invoice_prefix", "invoice_settings", "metadata", "name",
        "next_invoice_sequence", "payment_method", "phone", "preferred_locales", "shipping",
        "source", "tax", "tax_exempt", "tax_id_data", "test_clock", "validate", "expand",
    },
    ("GET", "customers"): {"created", "email", "ending_before", "limit", "starting_after",
                           "test_clock", "expand"},
    ("GET", "customer"): {"expand"},
    ("POST", "invoiceitems"): {
        "amount", "currency", "customer", "customer_account", "description", "discountable",
        "discounts", "invoice", "metadata", "period", "price_data", "pricing", "quantity",
        "subscription", "tax_behavior", "tax_code", "tax_rates", "unit_amount_decimal", "expand",
    },
    ("GET", "invoiceitem"): {"expand"},
    ("POST", "invoices"): {
        "account_tax_ids", "application_fee_amount", "auto_advance", "automatic_tax",
        "automatically_finalizes_at", "collection_method", "currency", "custom_fields",
        "customer", "customer_account", "days_until_due", "default_payment_method",
        "default_source", "default_tax_rates", "description", "discounts", "due_date",
        "effective_at", "footer", "from_invoice", "issuer", "metadata", "number",
        "on_behalf_of", "payment_settings", "pending_invoice_items_behavior", "rendering",
        "shipping_cost", "shipping_details", "statement_descriptor", "subscription",
        "transfer_data", "expand",
    },
    ("GET", "invoices"): {"collection_method", "created", "customer", "customer_account",
                          "due_date", "ending_before", "limit", "starting_after", "status",
                          "subscription", "expand"},
    ("GET", "invoice"): {"expand"},
    ("POST", "finalize"): {"auto_advance", "expand"},
    ("POST", "send"): {"expand"},
    ("POST", "products"): {
        "id", "name", "active", "default_price_data", "description", "images",
        "marketing_features", "metadata", "package_dimensions", "shippable",
        "statement_descriptor", "tax_code", "unit_label", "url", "expand",
    },
    ("GET", "products"): {"active", "created", "ending_before", "ids", "limit", "shippable",
                          "starting_after", "url", "expand"},
    ("GET", "product"): {"expand"},
    ("POST", "prices"): {
        "currency", "active", "billing_scheme", "currency_options", "custom_unit_amount",
        "lookup_key", "metadata", "nickname", "product", "product_data", "recurring",
        "tax_behavior", "tiers", "tiers_mode", "transfer_lookup_key", "transform_quantity",
        "unit_amount", "unit_amount_decimal", "expand",
    },
    ("POST", "price"): {"active", "metadata", "nickname", "lookup_key", "transfer_lookup_key",
                        "expand"},
    ("GET", "prices"): {"active", "created", "currency", "ending_before", "limit", "lookup_keys",
                        "product", "recurring", "starting_after", "type", "expand"},
    ("GET", "price"): {"expand"},
    ("POST", "subscriptions"): {
        "customer", "items", "collection_method", "days_until_due", "metadata", "description",
        "cancel_at_period_end", "payment_behavior", "currency", "default_payment_method",
        "default_source", "off_session", "payment_settings", "proration_behavior",
        "add_invoice_items", "application_fee_percent", "automatic_tax", "backdate_start_date",
        "billing_cycle_anchor", "billing_cycle_anchor_config", "billing_mode",
        "billing_thresholds", "cancel_at", "customer_account", "default_tax_rates", "discounts",
        "invoice_settings", "on_behalf_of", "pending_invoice_item_interval", "transfer_data",
        "trial_end", "trial_from_plan", "trial_period_days", "trial_settings", "expand",
    },
    ("GET", "subscriptions"): {"automatic_tax", "collection_method", "created",
                               "current_period_end", "current_period_start", "customer",
                               "customer_account", "ending_before", "limit", "price",
                               "starting_after", "status", "test_clock", "expand"},
    ("GET", "subscription"): {"expand"},
    ("POST", "subscription"): {
        "cancel_at_period_end", "metadata", "description", "cancellation_details", "items",
        "cancel_at", "pause_collection", "billing_cycle_anchor", "trial_end",
        "proration_behavior", "collection_method", "days_until_due", "expand",
    },
    ("DELETE", "subscription"): {"cancellation_details", "invoice_now", "prorate", "expand"},
    ("POST", "refunds"): {"amount", "charge", "currency", "customer", "instructions_email",
                          "metadata", "origin", "payment_intent", "reason",
                          "refund_application_fee", "reverse_transfer", "expand"},
    ("GET", "refund"): {"expand"},
    ("GET", "charge"): {"expand"},
    ("GET", "dispute"): {"expand"},
    ("GET", "invoice_payments"): {"created", "ending_before", "invoice", "limit", "payment",
                                  "starting_after", "status", "expand"},
    ("GET", "invoice_payment"): {"expand"},
    ("POST", "webhook_endpoints"): {"enabled_events", "url", "api_version", "connect",
                                    "description", "metadata", "expand"},
    ("GET", "webhook_endpoints"): {"ending_before", "limit", "starting_after", "expand"},
    ("GET", "webhook_endpoint"): {"expand"},
    ("POST", "webhook_endpoint"): {"enabled_events", "url", "description", "disabled",
                                   "metadata", "expand"},
    ("DELETE", "webhook_endpoint"): set(),
}

# Real Stripe parameters (so not `parameter_unknown`) that the sandbox does not implement: a 400
# naming the parameter rather than a silently different bill.
UNSUPPORTED = {
    ("POST", "products"): {"default_price_data", "marketing_features", "package_dimensions",
                           "tax_code"},
    ("POST", "prices"): {"currency_options", "custom_unit_amount", "tiers", "tiers_mode",
                         "transform_quantity"},
    ("POST", "subscriptions"): {
        "add_invoice_items", "application_fee_percent", "automatic_tax", "backdate_start_date",
        "billing_cycle_anchor", "billing_cycle_anchor_config", "billing_mode",
        "billing_thresholds", "cancel_at", "customer_account", "default_tax_rates", "discounts",
        "on_behalf_of", "pending_invoice_item_interval", "transfer_data", "trial_end",
        "trial_from_plan", "trial_period_days", "trial_settings",
    },
    ("POST", "subscription"): {"items", "cancel_at", "pause_collection", "billing_cycle_anchor",
                               "trial_end", "proration_behavior", "collection_method",
                               "days_until_due"},
    ("DELETE", "subscription"): {"invoice_now", "prorate"},
    ("POST", "refunds"): {"currency", "customer", "origin"},
    ("POST", "webhook_endpoints"): {"connect"},
}


def _check_params(kind: tuple[str, str], params: dict) -> None:
    allowed = ALLOWED[kind]
    unsupported = UNSUPPORTED.get(kind, set())
    for k in params:
        if k not in allowed:
            raise _invalid(f"Received unknown parameter: {k}", code="parameter_unknown", param=k)
        if k in unsupported and params[k] not in (None, "", "false"):
            raise _unsupported(k)


def _unsupported(param: str) -> StripeError:
    return _invalid(f"The sandbox does not implement `{param}` (a real Stripe parameter); "
                    "leave it out.", param=param)


def _int(params: dict, name: str, *, minimum: int | None = None) -> int | None:
    v = params.get(name)
    if v is None or v == "":
        return None
    if not isinstance(v, str) or not re.fullmatch(r"-?\d+", v):
        raise _invalid(f"Invalid integer: {v}", code="parameter_invalid_integer", param=name)
    n = int(v)
    if minimum is not None and n < minimum:
        raise _invalid(f"Invalid {name}: must be at least {minimum}", param=name,
                       code="parameter_invalid_integer")
    return n


def _bool(params: dict, name: str) -> bool | None:
    v = params.get(name)
    if v is None or v == "":
        return None
    if v not in ("true", "false"):
        raise _invalid(f"Invalid boolean: {v}", param=name)
    return v == "true"


def _str(params: dict, name: str) -> str | None:
    v = params.get(name)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise _invalid(f"Invalid string: {name} must be a string", param=name)
    return v


def _metadata(params: dict, current: dict | None = None) -> dict:
    md = dict(current or {})
    raw = params.get("metadata")
    if raw is None or raw == "":
        return md
    if not isinstance(raw, dict):
        raise _invalid("Invalid hash", param="metadata")
    for k, v in raw.items():
        if not isinstance(v, str):
            raise _invalid("Invalid hash", param=f"metadata[{k}]")
        if len(k) > 40:
            raise _invalid("Metadata keys can have up to 40 characters", param=f"metadata[{k}]")
        if len(v) > 500:
            raise _invalid("Metadata values can have up to 500 characters",
                           param=f"metadata[{k}]")
        if v == "":
            md.pop(k, None)
        else:
            md[k] = v
    if len(md) > 50:
        raise _invalid("Metadata can have up to 50 keys", param="metadata")
    return md


def _currency(params: dict, name: str = "currency", default: str = "usd") -> str:
    v = _str(params, name) or default
    if not re.fullmatch(r"[a-zA-Z]{3}", v):
        raise _invalid(f"Invalid currency: {v}", param=name)
    return v.lower()


def _strs(params: dict, name: str) -> list[str] | None:
    """An array parameter (`name[]=a&name[]=b`); a lone `name=a` counts as one element."""
    v = params.get(name)
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _invalid("Invalid array", param=name)
    return v


def _expand(params: dict) -> set[str]:
    return set(_strs(params, "expand") or [])


def _reject_unknown(d: dict, allowed: set[str], prefix: str) -> None:
    for k in d:
        if k not in allowed:
            raise _invalid(f"Received unknown parameter: {prefix}[{k}]",
                           code="parameter_unknown", param=f"{prefix}[{k}]")


INTERVALS = {"day": 365, "week": 52, "month": 12, "year": 1}  # the most of each (one year)


def add_interval(anchor: int, interval: str, count: int, n: int = 1) -> int:
    """The end of the n-th period of `count` `interval`s after `anchor` (unix seconds, UTC).

    Months and years are calendar ones counted from the anchor, so the anchor's day of month
    is kept (clamped to shorter months: Jan 31 -> Feb 28/29 -> Mar 31); days and weeks are
    multiples of 86400 s."""
    if interval == "day":
        return anchor + 86400 * count * n
    if interval == "week":
        return anchor + 7 * 86400 * count * n
    months = count * n * (12 if interval == "year" else 1)
    dt = datetime.fromtimestamp(anchor, tz=timezone.utc)
    y, m = divmod(dt.month - 1 + months, 12)
    y, m = dt.year + y, m + 1
    day = min(dt.day, calendar.monthrange(y, m)[1])
    return int(dt.replace(year=y, month=m, day=day).timestamp())


def _money(cents: int, currency: str) -> str:
    return f"${cents / 100:,.2f}" if currency == "usd" else f"{cents / 100:,.2f} {currency.upper()}"


class Stripe:
    def __init__(self, *, secret_key: str, webhook_url: str | None, webhook_secret: str,
                 public_url: str, retry_base: float = 1.0, max_attempts: int = 4,
                 webhook_timeout: float = 30.0, log=print):
        self.secret_key = secret_key
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.public_url = public_url.rstrip("/")
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        self.webhook_timeout = webhook_timeout
        self.log = log
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.customers: dict[str, dict] = {}
            self.items: dict[str, dict] = {}
            self.invoices: dict[str, dict] = {}
            self.events: dict[str, dict] = {}
            self.products: dict[str, dict] = {}
            self.prices: dict[str, dict] = {}
            self.subscriptions: dict[str, dict] = {}
            self.charges: dict[str, dict] = {}
            self.refunds: dict[str, dict] = {}
            self.disputes: dict[str, dict] = {}
            self.invoice_payments: dict[str, dict] = {}
            self.webhook_endpoints: dict[str, dict] = {}
            self.requests: list[dict] = []  # method, path, Stripe-Version of recent /v1 calls
            self.idem: dict[tuple, dict] = {}
            self.seq = 0  # insertion order: ties in `created` keep it

    # ---- helpers ---------------------------------------------------------------------------

    def _order(self) -> int:
        self.seq += 1
        return self.seq

    def _invoice_obj(self, inv: dict) -> dict:
        items = sorted((self.items[i] for i in inv["items"]), key=lambda x: x["order"])
        sub_lines = [so.subscription_line_item(li, inv["id"],
                                               self._price_obj(self.prices[li["price"]]))
                     for li in inv.get("sub_lines", [])]
        return so.invoice(inv, items, self.customers.get(inv["customer"]), sub_lines)

    def _product_obj(self, p: dict) -> dict:
        return so.product(p)

    def _price_obj(self, p: dict, expand_product: bool = False) -> dict:
        prod = self.products.get(p["product"]) if expand_product else None
        return so.price(p, so.product(prod) if prod is not None else None)

    def _sub_obj(self, sub: dict, expand: set[str] | frozenset = frozenset()) -> dict:
        deep = "items.data.price.product" in expand
        items = [so.subscription_item(it, sub, self._price_obj(self.prices[it["price"]], deep))
                 for it in sub["items"]]
        latest = sub.get("latest_invoice")
        if latest is not None and "latest_invoice" in expand and latest in self.invoices:
            latest = self._invoice_obj(self.invoices[latest])
        cust = sub["customer"]
        if "customer" in expand and cust in self.customers:
            cust = self._customer_obj(self.customers[cust])
        return so.subscription(sub, items, latest, cust)

    def _charge_obj(self, ch: dict) -> dict:
        refunds = [so.refund(self.refunds[r]) for r in reversed(ch["refunds"])]
        return so.charge(ch, refunds, self.customers.get(ch["customer"]))

    def _customer_obj(self, c: dict) -> dict:
        return so.customer(**{k: v for k, v in c.items() if k != "order"})

    def _item_obj(self, it: dict) -> dict:
        return so.invoice_item(it)

    @staticmethod
    def _page(req: Request, url: str, records: list[dict], render) -> dict:
        limit = _int({"limit": req.q("limit")}, "limit", minimum=1) or 10
        if limit > 100:
            raise _invalid("Invalid limit: must be at most 100", param="limit")
        records = sorted(records, key=lambda r: (r["created"], r["order"]), reverse=True)
        after = req.q("starting_after")
        if after:
            ids = [r["id"] for r in records]
            if after not in ids:
                raise _invalid(f"No such object: '{after}'", param="starting_after",
                               code="resource_missing")
            records = records[ids.index(after) + 1:]
        page = records[:limit]
        return so.list_object(url, [render(r) for r in page], has_more=len(records) > limit)

    def _auth(self, req: Request) -> None:
        auth = req.headers.get("authorization", "")
        key = None
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        elif auth.lower().startswith("basic "):
            import base64
            try:
                key = base64.b64decode(auth[6:].strip()).decode().split(":", 1)[0]
            except Exception:
                key = ""
        if not key:
            raise StripeError(401, "invalid_request_error",
                              "You did not provide an API key. You need to provide your API key "
                              "in the Authorization header, using Bearer auth (e.g. "
                              "'Authorization: Bearer YOUR_SECRET_KEY').", save=False)
        if not hmac.compare_digest(key.encode(), self.secret_key.encode()):
            shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "****"
            raise StripeError(401, "invalid_request_error", f"Invalid API Key provided: {shown}",
                              code="api_key_invalid", save=False)

    # ---- the public API (/v1/...) ----------------------------------------------------------

    def handle_v1(self, req: Request) -> Response:
        request_id = so.new_id("req", 14)
        version = req.headers.get("stripe-version")
        with self.lock:
            self.requests.append({"method": req.method, "path": req.path,
                                  "stripe_version": version})
            del self.requests[:-1000]
        try:
            self._auth(req)
            if version is not None and version != so.API_VERSION:
                # Stripe would answer in that version's shapes; the sandbox knows only one.
                raise _invalid(f"Invalid Stripe API version: {version}. This sandbox speaks "
                               f"only {so.API_VERSION}.", param="Stripe-Version", save=False)
            if req.method == "POST" or (req.method == "DELETE" and req.body):
                ctype = req.headers.get("content-type", "application/x-www-form-urlencoded")
                if req.body and not ctype.startswith("application/x-www-form-urlencoded"):
                    raise _invalid("Invalid request: Stripe expects "
                                   "application/x-www-form-urlencoded bodies "
                                   f"(got {ctype}).")
                params = formdata.parse(req.body.decode("utf-8"))
            else:
                params = formdata.parse(req.raw_query)
        except formdata.FormError as e:
            return self._with_id(_invalid(str(e)).response(), request_id)
        except StripeError as e:
            return self._with_id(e.response(), request_id)

        idem_key = req.headers.get("idempotency-key") if req.method == "POST" else None
        if idem_key:
            slot = (self.secret_key, idem_key)
            fingerprint = (req.method, req.path, json.dumps(params, sort_keys=True))
            with self.lock:
                saved = self.idem.get(slot)
                if saved is not None and time.time() - saved["at"] > IDEMPOTENCY_TTL:
                    saved = None  # Stripe prunes keys after 24 hours; then it is a new request
                if saved is not None:
                    if saved["fingerprint"] != fingerprint:
                        err = StripeError(
                            400, "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{idem_key}' if you meant to execute a different request.")
                        return self._with_id(err.response(), request_id)
                    resp = Response(saved["status"], saved["body"], "application/json",
                                    {"Idempotent-Replayed": "true",
                                     "Original-Request": saved["request_id"],
                                     "Idempotency-Key": idem_key})
                    return self._with_id(resp, request_id)
                resp, save = self._dispatch(req, params, request_id, idem_key)
                if save:
                    self.idem[slot] = {"at": time.time(), "fingerprint": fingerprint,
                                       "status": resp.status,
                                       "body": resp.body, "request_id": request_id}
                resp.headers["Idempotency-Key"] = idem_key
                resp.headers["Original-Request"] = request_id
                return self._with_id(resp, request_id)
        with self.lock:
            resp, _ = self._dispatch(req, params, request_id, None)
        return self._with_id(resp, request_id)

    @staticmethod
    def _with_id(resp: Response, request_id: str) -> Response:
        resp.headers.setdefault("Request-Id", request_id)
        resp.headers.setdefault("Stripe-Version", so.API_VERSION)
        return resp

    def _dispatch(self, req: Request, params: dict, request_id: str,
                  idem_key: str | None) -> tuple[Response, bool]:
        try:
            return json_response(200, self._route(req, params)), True
        except StripeError as e:
            return e.response(), e.save

    def _route(self, req: Request, params: dict) -> dict:
        parts = req.path.strip("/").split("/")[1:]  # after "v1"
        m = req.method
        match parts:
            case ["customers"] if m == "POST":
                _check_params(("POST", "customers"), params)
                return self.create_customer(params)
            case ["customers"] if m == "GET":
                _check_params(("GET", "customers"), params)
                email = _str(params, "email")
                recs = [c for c in self.customers.values() if email is None or c["email"] == email]
                return self._page(req, "/v1/customers", recs, self._customer_obj)
            case ["customers", cid] if m == "GET":
                _check_params(("GET", "customer"), params)
                c = self.customers.get(cid)
                if c is None:
                    raise _no_such("customer", cid, "id", 404)
                return self._customer_obj(c)
            case ["invoiceitems"] if m == "POST":
                _check_params(("POST", "invoiceitems"), params)
                return self.create_invoice_item(params)
            case ["invoiceitems", iid] if m == "GET":
                _check_params(("GET", "invoiceitem"), params)
                it = self.items.get(iid)
                if it is None:
                    raise _no_such("invoiceitem", iid, "id", 404)
                return self._item_obj(it)
            case ["invoices"] if m == "POST":
                _check_params(("POST", "invoices"), params)
                return self.create_invoice(params)
            case ["invoices"] if m == "GET":
                _check_params(("GET", "invoices"), params)
                cust, status = _str(params, "customer"), _str(params, "status")
                cm = _str(params, "collection_method")
                recs = [i for i in self.invoices.values()
                        if (cust is None or i["customer"] == cust)
                        and (status is None or i["status"] == status)
                        and (cm is None or i["collection_method"] == cm)]
                return self._page(req, "/v1/invoices", recs, self._invoice_obj)
            case ["invoices", iid] if m == "GET":
                _check_params(("GET", "invoice"), params)
                return self._invoice_obj(self._get_invoice(iid))
            case ["invoices", iid, "finalize"] if m == "POST":
                _check_params(("POST", "finalize"), params)
                return self.finalize(iid, params)
            case ["invoices", iid, "send"] if m == "POST":
                _check_params(("POST", "send"), params)
                return self.send(iid)
            case ["products"] if m == "POST":
                _check_params(("POST", "products"), params)
                return self._product_obj(self.create_product(params))
            case ["products"] if m == "GET":
                _check_params(("GET", "products"), params)
                active, ids = _bool(params, "active"), _strs(params, "ids")
                recs = [p for p in self.products.values()
                        if (active is None or p["active"] == active)
                        and (ids is None or p["id"] in ids)]
                return self._page(req, "/v1/products", recs, self._product_obj)
            case ["products", pid] if m == "GET":
                _check_params(("GET", "product"), params)
                return self._product_obj(self._get("product", self.products, pid))
            case ["prices"] if m == "POST":
                _check_params(("POST", "prices"), params)
                p = self.create_price(params)
                return self._price_obj(p, "product" in _expand(params))
            case ["prices"] if m == "GET":
                _check_params(("GET", "prices"), params)
                return self.list_prices(req, params)
            case ["prices", pid] if m == "GET":
                _check_params(("GET", "price"), params)
                return self._price_obj(self._get("price", self.prices, pid),
                                       "product" in _expand(params))
            case ["prices", pid] if m == "POST":
                _check_params(("POST", "price"), params)
                p = self.update_price(pid, params)
                return self._price_obj(p, "product" in _expand(params))
            case ["subscriptions"] if m == "POST":
                _check_params(("POST", "subscriptions"), params)
                return self._sub_obj(self.create_subscription(params), _expand(params))
            case ["subscriptions"] if m == "GET":
                _check_params(("GET", "subscriptions"), params)
                return self.list_subscriptions(req, params)
            case ["subscriptions", sid] if m == "GET":
                _check_params(("GET", "subscription"), params)
                return self._sub_obj(self._get("subscription", self.subscriptions, sid),
                                     _expand(params))
            case ["subscriptions", sid] if m == "POST":
                _check_params(("POST", "subscription"), params)
                return self._sub_obj(self.update_subscription(sid, params), _expand(params))
            case ["subscriptions", sid] if m == "DELETE":
                _check_params(("DELETE", "subscription"), params)
                return self._sub_obj(self.cancel_subscription(sid, params), _expand(params))
            case ["refunds"] if m == "POST":
                _check_params(("POST", "refunds"), params)
                return so.refund(self.create_refund(params))
            case ["refunds", rid] if m == "GET":
                _check_params(("GET", "refund"), params)
                return so.refund(self._get("refund", self.refunds, rid))
            case ["charges", cid] if m == "GET":
                _check_params(("GET", "charge"), params)
                return self._charge_obj(self._get("charge", self.charges, cid))
            case ["disputes", did] if m == "GET":
                _check_params(("GET", "dispute"), params)
                return so.dispute(self._get("dispute", self.disputes, did))
            case ["invoice_payments"] if m == "GET":
                _check_params(("GET", "invoice_payments"), params)
                return self.list_invoice_payments(req, params)
            case ["invoice_payments", ipid] if m == "GET":
                _check_params(("GET", "invoice_payment"), params)
                return so.invoice_payment(self._get("invoice_payment", self.invoice_payments,
                                                    ipid))
            case ["webhook_endpoints"] if m == "POST":
                _check_params(("POST", "webhook_endpoints"), params)
                return self.create_webhook_endpoint(params)
            case ["webhook_endpoints"] if m == "GET":
                _check_params(("GET", "webhook_endpoints"), params)
                return self._page(req, "/v1/webhook_endpoints",
                                  list(self.webhook_endpoints.values()), so.webhook_endpoint)
            case ["webhook_endpoints", weid] if m == "GET":
                _check_params(("GET", "webhook_endpoint"), params)
                return so.webhook_endpoint(self._get("webhook_endpoint", self.webhook_endpoints,
                                                     weid))
            case ["webhook_endpoints", weid] if m == "POST":
                _check_params(("POST", "webhook_endpoint"), params)
                return self.update_webhook_endpoint(weid, params)
            case ["webhook_endpoints", weid] if m == "DELETE":
                _check_params(("DELETE", "webhook_endpoint"), params)
                we = self._get("webhook_endpoint", self.webhook_endpoints, weid)
                del self.webhook_endpoints[weid]
                return {"id": we["id"], "object": "webhook_endpoint", "deleted": True}
        raise _invalid(f"Unrecognized request URL ({m}: {req.path}). Please see "
                       "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                       status=404)

    def _get_invoice(self, iid: str) -> dict:
        inv = self.invoices.get(iid)
        if inv is None:
            raise _no_such("invoice", iid, "id", 404)
        return inv

    @staticmethod
    def _get(kind: str, table: dict, id_: str) -> dict:
        rec = table.get(id_)
        if rec is None:
            raise _no_such(kind, id_, "id", 404)
        return rec

    def create_customer(self, params: dict) -> dict:
        cid = so.new_id("cus", 14)
        created = so.now()
        c = {
            "id": cid, "created": created, "email": _str(params, "email"),
            "name": _str(params, "name"), "description": _str(params, "description"),
            "phone": _str(params, "phone"), "metadata": _metadata(params),
            "invoice_prefix": _str(params, "invoice_prefix") or so.new_id("x", 8)[2:].upper(),
            "next_invoice_sequence": _int(params, "next_invoice_sequence", minimum=1) or 1,
            "order": self._order(),
        }
        self.customers[cid] = c
        return self._customer_obj(c)

    def create_invoice_item(self, params: dict) -> dict:
        cust = _str(params, "customer")
        if not cust:
            raise _missing("customer")
        if cust not in self.customers:
            raise _no_such("customer", cust, "customer", 400)
        quantity = _int(params, "quantity", minimum=0)
        qty = 1 if quantity is None else quantity
        amount = _int(params, "amount")
        unit_dec = _str(params, "unit_amount_decimal")
        price_data = params.get("price_data")
        currency = _currency(params)
        price = product = None
        given = [n for n, v in (("amount", amount), ("unit_amount_decimal", unit_dec),
                                ("price_data", price_data)) if v not in (None, "")]
        if len(given) > 1:
            raise _invalid("You may only specify one of these parameters: "
                           + ", ".join(given) + ".", param=given[1])
        if params.get("pricing") not in (None, ""):
            raise _invalid("The sandbox supports amount, unit_amount_decimal or price_data, "
                           "not pricing[price].", param="pricing")
        if amount is not None:
            if quantity not in (None, 1):
                raise _invalid("When `amount` is passed, `quantity` must be 1 (or omitted).",
                               param="quantity")
            unit = Decimal(amount)
        elif unit_dec is not None:
            unit = self._decimal(unit_dec, "unit_amount_decimal")
        elif isinstance(price_data, dict):
            currency = _currency(price_data, "currency") if "currency" in price_data else currency
            product = _str(price_data, "product")
            if not product:
                raise _missing("price_data[product]")
            ua, uad = _int(price_data, "unit_amount"), _str(price_data, "unit_amount_decimal")
            if ua is None and uad is None:
                raise _missing("price_data[unit_amount]")
            unit = Decimal(ua) if ua is not None else self._decimal(uad, "unit_amount_decimal")
            price = so.new_id("price", 24)
        else:
            raise _invalid("You must specify either `amount`, `unit_amount_decimal`, "
                           "`price_data` or `pricing` to create an invoice item.",
                           code="parameter_missing", param="amount")
        total = unit * qty
        if total != total.to_integral_value():
            raise _invalid("The resulting amount must be a whole number of cents.",
                           param="unit_amount_decimal")
        inv_id = _str(params, "invoice")
        if inv_id is not None:
            inv = self.invoices.get(inv_id)
            if inv is None:
                raise _no_such("invoice", inv_id, "invoice", 400)
            if inv["customer"] != cust:
                raise _invalid(f"The invoice {inv_id} belongs to another customer.",
                               param="invoice")
            if inv["status"] != "draft":
                raise _invalid(f"You can only add invoice items to draft invoices; "
                               f"{inv_id} is {inv['status']}.", param="invoice",
                               code="invoice_not_editable")
            if inv["currency"] != currency:
                raise _invalid("The invoice item's currency must match the invoice's.",
                               param="currency")
        it = {
            "id": so.new_id("ii", 24), "line_id": so.new_id("il", 24), "customer": cust,
            "amount": int(total), "currency": currency, "quantity": qty,
            "unit_amount_decimal": format(unit.normalize(), "f"),
            "description": _str(params, "description"), "metadata": _metadata(params),
            "invoice": inv_id, "date": so.now(), "created": so.now(), "order": self._order(),
            "price": price, "product": product,
        }
        self.items[it["id"]] = it
        if inv_id is not None:
            self.invoices[inv_id]["items"].append(it["id"])
        return self._item_obj(it)

    @staticmethod
    def _decimal(v: str, param: str) -> Decimal:
        try:
            d = Decimal(v)
        except InvalidOperation:
            raise _invalid(f"Invalid decimal: {v}", param=param) from None
        if not d.is_finite() or d < 0:
            raise _invalid(f"Invalid decimal: {v}", param=param)
        return d

    def create_invoice(self, params: dict) -> dict:
        cust = _str(params, "customer")
        if not cust:
            raise _missing("customer")
        if cust not in self.customers:
            raise _no_such("customer", cust, "customer", 400)
        method = _str(params, "collection_method") or "charge_automatically"
        if method not in ("charge_automatically", "send_invoice"):
            raise _invalid(f"Invalid collection_method: {method}", param="collection_method")
        days = _int(params, "days_until_due", minimum=0)
        due_date = _int(params, "due_date")
        if method == "send_invoice" and days is None and due_date is None:
            raise _invalid("Invoices with `collection_method=send_invoice` must have either a "
                           "`due_date` or `days_until_due`.", param="days_until_due")
        if method == "charge_automatically" and (days is not None or due_date is not None):
            raise _invalid("`days_until_due` and `due_date` are only for "
                           "`collection_method=send_invoice`.", param="days_until_due")
        behavior = _str(params, "pending_invoice_items_behavior") or "exclude"
        if behavior not in ("exclude", "include"):
            raise _invalid(f"Invalid pending_invoice_items_behavior: {behavior}",
                           param="pending_invoice_items_behavior")
        currency = _currency(params)
        auto = _bool(params, "auto_advance")
        iid = so.new_id("in", 24)
        inv = {
            "id": iid, "customer": cust, "created": so.now(), "status": "draft",
            "collection_method": method, "days_until_due": days, "due_date": due_date,
            "currency": currency, "auto_advance": bool(auto) if auto is not None else False,
            "description": _str(params, "description"), "footer": _str(params, "footer"),
            "metadata": _metadata(params), "items": [], "order": self._order(),
        }
        if behavior == "include":
            pending = sorted((i for i in self.items.values()
                              if i["customer"] == cust and i["invoice"] is None
                              and i["currency"] == currency), key=lambda x: x["order"])
            for it in pending:
                it["invoice"] = iid
                inv["items"].append(it["id"])
        self.invoices[iid] = inv
        return self._invoice_obj(inv)

    def finalize(self, iid: str, params: dict) -> dict:
        inv = self._get_invoice(iid)
        if inv["status"] != "draft":
            raise _invalid("This invoice is already finalized, you can't re-finalize a "
                           "non-draft invoice.", code="invoice_unexpected_state", save=True)
        auto = _bool(params, "auto_advance")
        if auto is not None:
            inv["auto_advance"] = auto
        t = so.now()
        c = self.customers[inv["customer"]]
        inv["number"] = f"{c['invoice_prefix']}-{c['next_invoice_sequence']:04d}"
        c["next_invoice_sequence"] += 1
        inv["status"] = "open"
        inv["finalized_at"] = t
        inv["effective_at"] = t
        if inv["collection_method"] == "send_invoice" and inv["due_date"] is None:
            inv["due_date"] = t + 86400 * (inv["days_until_due"] or 0)
        inv["hosted_invoice_url"] = f"{self.public_url}/__sandbox/stripe/hosted/{iid}"
        inv["invoice_pdf"] = f"{self.public_url}/__sandbox/stripe/hosted/{iid}/pdf"
        obj = self._invoice_obj(inv)
        if obj["amount_due"] == 0:  # as Stripe: a $0 invoice is paid on finalization
            self._mark_paid(inv)
            ev = self._new_event("invoice.paid", inv, None)
            self._deliver_later(ev)
            sub_ev = self._after_paid(inv)
            if sub_ev is not None:
                self._deliver_later(sub_ev)
            obj = self._invoice_obj(inv)
        return obj

    def send(self, iid: str) -> dict:
        inv = self._get_invoice(iid)
        if inv["collection_method"] != "send_invoice":
            raise _invalid("You can only send invoices with collection_method=send_invoice.",
                           code="invoice_unexpected_state", save=True)
        if inv["status"] != "open":
            raise _invalid(f"You can only send an open invoice; this one is {inv['status']}.",
                           code="invoice_unexpected_state", save=True)
        inv.setdefault("sent", []).append(so.now())
        return self._invoice_obj(inv)

    # ---- products, prices, subscriptions ---------------------------------------------------

    def create_product(self, params: dict, prefix: str | None = None) -> dict:
        """A product record; also a price's `product_data` (then `prefix` names the errors)."""
        def name_of(n: str) -> str:
            return f"{prefix}[{n}]" if prefix else n

        named = {name_of(k): v for k, v in params.items()}
        name = _str(named, name_of("name"))
        if not name:
            raise _missing(name_of("name"))
        pid = _str(named, name_of("id"))
        if pid is not None:
            if len(pid) > 250 or not re.fullmatch(r"[A-Za-z0-9_\-.:]+", pid):
                raise _invalid(f"Invalid product id: {pid}", param=name_of("id"))
            if pid in self.products:
                raise _invalid("Product already exists.", code="resource_already_exists",
                               param=name_of("id"))
        images = _strs(named, name_of("images")) or []
        active = _bool(named, name_of("active"))
        t = so.now()
        p = {
            "id": pid or so.new_id("prod", 14), "name": name,
            "description": _str(named, name_of("description")),
            "active": True if active is None else active, "images": images,
            "metadata": _metadata(params), "shippable": _bool(named, name_of("shippable")),
            "statement_descriptor": _str(named, name_of("statement_descriptor")),
            "unit_label": _str(named, name_of("unit_label")), "url": _str(named, name_of("url")),
            "created": t, "updated": t, "order": self._order(),
        }
        self.products[p["id"]] = p
        return p

    def _lookup_key(self, params: dict) -> str | None:
        v = _str(params, "lookup_key")
        if v is not None and len(v) > 200:
            raise _invalid("lookup_key can have up to 200 characters", param="lookup_key")
        return v

    def _check_lookup_key(self, key: str, price_id: str, transfer: bool) -> None:
        for other in self.prices.values():
            if other["id"] != price_id and other["lookup_key"] == key and other["active"] \
                    and not transfer:
                raise _invalid(f"A price (`{other['id']}`) already uses the lookup key "
                               f"`{key}`. Pass `transfer_lookup_key=true` to move it to this "
                               "price.", param="lookup_key")

    def _take_lookup_key(self, key: str, price_id: str) -> None:
        """A lookup key names one price: it leaves whichever price had it."""
        for other in self.prices.values():
            if other["id"] != price_id and other["lookup_key"] == key:
                other["lookup_key"] = None

    def create_price(self, params: dict) -> dict:
        if params.get("billing_scheme") not in (None, "", "per_unit"):
            raise _unsupported("billing_scheme")
        prod_id, pdata = _str(params, "product"), params.get("product_data")
        if prod_id and pdata not in (None, ""):
            raise _invalid("You may only specify one of these parameters: product, "
                           "product_data.", param="product_data")
        if prod_id:
            if prod_id not in self.products:
                raise _no_such("product", prod_id, "product", 400)
        elif isinstance(pdata, dict):
            _reject_unknown(pdata, {"id", "name", "active", "metadata", "statement_descriptor",
                                    "tax_code", "unit_label"}, "product_data")
            if pdata.get("tax_code") not in (None, ""):
                raise _unsupported("product_data[tax_code]")
            pid_given = _str(pdata, "id")
            if pid_given in self.products:
                raise _invalid("Product already exists.", code="resource_already_exists",
                               param="product_data[id]")
            if not _str(pdata, "name"):
                raise _missing("product_data[name]")
        elif pdata not in (None, ""):
            raise _invalid("Invalid object", param="product_data")
        else:
            raise _missing("product")
        if _str(params, "currency") is None:
            raise _missing("currency")
        currency = _currency(params)
        ua = _int(params, "unit_amount", minimum=0)
        uad = _str(params, "unit_amount_decimal")
        if ua is not None and uad is not None:
            raise _invalid("You may only specify one of these parameters: unit_amount, "
                           "unit_amount_decimal.", param="unit_amount_decimal")
        if uad is not None:
            d = self._decimal(uad, "unit_amount_decimal")
            if d != d.to_integral_value():
                raise _invalid("The sandbox supports whole cents only in unit_amount_decimal.",
                               param="unit_amount_decimal")
            ua = int(d)
        if ua is None:
            raise _missing("unit_amount")
        interval = count = None
        rec = params.get("recurring")
        if rec not in (None, ""):
            if not isinstance(rec, dict):
                raise _invalid("Invalid object", param="recurring")
            _reject_unknown(rec, {"interval", "interval_count", "meter", "usage_type",
                                  "trial_period_days"}, "recurring")
            if rec.get("usage_type") not in (None, "", "licensed"):
                raise _unsupported("recurring[usage_type]")
            for k in ("meter", "trial_period_days"):
                if rec.get(k) not in (None, ""):
                    raise _unsupported(f"recurring[{k}]")
            r = {f"recurring[{k}]": v for k, v in rec.items()}
            interval = _str(r, "recurring[interval]")
            if interval is None:
                raise _missing("recurring[interval]")
            if interval not in INTERVALS:
                raise _invalid(f"Invalid recurring[interval]: must be one of day, week, month "
                               f"or year (got {interval})", param="recurring[interval]")
            count = _int(r, "recurring[interval_count]", minimum=1) or 1
            if count > INTERVALS[interval]:
                raise _invalid("The maximum billing interval is one year (1 year, 12 months, "
                               "52 weeks or 365 days).", param="recurring[interval_count]")
        tax_behavior = _str(params, "tax_behavior")
        if tax_behavior not in (None, "inclusive", "exclusive", "unspecified"):
            raise _invalid(f"Invalid tax_behavior: {tax_behavior}", param="tax_behavior")
        active = _bool(params, "active")
        lookup = self._lookup_key(params)
        transfer = bool(_bool(params, "transfer_lookup_key"))
        metadata = _metadata(params)
        nickname = _str(params, "nickname")
        pid = so.new_id("price", 24)
        if lookup is not None:
            self._check_lookup_key(lookup, pid, transfer)
        if not prod_id:  # everything is valid: now the product_data's product may be made
            prod_id = self.create_product(pdata, prefix="product_data")["id"]
        if lookup is not None:
            self._take_lookup_key(lookup, pid)
        p = {
            "id": pid, "product": prod_id, "currency": currency, "unit_amount": ua,
            "interval": interval, "interval_count": count, "lookup_key": lookup,
            "nickname": nickname, "metadata": metadata,
            "active": True if active is None else active, "tax_behavior": tax_behavior,
            "created": so.now(), "order": self._order(),
        }
        self.prices[pid] = p
        return p

    def update_price(self, pid: str, params: dict) -> dict:
        p = self._get("price", self.prices, pid)
        active = _bool(params, "active")
        transfer = bool(_bool(params, "transfer_lookup_key"))
        metadata = _metadata(params, p["metadata"])
        lookup_given = "lookup_key" in params
        lookup = self._lookup_key(params)  # "" unsets it
        if lookup_given and lookup is not None and lookup != p["lookup_key"]:
            self._check_lookup_key(lookup, pid, transfer)
        if "nickname" in params:
            p["nickname"] = _str(params, "nickname")
        if lookup_given:
            if lookup is not None:
                self._take_lookup_key(lookup, pid)
            p["lookup_key"] = lookup
        if active is not None:
            p["active"] = active
        p["metadata"] = metadata
        return p

    def list_prices(self, req: Request, params: dict) -> dict:
        active = _bool(params, "active")
        product = _str(params, "product")
        currency = _currency(params) if _str(params, "currency") else None
        type_ = _str(params, "type")
        if type_ not in (None, "one_time", "recurring"):
            raise _invalid(f"Invalid type: {type_}", param="type")
        keys = _strs(params, "lookup_keys")
        if keys is not None and len(keys) > 10:
            raise _invalid("lookup_keys can have up to 10 keys", param="lookup_keys")
        interval = None
        rec = params.get("recurring")
        if isinstance(rec, dict):
            _reject_unknown(rec, {"interval", "meter", "usage_type"}, "recurring")
            interval = _str(rec, "interval")
        recs = [p for p in self.prices.values()
                if (active is None or p["active"] == active)
                and (product is None or p["product"] == product)
                and (currency is None or p["currency"] == currency)
                and (type_ is None or (p["interval"] is None) == (type_ == "one_time"))
                and (keys is None or p["lookup_key"] in keys)
                and (interval is None or p["interval"] == interval)]
        deep = "data.product" in _expand(params)
        return self._page(req, "/v1/prices", recs, lambda p: self._price_obj(p, deep))

    def create_subscription(self, params: dict) -> dict:
        cust = _str(params, "customer")
        if not cust:
            raise _missing("customer")
        if cust not in self.customers:
            raise _no_such("customer", cust, "customer", 400)
        raw_items = params.get("items")
        if raw_items in (None, "", []):
            raise _missing("items")
        if not isinstance(raw_items, list):
            raise _invalid("Invalid array", param="items")
        items, prices = [], []
        for i, it in enumerate(raw_items):
            pre = f"items[{i}]"
            if not isinstance(it, dict):
                raise _invalid("Invalid object", param=pre)
            _reject_unknown(it, {"price", "quantity", "metadata", "plan", "price_data",
                                 "discounts", "tax_rates", "billing_thresholds"}, pre)
            for k in ("price_data", "discounts", "tax_rates", "billing_thresholds"):
                if it.get(k) not in (None, ""):
                    raise _unsupported(f"{pre}[{k}]")
            named = {f"{pre}[{k}]": v for k, v in it.items()}
            pid = _str(named, f"{pre}[price]") or _str(named, f"{pre}[plan]")
            if not pid:
                raise _missing(f"{pre}[price]")
            price = self.prices.get(pid)
            if price is None:
                raise _no_such("price", pid, f"{pre}[price]", 400)
            if not price["active"]:
                raise _invalid(f"The price specified ({pid}) is inactive. This field only "
                               "accepts active prices.", param=f"{pre}[price]")
            if price["interval"] is None:
                raise _invalid(f"The price specified ({pid}) is set to `type=one_time` but this "
                               "field only accepts prices with `type=recurring`.",
                               param=f"{pre}[price]")
            if any(x["price"] == pid for x in items):
                raise _invalid("Cannot add multiple subscription items with the same price.",
                               param=f"{pre}[price]")
            qty = _int(named, f"{pre}[quantity]", minimum=0)
            items.append({"price": pid, "quantity": 1 if qty is None else qty,
                          "metadata": _metadata(it)})
            prices.append(price)
        first = prices[0]
        for i, p in enumerate(prices[1:], 1):
            if p["currency"] != first["currency"]:
                raise _invalid("All prices on a subscription must have the same currency.",
                               param=f"items[{i}][price]")
            if (p["interval"], p["interval_count"]) != (first["interval"],
                                                         first["interval_count"]):
                raise _invalid("All prices on a subscription must have the same recurring "
                               "interval and interval_count.", param=f"items[{i}][price]")
        if _str(params, "currency") is not None and _currency(params) != first["currency"]:
            raise _invalid("The subscription's currency must be its prices' currency "
                           f"({first['currency']}).", param="currency")
        method = _str(params, "collection_method") or "charge_automatically"
        if method not in ("charge_automatically", "send_invoice"):
            raise _invalid(f"Invalid collection_method: {method}", param="collection_method")
        days = _int(params, "days_until_due", minimum=0)
        if method == "send_invoice" and days is None:
            raise _invalid("Subscriptions with `collection_method=send_invoice` must have "
                           "`days_until_due`.", param="days_until_due")
        if method == "charge_automatically" and days is not None:
            raise _invalid("`days_until_due` is only for `collection_method=send_invoice`.",
                           param="days_until_due")
        behavior = _str(params, "payment_behavior") or "allow_incomplete"
        if behavior not in ("allow_incomplete", "default_incomplete", "error_if_incomplete",
                            "pending_if_incomplete"):
            raise _invalid(f"Invalid payment_behavior: {behavior}", param="payment_behavior")
        cape = bool(_bool(params, "cancel_at_period_end"))
        metadata = _metadata(params)
        t = so.now()
        sid = so.new_id("sub", 24)
        for it in items:
            it.update(id=so.new_id("si", 14), created=t)
        sub = {
            "id": sid, "customer": cust, "created": t, "start_date": t,
            "billing_cycle_anchor": t, "cycle": 0, "current_period_start": t,
            "current_period_end": add_interval(t, first["interval"], first["interval_count"]),
            "interval": first["interval"], "interval_count": first["interval_count"],
            "currency": first["currency"], "items": items,
            "status": "active" if method == "send_invoice" else "incomplete",
            "collection_method": method, "days_until_due": days,
            "cancel_at_period_end": cape, "cancel_at": None, "canceled_at": None,
            "ended_at": None, "cancellation_details": {}, "latest_invoice": None,
            "metadata": metadata, "description": _str(params, "description"),
            "payment_behavior": behavior, "order": self._order(),
        }
        if cape:
            sub.update(cancel_at=sub["current_period_end"], canceled_at=t,
                       cancellation_details={"reason": "cancellation_requested"})
        self.subscriptions[sid] = sub
        inv = self._subscription_invoice(sub, "subscription_create")
        if method == "charge_automatically":  # as Stripe: finalized at once, payment attempted
            self.finalize(inv["id"], {})
        return sub

    def _subscription_invoice(self, sub: dict, reason: str) -> dict:
        """A draft invoice for the subscription's current period (one line per item)."""
        iid = so.new_id("in", 24)
        inv = {
            "id": iid, "customer": sub["customer"], "created": so.now(), "status": "draft",
            "collection_method": sub["collection_method"],
            "days_until_due": sub["days_until_due"], "due_date": None,
            "currency": sub["currency"], "auto_advance": True, "description": None,
            "footer": None, "metadata": {}, "items": [], "order": self._order(),
            "subscription": sub["id"], "billing_reason": reason,
            "subscription_metadata": dict(sub["metadata"]), "sub_lines": [],
        }
        for it in sub["items"]:
            p = self.prices[it["price"]]
            prod = self.products.get(p["product"])
            every = (p["interval"] if p["interval_count"] == 1
                     else f"every {p['interval_count']} {p['interval']}s")
            inv["sub_lines"].append({
                "line_id": so.new_id("il", 24), "price": p["id"], "quantity": it["quantity"],
                "amount": p["unit_amount"] * it["quantity"], "currency": p["currency"],
                "period_start": sub["current_period_start"],
                "period_end": sub["current_period_end"],
                "subscription": sub["id"], "subscription_item": it["id"], "metadata": {},
                "description": f"{it['quantity']} × {prod['name'] if prod else p['product']} "
                               f"(at {_money(p['unit_amount'], p['currency'])} / {every})",
            })
        self.invoices[iid] = inv
        sub["latest_invoice"] = iid
        return inv

    def list_subscriptions(self, req: Request, params: dict) -> dict:
        cust, price = _str(params, "customer"), _str(params, "price")
        method, status = _str(params, "collection_method"), _str(params, "status")
        if status not in (None, "active", "all", "canceled", "ended", "incomplete",
                          "incomplete_expired", "past_due", "paused", "trialing", "unpaid"):
            raise _invalid(f"Invalid status: {status}", param="status")

        def status_ok(s: str) -> bool:
            if status is None:
                return s != "canceled"  # as Stripe: canceled ones only when asked for
            if status == "all":
                return True
            if status == "ended":
                return s in ("canceled", "incomplete_expired")
            return s == status

        recs = [s for s in self.subscriptions.values()
                if (cust is None or s["customer"] == cust) and status_ok(s["status"])
                and (method is None or s["collection_method"] == method)
                and (price is None or any(it["price"] == price for it in s["items"]))]
        expand = {e.removeprefix("data.") for e in _expand(params)}
        return self._page(req, "/v1/subscriptions", recs, lambda s: self._sub_obj(s, expand))

    @staticmethod
    def _previous(before: dict, after: dict) -> dict:
        """Stripe's data.previous_attributes: the changed fields' old values (for hashes such as
        metadata, only the changed keys, a new key's old value being null)."""
        prev: dict = {}
        for k, old in before.items():
            new = after.get(k)
            if old == new:
                continue
            if isinstance(old, dict) and isinstance(new, dict) and k != "items":
                prev[k] = {sk: old.get(sk) for sk in sorted(set(old) | set(new))
                           if old.get(sk) != new.get(sk)}
            else:
                prev[k] = old
        return prev

    def _cancellation_details(self, sub: dict, params: dict) -> None:
        raw = params.get("cancellation_details")
        if raw in (None, ""):
            return
        if not isinstance(raw, dict):
            raise _invalid("Invalid object", param="cancellation_details")
        _reject_unknown(raw, {"comment", "feedback"}, "cancellation_details")
        details = dict(sub.get("cancellation_details") or {})
        if "comment" in raw:
            details["comment"] = raw["comment"] or None
        if "feedback" in raw:
            fb = raw["feedback"] or None
            if fb not in (None, "customer_service", "low_quality", "missing_features", "other",
                          "switched_service", "too_complex", "too_expensive", "unused"):
                raise _invalid(f"Invalid feedback: {fb}", param="cancellation_details[feedback]")
            details["feedback"] = fb
        sub["cancellation_details"] = details

    def update_subscription(self, sid: str, params: dict) -> dict:
        sub = self._get("subscription", self.subscriptions, sid)
        if sub["status"] == "canceled":
            for k in ("cancel_at_period_end", "description"):
                if params.get(k) not in (None, ""):
                    raise _invalid("A canceled subscription can only update its "
                                   "cancellation_details and metadata.", param=k)
        cape = _bool(params, "cancel_at_period_end")
        metadata = _metadata(params, sub["metadata"])
        description = _str(params, "description")  # all checked before anything changes
        before = self._sub_obj(sub)
        self._cancellation_details(sub, params)
        if cape is not None and cape != sub["cancel_at_period_end"]:
            details = dict(sub.get("cancellation_details") or {})
            details["reason"] = "cancellation_requested" if cape else None
            sub.update(cancel_at_period_end=cape, cancellation_details=details,
                       cancel_at=sub["current_period_end"] if cape else None,
                       canceled_at=so.now() if cape else None)
        sub["metadata"] = metadata
        if "description" in params:
            sub["description"] = description
        prev = self._previous(before, self._sub_obj(sub))
        if prev:  # as Stripe: an update that changes nothing sends no event
            self._deliver_later(self._sub_event("customer.subscription.updated", sub, None, prev))
        return sub

    def cancel_subscription(self, sid: str, params: dict) -> dict:
        sub = self._get("subscription", self.subscriptions, sid)
        if sub["status"] == "canceled":
            raise _invalid(f"The subscription {sid} is already canceled.", save=True)
        self._cancellation_details(sub, params)
        t = so.now()
        details = dict(sub.get("cancellation_details") or {}, reason="cancellation_requested")
        sub.update(status="canceled", canceled_at=t, ended_at=t, cancellation_details=details)
        self._deliver_later(self._sub_event("customer.subscription.deleted", sub, None))
        return sub

    def _advance(self, sub: dict, webhook_url: str | None) -> tuple[dict, dict | None]:
        """The subscription's next period (or its end): the event record and the new invoice."""
        if sub["status"] not in ("active", "past_due"):
            raise _invalid(f"Only active subscriptions advance; {sub['id']} is {sub['status']}.")
        before = self._sub_obj(sub)
        old_end = sub["current_period_end"]
        if sub["cancel_at_period_end"]:
            sub.update(status="canceled", ended_at=old_end,
                       canceled_at=sub.get("canceled_at") or old_end)
            return self._sub_event("customer.subscription.deleted", sub, webhook_url), None
        sub["cycle"] += 1
        sub["current_period_start"] = old_end
        sub["current_period_end"] = add_interval(sub["billing_cycle_anchor"], sub["interval"],
                                                 sub["interval_count"], sub["cycle"] + 1)
        inv = self._subscription_invoice(sub, "subscription_cycle")
        self.finalize(inv["id"], {})
        if sub["collection_method"] == "send_invoice" and inv["status"] == "open":
            self.send(inv["id"])
        prev = self._previous(before, self._sub_obj(sub))
        return self._sub_event("customer.subscription.updated", sub, webhook_url, prev), inv

    def _after_paid(self, inv: dict, webhook_url: str | None = None) -> dict | None:
        """An incomplete subscription whose latest invoice is paid becomes active: the event
        record of that update (for the caller to deliver), or None."""
        sub = self.subscriptions.get(inv.get("subscription") or "")
        if sub is None or sub["latest_invoice"] != inv["id"] \
                or sub["status"] not in ("incomplete", "past_due"):
            return None
        before = self._sub_obj(sub)
        sub["status"] = "active"
        return self._sub_event("customer.subscription.updated", sub, webhook_url,
                               self._previous(before, self._sub_obj(sub)))

    # ---- charges, refunds, disputes --------------------------------------------------------

    def _charge_invoice(self, inv: dict, amount: int, currency: str) -> dict:
        ch = {
            "id": so.new_id("ch", 24), "amount": amount, "amount_refunded": 0,
            "currency": currency, "customer": inv["customer"], "invoice": inv["id"],
            "payment_intent": so.new_id("pi", 24), "payment_method": so.new_id("pm", 24),
            "description": ("Subscription creation"
                            if inv.get("billing_reason") == "subscription_create"
                            else "Subscription update" if inv.get("subscription")
                            else "Payment for Invoice"),
            "disputed": False, "created": so.now(), "refunds": [], "disputes": [],
            "order": self._order(),
        }
        self.charges[ch["id"]] = ch
        inv["charge"], inv["payment_intent"] = ch["id"], ch["payment_intent"]
        return ch

    @staticmethod
    def _refund_reason(v, param: str = "reason") -> str | None:
        if v in (None, ""):
            return None
        if v not in ("duplicate", "fraudulent", "requested_by_customer"):
            raise _invalid(f"Invalid reason: must be one of duplicate, fraudulent or "
                           f"requested_by_customer (got {v})", param=param)
        return v

    def _refund(self, ch: dict, amount: int | None, reason: str | None, metadata: dict,
                webhook_url: str | None) -> tuple[dict, dict]:
        left = ch["amount"] - ch["amount_refunded"]
        if ch["disputed"]:
            raise _invalid(f"Charge {ch['id']} has been disputed; it cannot be refunded.",
                           code="charge_disputed", param="charge")
        if left <= 0:
            raise _invalid(f"Charge {ch['id']} has already been refunded.",
                           code="charge_already_refunded", param="charge")
        amount = left if amount is None else amount
        if amount > left:
            raise _invalid(f"Refund amount ({_money(amount, ch['currency'])}) is greater than "
                           f"unrefunded amount on charge ({_money(left, ch['currency'])})",
                           param="amount")
        r = {"id": so.new_id("re", 24), "amount": amount, "charge": ch["id"],
             "payment_intent": ch["payment_intent"], "currency": ch["currency"],
             "reason": reason, "metadata": metadata, "created": so.now(),
             "order": self._order()}
        self.refunds[r["id"]] = r
        ch["refunds"].append(r["id"])
        ch["amount_refunded"] += amount
        return r, self._charge_event("charge.refunded", self._charge_obj(ch), ch, webhook_url)

    def create_refund(self, params: dict) -> dict:
        cid, pi = _str(params, "charge"), _str(params, "payment_intent")
        if cid and pi:
            raise _invalid("You may only specify one of these parameters: charge, "
                           "payment_intent.", param="payment_intent")
        if cid:
            ch = self.charges.get(cid)
            if ch is None:
                raise _no_such("charge", cid, "charge", 400)
        elif pi:
            ch = next((c for c in self.charges.values() if c["payment_intent"] == pi), None)
            if ch is None:
                raise _no_such("payment_intent", pi, "payment_intent", 400)
        else:
            raise _missing("charge")
        amount = _int(params, "amount", minimum=1)
        reason = self._refund_reason(_str(params, "reason"))
        r, rec = self._refund(ch, amount, reason, _metadata(params), None)
        self._deliver_later(rec)
        return r

    DISPUTE_REASONS = ("bank_cannot_process", "check_returned", "credit_not_processed",
                       "customer_initiated", "debit_not_authorized", "duplicate", "fraudulent",
                       "general", "incorrect_account_details", "insufficient_funds",
                       "noncompliant", "product_not_received", "product_unacceptable",
                       "subscription_canceled", "unrecognized")

    # ---- invoice payments, webhook endpoints -----------------------------------------------

    def list_invoice_payments(self, req: Request, params: dict) -> dict:
        iid, status = _str(params, "invoice"), _str(params, "status")
        payment = params.get("payment")
        pi = None
        if payment is not None:
            if not isinstance(payment, dict):
                raise _invalid("Invalid object", param="payment")
            _reject_unknown(payment, {"type", "payment_intent", "payment_record"}, "payment")
            if payment.get("type") not in ("payment_intent", "payment_record"):
                raise _invalid("Invalid payment[type]: must be one of payment_intent or "
                               "payment_record", param="payment[type]")
            pi = payment.get("payment_intent")
        if status not in (None, "canceled", "open", "paid"):
            raise _invalid("Invalid status: must be one of canceled, open or paid",
                           param="status")
        recs = [ip for ip in self.invoice_payments.values()
                if (iid is None or ip["invoice"] == iid)
                and (pi is None or ip["payment_intent"] == pi)
                and status in (None, "paid")]
        return self._page(req, "/v1/invoice_payments", recs, so.invoice_payment)

    def _record_invoice_payment(self, inv: dict, ch: dict) -> dict:
        ip = {"id": so.new_id("inpay", 24), "invoice": inv["id"],
              "payment_intent": ch["payment_intent"], "amount_paid": ch["amount"],
              "amount_requested": self._invoice_obj(inv)["total"], "currency": ch["currency"],
              "created": so.now(), "order": self._order()}
        self.invoice_payments[ip["id"]] = ip
        return ip

    def _enabled_events(self, params: dict) -> list[str]:
        events = _strs(params, "enabled_events")
        if not events:
            raise _missing("enabled_events")
        for e in events:
            if e != "*" and not re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", e):
                raise _invalid(f"Invalid enabled_events: '{e}' is not a valid event type.",
                               param="enabled_events")
        return events

    def create_webhook_endpoint(self, params: dict) -> dict:
        url = _str(params, "url")
        if not url:
            raise _missing("url")
        if not re.match(r"https?://", url):
            raise _invalid("Invalid URL: URL must be publicly accessible.", param="url")
        version = _str(params, "api_version")
        if version is not None and version != so.API_VERSION:
            raise _invalid(f"Invalid api_version: {version}. This sandbox renders events only "
                           f"in {so.API_VERSION}.", param="api_version")
        we = {"id": so.new_id("we", 24), "url": url, "enabled_events": self._enabled_events(params),
              "api_version": version, "description": _str(params, "description"),
              "metadata": _metadata(params), "created": so.now(), "order": self._order()}
        self.webhook_endpoints[we["id"]] = we
        # Stripe makes a signing secret per endpoint; the sandbox signs every delivery with its
        # one --webhook-secret, so that is the secret it hands out.
        return so.webhook_endpoint(we, secret=self.webhook_secret)

    def update_webhook_endpoint(self, weid: str, params: dict) -> dict:
        we = self._get("webhook_endpoint", self.webhook_endpoints, weid)
        if "enabled_events" in params:
            we["enabled_events"] = self._enabled_events(params)
        if "url" in params:
            we["url"] = _str(params, "url")
        if "description" in params:
            we["description"] = _str(params, "description")
        disabled = _bool(params, "disabled")
        if disabled is not None:
            we["disabled"] = disabled
        if "metadata" in params:
            we["metadata"] = _metadata(params, we.get("metadata"))
        return so.webhook_endpoint(we)

    # ---- payments and webhooks -------------------------------------------------------------

    def _mark_paid(self, inv: dict) -> None:
        inv["status"] = "paid"
        inv["paid_at"] = so.now()
        inv["attempted"] = True
        inv["attempt_count"] = inv.get("attempt_count", 0) + 1

    def _emit(self, type_: str, obj: dict, *, invoice: str | None, customer: str | None,
              subscription: str | None, webhook_url: str | None,
              previous_attributes: dict | None = None) -> dict:
        """An event about `obj` (its data.object, as it is now), recorded for delivery.
        `invoice`/`subscription` are the related ids the sandbox's event filters use."""
        eid = so.new_id("evt", 24)
        ev = so.event(id=eid, type_=type_, created=so.now(), obj=obj,
                      previous_attributes=previous_attributes)
        rec = {
            "id": eid, "type": type_, "created": ev["created"], "invoice": invoice,
            "customer": customer, "subscription": subscription, "event": ev,
            "body": json.dumps(ev, indent=2),  # Stripe sends pretty-printed JSON
            "webhook_url": webhook_url or self.webhook_url, "attempts": [],
            "order": self._order(),
        }
        self.events[eid] = rec
        return rec

    def _new_event(self, type_: str, inv: dict, webhook_url: str | None) -> dict:
        return self._emit(type_, self._invoice_obj(inv), invoice=inv["id"],
                          customer=inv["customer"], subscription=inv.get("subscription"),
                          webhook_url=webhook_url)

    def _sub_event(self, type_: str, sub: dict, webhook_url: str | None,
                   previous_attributes: dict | None = None) -> dict:
        return self._emit(type_, self._sub_obj(sub), invoice=sub.get("latest_invoice"),
                          customer=sub["customer"], subscription=sub["id"],
                          webhook_url=webhook_url, previous_attributes=previous_attributes)

    def _charge_event(self, type_: str, obj: dict, ch: dict, webhook_url: str | None) -> dict:
        inv = self.invoices.get(ch["invoice"]) or {}
        return self._emit(type_, obj, invoice=ch["invoice"], customer=ch["customer"],
                          subscription=inv.get("subscription"), webhook_url=webhook_url)

    def _deliver_later(self, rec: dict) -> None:
        """Every attempt in the background (for events that a /v1 call, which holds the lock,
        makes)."""
        threading.Thread(target=self._deliver_all, args=(rec, 1), daemon=True).start()

    def sign(self, body: str, t: int | None = None) -> str:
        t = int(time.time()) if t is None else t
        mac = hmac.new(self.webhook_secret.encode(), f"{t}.{body}".encode(), hashlib.sha256)
        return f"t={t},v1={mac.hexdigest()}"

    def _attempt(self, rec: dict) -> dict:
        url = rec["webhook_url"]
        n = len(rec["attempts"]) + 1
        started = time.time()
        result = {"attempt": n, "at": started, "url": url, "status": None, "body": None,
                  "error": None, "duration_ms": None}
        if not url:
            result["error"] = "no webhook URL configured (--webhook-url)"
        else:
            body = rec["body"].encode()
            sig = self.sign(rec["body"])
            result["signature"] = sig
            r = urllib.request.Request(url, data=body, method="POST", headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sig,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Accept": "*/*; q=0.5, application/xml",
                "Cache-Control": "no-cache",
            })
            try:
                with urllib.request.urlopen(r, timeout=self.webhook_timeout) as resp:
                    result["status"] = resp.status
                    result["body"] = resp.read(4096).decode("utf-8", "replace")
            except urllib.error.HTTPError as e:
                result["status"] = e.code
                result["body"] = e.read(4096).decode("utf-8", "replace")
            except Exception as e:  # connection refused, timeout, ...
                result["error"] = f"{type(e).__name__}: {e}"
        result["duration_ms"] = round((time.time() - started) * 1000, 1)
        result["ok"] = result["status"] is not None and 200 <= result["status"] < 300
        with self.lock:
            rec["attempts"].append(result)
            if result["ok"] and rec["type"].startswith("invoice."):
                inv = self.invoices.get(rec["invoice"])
                if inv is not None:
                    inv["webhooks_delivered_at"] = int(time.time())
        self.log(json.dumps({"webhook": rec["id"], "type": rec["type"], "attempt": n,
                             "status": result["status"], "error": result["error"]}))
        return result

    def _deliver_all(self, rec: dict, first_attempt: int) -> None:
        """Attempts first_attempt..max_attempts, each after 1 s, 2 s, 4 s, ... until one is 2xx."""
        for k in range(first_attempt, self.max_attempts + 1):
            if k > 1:
                time.sleep(self.retry_base * (2 ** (k - 2)))
            if self._attempt(rec)["ok"]:
                return

    def deliver(self, rec: dict) -> dict:
        """First attempt now; on failure the rest in a background thread."""
        first = self._attempt(rec)
        if not first["ok"] and self.max_attempts > 1:
            threading.Thread(target=self._deliver_all, args=(rec, 2), daemon=True).start()
        return first

    # ---- /__sandbox/stripe/... -------------------------------------------------------------

    def handle_sandbox(self, req: Request, parts: list[str]) -> Response:
        m = req.method
        try:
            match parts:
                case ["invoices", iid, "pay"] if m == "POST":
                    body = req.json()
                    amount, currency = body.get("amount_paid"), body.get("currency")
                    if amount is not None and (not isinstance(amount, int)
                                               or isinstance(amount, bool) or amount < 0):
                        raise _invalid("`amount_paid` must be a non-negative integer (cents).",
                                       param="amount_paid")
                    if currency is not None and (not isinstance(currency, str)
                                                 or not re.fullmatch(r"[a-zA-Z]{3}", currency)):
                        raise _invalid("`currency` must be a three-letter ISO code.",
                                       param="currency")
                    with self.lock:
                        inv = self.invoices.get(iid)
                        if inv is None:
                            return json_response(404, so.error_object(
                                "invalid_request_error", f"No such invoice: '{iid}'",
                                code="resource_missing"))
                        if inv["status"] != "open":
                            return json_response(400, so.error_object(
                                "invalid_request_error",
                                f"Only open invoices can be paid; {iid} is {inv['status']}.",
                                code="invoice_unexpected_state"))
                        self._mark_paid(inv)
                        if amount is not None:
                            inv["paid_amount"] = amount
                        if currency is not None:
                            inv["paid_currency"] = currency.lower()
                        total = self._invoice_obj(inv)["total"]
                        ch = self._charge_invoice(inv, total if amount is None else amount,
                                                  (currency or inv["currency"]).lower())
                        ip = self._record_invoice_payment(inv, ch)
                        url = body.get("webhook_url")
                        rec = self._new_event("invoice.paid", inv, url)
                        ip_rec = self._emit("invoice_payment.paid", so.invoice_payment(ip),
                                            invoice=inv["id"], customer=inv["customer"],
                                            subscription=inv.get("subscription"),
                                            webhook_url=url)
                        sub_rec = self._after_paid(inv, url)
                        invoice_obj = self._invoice_obj(inv)
                    first = self.deliver(rec)  # outside the lock: the webhook may call us
                    # After invoice.paid's first attempt; Stripe promises no order among them.
                    self._deliver_later(ip_rec)
                    if sub_rec is not None:
                        self._deliver_later(sub_rec)
                    return json_response(200, {"invoice": invoice_obj, "charge": ch["id"],
                                               "invoice_payment": ip["id"],
                                               "event_id": rec["id"], "delivery": first})
                case ["invoices", iid, "fail"] if m == "POST":
                    body = req.json()
                    with self.lock:
                        inv = self._get_invoice(iid)
                        if inv["status"] != "open":
                            raise _invalid(f"Only open invoices can fail a payment; {iid} is "
                                           f"{inv['status']}.", code="invoice_unexpected_state")
                        inv["attempted"] = True
                        inv["attempt_count"] = inv.get("attempt_count", 0) + 1
                        rec = self._new_event("invoice.payment_failed", inv,
                                              body.get("webhook_url"))
                        invoice_obj = self._invoice_obj(inv)
                    first = self.deliver(rec)
                    return json_response(200, {"invoice": invoice_obj, "event_id": rec["id"],
                                               "delivery": first})
                case ["invoices", iid, "refund"] if m == "POST":
                    body = req.json()
                    amount = body.get("amount")
                    if amount is not None and (not isinstance(amount, int)
                                               or isinstance(amount, bool) or amount < 1):
                        raise _invalid("`amount` must be a positive integer (cents).",
                                       param="amount")
                    reason = self._refund_reason(body.get("reason"))
                    with self.lock:
                        ch = self._invoice_charge(iid, "refund")
                        r, rec = self._refund(ch, amount, reason, {}, body.get("webhook_url"))
                        charge_obj = self._charge_obj(ch)
                    first = self.deliver(rec)
                    return json_response(200, {"refund": so.refund(r), "charge": charge_obj,
                                               "event_id": rec["id"], "delivery": first})
                case ["invoices", iid, "dispute"] if m == "POST":
                    body = req.json()
                    amount = body.get("amount")
                    if amount is not None and (not isinstance(amount, int)
                                               or isinstance(amount, bool) or amount < 1):
                        raise _invalid("`amount` must be a positive integer (cents).",
                                       param="amount")
                    reason = body.get("reason") or "fraudulent"
                    if reason not in self.DISPUTE_REASONS:
                        raise _invalid(f"Invalid reason: {reason}", param="reason")
                    with self.lock:
                        ch = self._invoice_charge(iid, "dispute")
                        if any(self.disputes[d]["status"] not in ("won", "lost")
                               for d in ch["disputes"]):
                            raise _invalid(f"Charge {ch['id']} already has an open dispute.",
                                           param="charge")
                        if amount is not None and amount > ch["amount"]:
                            raise _invalid("A dispute cannot be for more than the charge "
                                           f"({_money(ch['amount'], ch['currency'])}).",
                                           param="amount")
                        d = {"id": so.new_id("dp", 24), "charge": ch["id"],
                             "payment_intent": ch["payment_intent"],
                             "amount": ch["amount"] if amount is None else amount,
                             "currency": ch["currency"], "reason": reason,
                             "status": "needs_response", "created": so.now(),
                             "order": self._order()}
                        self.disputes[d["id"]] = d
                        ch["disputes"].append(d["id"])
                        ch["disputed"] = True
                        dispute_obj = so.dispute(d)
                        rec = self._charge_event("charge.dispute.created", dispute_obj, ch,
                                                 body.get("webhook_url"))
                    first = self.deliver(rec)
                    return json_response(200, {"dispute": dispute_obj, "event_id": rec["id"],
                                               "delivery": first})
                case ["disputes", did, "close"] if m == "POST":
                    body = req.json()
                    status = body.get("status")
                    if status not in ("lost", "won"):
                        raise _invalid("`status` must be \"lost\" or \"won\".", param="status")
                    with self.lock:
                        d = self._get("dispute", self.disputes, did)
                        if d["status"] in ("won", "lost"):
                            raise _invalid(f"Dispute {did} is already closed ({d['status']}).")
                        d["status"] = status
                        dispute_obj = so.dispute(d)
                        rec = self._charge_event("charge.dispute.closed", dispute_obj,
                                                 self.charges[d["charge"]],
                                                 body.get("webhook_url"))
                    first = self.deliver(rec)
                    return json_response(200, {"dispute": dispute_obj, "event_id": rec["id"],
                                               "delivery": first})
                case ["subscriptions", sid, "advance"] if m == "POST":
                    body = req.json()
                    with self.lock:
                        sub = self._get("subscription", self.subscriptions, sid)
                        rec, inv = self._advance(sub, body.get("webhook_url"))
                        sub_obj = self._sub_obj(sub)
                        invoice_obj = None if inv is None else self._invoice_obj(inv)
                    first = self.deliver(rec)
                    return json_response(200, {"subscription": sub_obj, "invoice": invoice_obj,
                                               "event_id": rec["id"], "delivery": first})
                case ["subscriptions"] if m == "GET":
                    cust = req.q("customer")
                    with self.lock:
                        data = [self._sub_obj(x) for x in
                                sorted(self.subscriptions.values(), key=lambda x: x["order"])
                                if cust is None or x["customer"] == cust]
                    return json_response(200, {"data": data})
                case ["products"] if m == "GET":
                    with self.lock:
                        data = [self._product_obj(x) for x in
                                sorted(self.products.values(), key=lambda x: x["order"])]
                    return json_response(200, {"data": data})
                case ["prices"] if m == "GET":
                    with self.lock:
                        data = [self._price_obj(x) for x in
                                sorted(self.prices.values(), key=lambda x: x["order"])]
                    return json_response(200, {"data": data})
                case ["charges"] if m == "GET":
                    inv_id = req.q("invoice")
                    with self.lock:
                        data = [dict(self._charge_obj(x),
                                     disputes=[so.dispute(self.disputes[d]) for d in x["disputes"]])
                                for x in sorted(self.charges.values(), key=lambda x: x["order"])
                                if inv_id is None or x["invoice"] == inv_id]
                    return json_response(200, {"data": data})
                case ["requests"] if m == "GET":
                    with self.lock:
                        return json_response(200, {"data": list(self.requests)})
                case ["events", eid, "redeliver"] if m == "POST":
                    body = req.json()
                    with self.lock:
                        rec = self.events.get(eid)
                        if rec is None:
                            return json_response(404, {"error": f"no event {eid}"})
                        if body.get("webhook_url"):
                            rec["webhook_url"] = body["webhook_url"]
                    first = self.deliver(rec)
                    return json_response(200, {"event_id": eid, "delivery": first})
                case ["events"] if m == "GET":
                    with self.lock:
                        recs = sorted(self.events.values(), key=lambda r: r["order"])
                        data = [self._event_view(r) for r in recs
                                if (req.q("type") in (None, r["type"]))
                                and (req.q("invoice") in (None, r["invoice"]))
                                and (req.q("subscription") in (None, r.get("subscription")))]
                    return json_response(200, {"data": data})
                case ["events", eid] if m == "GET":
                    with self.lock:
                        rec = self.events.get(eid)
                        if rec is None:
                            return json_response(404, {"error": f"no event {eid}"})
                        return json_response(200, self._event_view(rec))
                case ["invoices"] if m == "GET":
                    email = req.q("customer_email")
                    with self.lock:
                        custs = {c["id"] for c in self.customers.values()
                                 if email is None or c["email"] == email}
                        invs = sorted((i for i in self.invoices.values()
                                       if i["customer"] in custs), key=lambda i: i["order"])
                        data = [dict(self._invoice_obj(i), sandbox={"sent_at": i.get("sent", [])})
                                for i in invs]
                    return json_response(200, {"data": data})
                case ["customers"] if m == "GET":
                    email = req.q("email")
                    with self.lock:
                        data = [self._customer_obj(c) for c in
                                sorted(self.customers.values(), key=lambda c: c["order"])
                                if email is None or c["email"] == email]
                    return json_response(200, {"data": data})
                case ["hosted", iid] | ["hosted", iid, "pdf"] if m == "GET":
                    with self.lock:
                        inv = self.invoices.get(iid)
                        if inv is None or inv["status"] == "draft":
                            return html_response(404, "<!doctype html><title>Not found</title>"
                                                      "<p>No such invoice.</p>")
                        obj = self._invoice_obj(inv)
                    return html_response(200, self._hosted_page(obj))
                case ["hosted", iid, "pay"] if m == "POST":
                    # the hosted page's button: pay, then back to the page
                    r = self.handle_sandbox(Request("POST", req.path, {}, {}, b""),
                                            ["invoices", iid, "pay"])
                    if r.status != 200:
                        return r
                    return Response(303, b"", "text/plain",
                                    {"Location": f"/__sandbox/stripe/hosted/{iid}"})
        except BadRequest as e:
            return json_response(400, {"error": str(e)})
        except StripeError as e:
            return e.response()
        return json_response(404, {"error": f"no sandbox endpoint {m} {req.path}"})

    def _invoice_charge(self, iid: str, what: str) -> dict:
        inv = self._get_invoice(iid)
        ch = self.charges.get(inv.get("charge") or "")
        if ch is None:
            raise _invalid(f"Invoice {iid} has no charge to {what} (it is {inv['status']}; "
                           "only an invoice paid through the sandbox's pay endpoint has one).",
                           code="invoice_unexpected_state")
        return ch

    def _event_view(self, rec: dict) -> dict:
        return {
            "id": rec["id"], "type": rec["type"], "created": rec["created"],
            "invoice": rec["invoice"], "customer": rec["customer"],
            "subscription": rec.get("subscription"),
            "webhook_url": rec["webhook_url"], "attempts": list(rec["attempts"]),
            "delivered": any(a["ok"] for a in rec["attempts"]), "event": rec["event"],
        }

    @staticmethod
    def _hosted_page(inv: dict) -> str:
        e = html.escape
        amount = f"${inv['amount_due'] / 100:,.2f} {inv['currency'].upper()}"
        lines = "".join(f"<li>{e(li.get('description') or 'Item')}: "
                        f"${li['amount'] / 100:,.2f}</li>" for li in inv["lines"]["data"])
        button = ("" if inv["status"] != "open" else
                  f"<form method=post action='/__sandbox/stripe/hosted/{e(inv['id'])}/pay'>"
                  "<button>Pay (sandbox)</button></form>")
        return ("<!doctype html><meta charset=utf-8><title>Invoice "
                f"{e(inv.get('number') or inv['id'])}</title>"
                f"<h1>Invoice {e(inv.get('number') or inv['id'])}</h1>"
                f"<p>Status: <b id=status>{e(inv['status'])}</b></p>"
                f"<p>Amount due: <b id=amount>{e(amount)}</b></p><ul>{lines}</ul>{button}"
                "<p><small>DOTM provider sandbox &mdash; not a real Stripe page.</small></p>")
