"""The subset of Stripe's REST API that DOTM uses, plus the sandbox's test endpoints.

Stripe's conventions are kept: form-encoded bodies with nested keys, `Authorization: Bearer
<secret key>` (or HTTP Basic with the key as user name), `Idempotency-Key` on POSTs (the first
response is replayed with `Idempotent-Replayed: true`; the same key with other parameters is a
400 `idempotency_error`), unknown parameters are a 400, errors are `{"error": {type, message,
code?, param?}}`, lists are `{"object": "list", ...}` newest first. Webhooks are signed as
Stripe signs them: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import threading
import time
import urllib.error
import urllib.request
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
}


def _check_params(kind: tuple[str, str], params: dict) -> None:
    allowed = ALLOWED[kind]
    for k in params:
        if k not in allowed:
            raise _invalid(f"Received unknown parameter: {k}", code="parameter_unknown", param=k)


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
            self.idem: dict[tuple, dict] = {}
            self.seq = 0  # insertion order: ties in `created` keep it

    # ---- helpers ---------------------------------------------------------------------------

    def _order(self) -> int:
        self.seq += 1
        return self.seq

    def _invoice_obj(self, inv: dict) -> dict:
        items = sorted((self.items[i] for i in inv["items"]), key=lambda x: x["order"])
        return so.invoice(inv, items, self.customers.get(inv["customer"]))

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
        try:
            self._auth(req)
            if req.method == "POST":
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
        raise _invalid(f"Unrecognized request URL ({m}: {req.path}). Please see "
                       "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                       status=404)

    def _get_invoice(self, iid: str) -> dict:
        inv = self.invoices.get(iid)
        if inv is None:
            raise _no_such("invoice", iid, "id", 404)
        return inv

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
            threading.Thread(target=self._deliver_all, args=(ev, 1), daemon=True).start()
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

    # ---- payments and webhooks -------------------------------------------------------------

    def _mark_paid(self, inv: dict) -> None:
        inv["status"] = "paid"
        inv["paid_at"] = so.now()
        inv["attempted"] = True
        inv["attempt_count"] = inv.get("attempt_count", 0) + 1

    def _new_event(self, type_: str, inv: dict, webhook_url: str | None) -> dict:
        eid = so.new_id("evt", 24)
        obj = so.event(id=eid, type_=type_, created=so.now(), obj=self._invoice_obj(inv))
        rec = {
            "id": eid, "type": type_, "created": obj["created"], "invoice": inv["id"],
            "customer": inv["customer"], "event": obj,
            "body": json.dumps(obj, indent=2),  # Stripe sends pretty-printed JSON
            "webhook_url": webhook_url or self.webhook_url, "attempts": [],
            "order": self._order(),
        }
        self.events[eid] = rec
        return rec

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
                        rec = self._new_event("invoice.paid", inv, body.get("webhook_url"))
                        invoice_obj = self._invoice_obj(inv)
                    first = self.deliver(rec)  # outside the lock: the webhook may call us
                    return json_response(200, {"invoice": invoice_obj, "event_id": rec["id"],
                                               "delivery": first})
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
                                and (req.q("invoice") in (None, r["invoice"]))]
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
        return json_response(404, {"error": f"no sandbox endpoint {m} {req.path}"})

    def _event_view(self, rec: dict) -> dict:
        return {
            "id": rec["id"], "type": rec["type"], "created": rec["created"],
            "invoice": rec["invoice"], "customer": rec["customer"],
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
