"""The carrier: OXIO's API as DOTM's carrier adapter speaks it, strictly, plus a clearly non-OXIO
"line services" extension and the sandbox's test endpoints.

OXIO publishes no API reference. The shapes below are what the original DOTM platform sends and
reads (../shared/REFERENCES.md "OXIO"); where OXIO's shape is not confirmed by that evidence the
sandbox follows DOTM's contract and says "unconfirmed". What OXIO would refuse, this refuses.

Configuration (server.py flags / env vars): the API key and auth token (--oxio-key OXIO_API_KEY,
--oxio-token OXIO_AUTH_TOKEN), the brand (--oxio-brand OXIO_BRAND_ID, a UUID), the plans
(--oxio-plans OXIO_PLAN_IDS, comma list; the third one is the data booster) and the area codes
that have numbers (--oxio-area-codes OXIO_AREA_CODES).

Auth and errors (every /v2 and /v3 path below):

    Authorization: Basic base64(<api key>:<auth token>), exactly. Missing, Bearer or wrong -> 401
      {"message": "Unauthorized", "error": "UNAUTHENTICATED"}
    An unknown path under /v2 or /v3, and the old /v1/activations... and /v1/lines/... of the
    pre-OXIO sandbox -> 404 {"message": "Not Found", "error": "NOT_FOUND"}; a listed path with
    another method -> 405 {"message": "Method Not Allowed", "error": "METHOD_NOT_ALLOWED"}
    (both before auth is looked at).
    Errors: {"message": str, "error": UPPER_SNAKE code, "details"?: [...],
             "validation_errors"?: [{"field", "message"}]} (shape unconfirmed).
    A body that is not a JSON object -> 400 INVALID_ARGUMENT. Every body field is checked: an
    unknown field (at any level below), a missing required one (a required string that is
    empty or blank counts as missing) or a wrong type or value -> 400 INVALID_ARGUMENT,
    `validation_errors` naming each field (dotted: `endUser.brandId`). An optional field sent as
    null counts as absent (unconfirmed).

OXIO endpoints:

    POST /v2/end-users {sex: MALE|FEMALE|UNSPECIFIED, firstName, lastName, email?, groupId?}
      -> 201 {"endUserId" (uuid4), "sex", "firstName", "lastName", "email"?, "groupId"?,
              "brandId" (the configured brand), "createdAt" (RFC 3339 UTC)}
         An email another end user already has (case-insensitive) -> 409 {"message": "End user
         with email ... already exists", "error": "ALREADY_EXISTS"}.
    GET  /v2/end-users[?email=]  -> 200 {"endUsers": [end users, creation order]}, those with
         that email (case-insensitive) when given.
    POST /v3/lines/line {lineType: "LINE_TYPE_MOBILITY", countryCode: "US",
                         sim: {simType: "EMBEDDED"}, endUser: {brandId, endUserId},
                         planId?, groupId?, phoneNumberRequirements?: {preferredAreaCode?},
                         activateOnAttach?: bool}
         brandId must be the configured brand (else 400, field endUser.brandId); planId one of
         the configured plans (else 400, field planId); an unknown endUserId -> 404
         {"error": "NOT_FOUND", "message": "End user ... not found"}; a preferredAreaCode (3
         digits) that is not one of the configured area codes -> 400 {"error":
         "FAILED_PRECONDITION", "message": "No numbers available in area code NNN"}. No line is
         made by a refused call.
      -> 201 the line:
         {"lineId" (uuid4), "status": "ACTIVE", "lineType": "LINE_TYPE_MOBILITY",
          "countryCode": "US", "endUserId", "planId" (or null),
          "phoneNumbers": [{"phoneNumber": "+1NXXNXXXXXX"}],
          "sim": {"iccid" (19 digits, 891..., Luhn), "simType": "EMBEDDED", "status": "ACTIVE",
                  "countryCode": "US",
                  "activationCode": "LPA:1$smdp.sandbox.oxio.local$<code>" (the whole LPA string),
                  "activationUrl": "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=<the LPA string, url-encoded>"},
          "createdAt"}
         The number's area code is the preferred one, else a random configured one; the exchange
         starts 2-9 and is no N11 code; never 555-0100..555-0199; never another line's number.
         There is NO idempotency key, as at OXIO: an Idempotency-Key header is ignored and every
         call makes a new line (a client finds out what an earlier call made by listing the end
         user's lines).
    GET  /v3/end-users/{endUserId}/lines -> 200 {"lines": [lines, creation order]}; unknown end
         user -> 404.
    GET  /v3/sims/{iccid} -> 200 {"iccid", "simType": "EMBEDDED", "status": "ACTIVE", "lineId"};
         unknown -> 404.
    GET  /v3/phone-numbers/available-area-codes?countryCode=US[&zipCode=]
      -> 200 {"areaCodes": [{"areaCode": "212"}, ...]} (shape unconfirmed; zipCode is accepted
         and does not narrow the list); a countryCode other than US -> 200 {"areaCodes": []};
         no countryCode -> 400.
    GET  /v3/phone-numbers/available?countryCode=US&areaCode=NNN[&nxx=NNN][&zipCode=][&limit=10]
      -> 200 {"phoneNumbers": [{"phoneNumber": "+1NNN..."}]} (shape unconfirmed): up to `limit`
         (1..100, default 10) numbers no line has, in that area code (and exchange, with nxx);
         empty for an area code not configured or a country other than US. Not reserved.
    POST /v3/subscriptions {endUserId, planId} (the data booster; unconfirmed in OXIO)
         endUserId unknown -> 404; planId not configured -> 400.
      -> 201 {"subscriptionId" (uuid4), "id" (the same), "endUserId", "planId",
              "status": "ACTIVE", "createdAt"}. No idempotency. A subscription to the booster
         plan (the third configured plan, dotm-booster-10gb by default) adds BOOSTER_MB (10240)
         to the data_total_mb of the end user's first line (see usage below).

Line services (NOT OXIO: OXIO shows no API for features, top-ups, their reversal or usage; DOTM's
"sandbox line services" adapter, used only in the local stack, calls these). Same Basic auth;
errors in the sandbox's own shape {"error": {"code", "message", "field"?}}. A line is addressed
by its ICCID (sim.iccid):

    GET    /__sandbox/carrier/line-services/{iccid}
      -> 200 {"iccid", "phone_number", "status": "active", "data_balance_mb", "features":
              [enabled names, sorted], "topups": [{"topup_id", "amount_mb", "reference",
              "reversed", "reversed_mb", "created_at", "reversed_at"}]}
    POST   /__sandbox/carrier/line-services/{iccid}/data     Idempotency-Key: <key>
           {"amount_mb": 1..1048576, "reference": "<= 200 chars"}
      -> 201 {"topup_id", "iccid", "amount_mb", "reference", "balance_mb" (after it),
              "reversed": false, "created_at"}
         The same key answers the same top-up again (200, `Idempotent-Replayed: true`) and never
         adds twice; the same key with another line/amount/reference is a 409
         `idempotency_conflict`; a reference is one top-up per line (another key with a used
         reference is a 409 `duplicate_reference`). No key: 400 `idempotency_key_required`. A bad
         body is a 400 `invalid_parameter` naming the field (`error.field`).
    DELETE /__sandbox/carrier/line-services/{iccid}/data/{reference}
      -> 200 the top-up with "reversed": true, "reversed_at", "balance_mb" (after it): the
         balance goes down by its amount, never below 0 (`reversed_mb` says by how much). Again:
         the same answer (200, `Idempotent-Replayed: true`), nothing changes. Unknown: 404
         `topup_not_found`.
    PUT    /__sandbox/carrier/line-services/{iccid}/features/{feature}
      -> 200 {"iccid", "feature", "enabled": true}
    DELETE /__sandbox/carrier/line-services/{iccid}/features/{feature}
      -> 200 {"iccid", "feature", "enabled": false}
         Both idempotent. Features: network_security, vpn_access, priority_routing,
         network_monitoring, performance_optimization; others are a 400 `unknown_feature`.
    GET    /__sandbox/carrier/line-services/{iccid}/usage
      -> 200 {"iccid", "status": "ACTIVE", "data_total_mb", "data_used_mb", "data_remaining_mb",
              "valid_until" (the line's createdAt + 30 days), "as_of" (now)}, times RFC 3339
         UTC (`2025-01-31T12:00:00Z`). data_total_mb = the plan's 1024 MB (PLAN_MB, every line)
         + the line's net top-ups (each amount_mb minus its reversed_mb) + 10240 MB per booster
         subscription of its end user when it is the end user's first line; data_remaining_mb =
         max(total - used, 0). Nothing is used until a test consumes data (POST .../consume
         below). data_balance_mb (the top-ups' balance_mb) keeps its meaning: top-ups only.
    An unknown ICCID is a 404 `line_not_found`; an unknown path here a 404 `not_found`.

Test endpoints (under /__sandbox/carrier/, no auth):

    GET  calls[?email=]   every POST /v3/lines/line (refused ones too), in arrival order:
                          `at` (unix seconds, when the request arrived), `ended_at` (absent
                          while the call is being worked on), `status` (the HTTP status
                          answered), `end_user_id` (as sent, or null), `email` (of that end
                          user, null if unknown), `line_id`, `iccid`, `phone_number` (null when
                          no line was made), `preferred_area_code`, `plan_id` (as sent), `fault`
                          (a fault or chaos met the call), `peer` (the caller's address:port).
                          With email: that end user's calls (case-insensitive).
    GET  lines[?email=]   the lines made, in creation order: the line object + `email`,
                          data_balance_mb, features, topups and `usage` (the usage object)
    GET  end-users        {"end_users": [end users + `refused_duplicates`: how many POSTs with
                          their email were refused as ALREADY_EXISTS]}
    GET  subscriptions    {"subscriptions": [subscriptions + `email`]}
    GET  line-calls[?iccid=]  every line-services call (usage reads too, so tests can count how
                          often the carrier was asked): {"data": [{at, method, path, iccid,
                          idempotency_key, body (the JSON sent, or its text), status, replayed}]}
    POST lines/{iccid}/consume {"mb": N} | {"percent": P}
                          the line uses data: N MB (a positive integer), or P % (a positive
                          number) of its current data_total_mb, rounded up to a whole MB;
                          data_used_mb never goes above the total (and never down). Exactly one
                          of the two. -> 200 the usage object; not recorded in line-calls.
                          Unknown ICCID: 404 `line_not_found`; a bad body: 400
                          `invalid_parameter` naming the field (`error.field`).
    POST faults {fail_next: N, status: 503, delay_ms: 0, emails?: [...], permanent?: false}
                          faults for POST /v3/lines/line only, met after auth and before the
                          body is checked. The next N calls (with `emails`: the next N calls
                          for the end user with each of those emails) wait delay_ms, then fail
                          with `status` (OXIO error body); a `status` of null or 2xx only
                          delays, then the call goes on and makes its line (a client that timed
                          out meanwhile loses the answer of a line that was made). `permanent:
                          true` (needs `emails`) fails those emails' calls from now on (default
                          status 422, FAILED_PRECONDITION: the carrier refuses the line for
                          good). A failed call makes no line. (`keys` is refused: see emails.)
    POST faults {chaos: {fail_rate: 0.1, status: 503, max_delay_ms: 300, seed?: 1}}
                          from now on every line-creation call waits a random 0..max_delay_ms
                          and fails with `status` with probability fail_rate (after the other
                          faults)
    GET  faults           what is still armed
    DELETE faults         disarm everything

POST /__sandbox/reset forgets the end users, lines, subscriptions, calls, line services and
faults. Each line-creation call also writes one JSON log line (`carrier_call`).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hmac
import json
import math
import random
import re
import secrets
import threading
import time
import uuid
from decimal import Decimal
from fractions import Fraction
from urllib.parse import quote, unquote

from common import BadRequest, Request, Response, json_response

SMDP_ADDRESS = "smdp.sandbox.oxio.local"
ACTIVATION_URL = "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata="
FEATURES = ("network_security", "vpn_access", "priority_routing", "network_monitoring",
            "performance_optimization")
MAX_TOPUP_MB = 1048576  # 1 TiB of data in one top-up
PLAN_MB = 1024  # the data every line comes with (its plan), before any top-up
BOOSTER_MB = 10240  # what one subscription to the booster plan adds
VALID_DAYS = 30  # a line's data is valid for this long from the line's creation

DEFAULT_BRAND = "6f1c0d2e-8a4b-4c3d-9e5f-0d07a1b2c3d4"
DEFAULT_PLANS = ("dotm-esim-global", "dotm-beta", "dotm-booster-10gb")
DEFAULT_AREA_CODES = ("212", "312", "415", "646", "718")

SEXES = ("MALE", "FEMALE", "UNSPECIFIED")
LINE_SERVICES = "line-services"

# gRPC-style codes for an HTTP status (what a fault answers)
STATUS_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "ABORTED",
                412: "FAILED_PRECONDITION", 422: "FAILED_PRECONDITION",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
                502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

# The OXIO paths: pattern -> allowed methods ({id} is one path segment)
ROUTES = (
    (("v2", "end-users"), ("GET", "POST")),
    (("v3", "lines", "line"), ("POST",)),
    (("v3", "end-users", None, "lines"), ("GET",)),
    (("v3", "sims", None), ("GET",)),
    (("v3", "phone-numbers", "available-area-codes"), ("GET",)),
    (("v3", "phone-numbers", "available"), ("GET",)),
    (("v3", "subscriptions"), ("POST",)),
)


# ---- OXIO-shaped answers ----------------------------------------------------------------------

def oxio_error(status: int, error: str, message: str,
               validation_errors: list[dict] | None = None, details: list | None = None
               ) -> Response:
    body: dict = {"message": message, "error": error}
    if details:
        body["details"] = details
    if validation_errors:
        body["validation_errors"] = validation_errors
    return json_response(status, body)


def _invalid(errors: list[dict]) -> Response:
    """400 INVALID_ARGUMENT naming every refused field."""
    first = errors[0]
    message = (f"Invalid {first['field']}: {first['message']}" if len(errors) == 1
               else f"Invalid request: {len(errors)} fields refused")
    return oxio_error(400, "INVALID_ARGUMENT", message, validation_errors=errors)


def _not_found(what: str) -> Response:
    return oxio_error(404, "NOT_FOUND", f"{what} not found")


# ---- the extension's (ours) error shape ------------------------------------------------------

def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


def _field_error(field: str, message: str) -> Response:
    return json_response(400, {"error": {"code": "invalid_parameter", "message": message,
                                         "field": field}})


def _line_not_found(iccid: str) -> Response:
    return _error(404, "line_not_found", f"No line with ICCID {iccid}.")


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _iso_plus_days(iso: str, days: int) -> str:
    """`iso` (as _now_iso writes it) + `days`, in the same form."""
    t = calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")) + days * 86400
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # every second digit from the right, the check digit's neighbour first
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def new_phone_number(area: str, exchange: str | None = None) -> str:
    """A valid-looking North American number in `area`: +1 NXX NXX XXXX, the exchange (random
    unless given) starting 2-9 and no N11 code, never in the fictional 555-0100..555-0199."""
    rnd = secrets.SystemRandom()
    while True:
        exch = exchange or f"{rnd.randint(2, 9)}{rnd.randint(0, 9)}{rnd.randint(0, 9)}"
        line = rnd.randint(0, 9999)
        if exch[1:] == "11" or (exch == "555" and 100 <= line <= 199):
            if exchange is not None and exch[1:] == "11":
                raise ValueError(f"exchange {exch} is an N11 code")
            continue
        return f"+1{area}{exch}{line:04d}"


def new_iccid() -> str:
    """19 digits: 89 (telecom) + 1 (country code) + 15 digits + Luhn check digit."""
    body = "891" + "".join(str(secrets.randbelow(10)) for _ in range(15))
    return body + luhn_digit(body)


def new_activation_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    groups = ["".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4)]
    return "-".join(groups)


AREA_CODE = re.compile(r"[2-9]\d\d")


# ---- strict body checking ---------------------------------------------------------------------

class _Fields:
    """Collects validation errors for one object of a body, refusing fields it was not told of."""

    def __init__(self, obj: dict, prefix: str, errors: list[dict]):
        self.obj, self.prefix, self.errors = obj, prefix, errors
        self.known: set[str] = set()

    def name(self, field: str) -> str:
        return f"{self.prefix}{field}"

    def refuse(self, field: str, message: str) -> None:
        self.errors.append({"field": self.name(field), "message": message})

    def get(self, field: str, kind: type, required: bool = False):
        """The field's value if of `kind` (None if absent/null or refused)."""
        self.known.add(field)
        v = self.obj.get(field)
        if v is None:
            if required:
                self.refuse(field, "is required")
            return None
        if not isinstance(v, kind) or (kind is not bool and isinstance(v, bool)):
            self.refuse(field, f"must be {_KIND_NAMES.get(kind, kind.__name__)}")
            return None
        if kind is str and required and not v.strip():
            self.refuse(field, "must not be empty")
            return None
        return v

    def done(self) -> None:
        for field in self.obj:
            if field not in self.known:
                self.refuse(field, "unknown field")


_KIND_NAMES = {str: "a string", dict: "an object", bool: "a boolean", list: "a list"}


def _body(req: Request) -> dict | Response:
    """The request's JSON object, or the 400 refusing it."""
    try:
        v = json.loads(req.body) if req.body else None
    except ValueError:
        return oxio_error(400, "INVALID_ARGUMENT", "Request body is not valid JSON")
    if not isinstance(v, dict):
        return oxio_error(400, "INVALID_ARGUMENT", "Request body must be a JSON object")
    return v


class Carrier:
    def __init__(self, api_key: str, auth_token: str = "oxio_token_local",
                 brand_id: str = DEFAULT_BRAND, plan_ids=DEFAULT_PLANS,
                 area_codes=DEFAULT_AREA_CODES, log=print):
        self.api_key = api_key
        self.auth_token = auth_token
        self.brand_id = brand_id
        self.plan_ids = tuple(p for p in plan_ids if p)
        # The data booster: the third configured plan (esim, beta, booster; providers.sh's order)
        self.booster_plan = self.plan_ids[2] if len(self.plan_ids) >= 3 else None
        self.area_codes = tuple(a for a in area_codes if a)
        for a in self.area_codes:
            if not AREA_CODE.fullmatch(a) or a[1:] == "11":
                raise ValueError(f"area code {a!r} is not a NANP area code (NXX, not N11)")
        if not self.area_codes:
            raise ValueError("at least one area code is needed")
        self.log = log
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.end_users: dict[str, dict] = {}  # endUserId -> end user (creation order)
            self.by_email: dict[str, str] = {}  # email (lower case) -> endUserId
            self.refused_duplicates: dict[str, int] = {}  # email (lower) -> refused POSTs
            self.lines: dict[str, dict] = {}  # lineId -> line (creation order)
            self.by_iccid: dict[str, dict] = {}  # iccid -> line
            self.subscriptions: list[dict] = []
            self.calls: list[dict] = []
            self.fail_next: list[dict] = []  # [{left, status, delay_ms}] for any call, in order
            self.email_faults: dict[str, list[dict]] = {}  # email -> [{left, status, delay_ms}]
            self.permanent: dict[str, dict] = {}  # email -> {status, delay_ms}
            self.chaos: dict | None = None  # {fail_rate, status, max_delay_ms, rng}
            self.numbers: set[str] = set()
            self.line_state: dict[str, dict] = {}  # iccid -> {balance_mb, features, topups}
            self.topup_keys: dict[str, dict] = {}  # Idempotency-Key -> {fingerprint, body}
            self.line_calls: list[dict] = []

    # ---- auth and routing -------------------------------------------------------------------

    def _authorized(self, req: Request) -> bool:
        auth = req.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "basic" or not value.strip():
            return False
        try:
            given = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        expected = f"{self.api_key}:{self.auth_token}".encode()
        return hmac.compare_digest(given, expected)

    @staticmethod
    def _unauthorized() -> Response:
        return oxio_error(401, "UNAUTHENTICATED", "Unauthorized")

    @staticmethod
    def owns(path: str) -> bool:
        """Whether `path` is the carrier's (server.py routes it here): /v2, /v3, and the old
        pre-OXIO /v1/activations and /v1/lines (answered 404 now; the rest of /v1 is Stripe's)."""
        return (path in ("/v2", "/v3", "/v1/activations", "/v1/lines")
                or path.startswith(("/v2/", "/v3/", "/v1/activations/", "/v1/lines/")))

    def handle_api(self, req: Request) -> Response:
        parts = req.path.strip("/").split("/")
        for pattern, methods in ROUTES:
            if len(pattern) == len(parts) and all(p is None or p == s
                                                  for p, s in zip(pattern, parts)):
                break
        else:
            return oxio_error(404, "NOT_FOUND", "Not Found")
        if req.method not in methods:
            return oxio_error(405, "METHOD_NOT_ALLOWED", "Method Not Allowed")
        if pattern == ("v3", "lines", "line"):
            return self.create_line(req)  # recorded in `calls` even when unauthorized
        if not self._authorized(req):
            return self._unauthorized()
        match parts:
            case ["v2", "end-users"] if req.method == "POST":
                return self._create_end_user(req)
            case ["v2", "end-users"]:
                email = req.q("email")
                with self.lock:
                    users = [dict(u) for u in self.end_users.values()
                             if email is None or (u.get("email") or "").lower() == email.lower()]
                return json_response(200, {"endUsers": users})
            case ["v3", "end-users", eid, "lines"]:
                eid = unquote(eid)
                with self.lock:
                    if eid not in self.end_users:
                        return _not_found(f"End user {eid}")
                    lines = [self._line_view(ln) for ln in self.lines.values()
                             if ln["endUserId"] == eid]
                return json_response(200, {"lines": lines})
            case ["v3", "sims", iccid]:
                iccid = unquote(iccid)
                with self.lock:
                    line = self.by_iccid.get(iccid)
                    if line is None:
                        return _not_found(f"SIM {iccid}")
                    return json_response(200, {"iccid": iccid, "simType": "EMBEDDED",
                                               "status": line["sim"]["status"],
                                               "lineId": line["lineId"]})
            case ["v3", "phone-numbers", "available-area-codes"]:
                country = req.q("countryCode")
                if not country:
                    return _invalid([{"field": "countryCode", "message": "is required"}])
                codes = self.area_codes if country == "US" else ()
                return json_response(200, {"areaCodes": [{"areaCode": a} for a in codes]})
            case ["v3", "phone-numbers", "available"]:
                return self._available_numbers(req)
            case ["v3", "subscriptions"]:
                return self._subscribe(req)
        return oxio_error(404, "NOT_FOUND", "Not Found")  # not reached: ROUTES lists them all

    # ---- end users ----------------------------------------------------------------------------

    def _create_end_user(self, req: Request) -> Response:
        body = _body(req)
        if isinstance(body, Response):
            return body
        errors: list[dict] = []
        f = _Fields(body, "", errors)
        sex = f.get("sex", str, required=True)
        if sex is not None and sex not in SEXES:
            f.refuse("sex", "must be one of " + ", ".join(SEXES))
        first, last = f.get("firstName", str, True), f.get("lastName", str, True)
        email = f.get("email", str)
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            f.refuse("email", "must be an email address")
        group = f.get("groupId", str)
        f.done()
        if errors:
            return _invalid(errors)
        with self.lock:
            if email is not None and email.lower() in self.by_email:
                self.refused_duplicates[email.lower()] = \
                    self.refused_duplicates.get(email.lower(), 0) + 1
                return oxio_error(409, "ALREADY_EXISTS",
                                  f"End user with email {email} already exists")
            user = {"endUserId": str(uuid.uuid4()), "sex": sex, "firstName": first,
                    "lastName": last}
            if email is not None:
                user["email"] = email
                self.by_email[email.lower()] = user["endUserId"]
            if group is not None:
                user["groupId"] = group
            user.update(brandId=self.brand_id, createdAt=_now_iso())
            self.end_users[user["endUserId"]] = user
            return json_response(201, dict(user))

    # ---- lines ----------------------------------------------------------------------------------

    @staticmethod
    def _line_view(line: dict) -> dict:
        """The line as OXIO answers it (a copy; caller holds the lock)."""
        out = {k: v for k, v in line.items() if k != "email"}
        out["phoneNumbers"] = [dict(p) for p in line["phoneNumbers"]]
        out["sim"] = dict(line["sim"])
        return out

    def _take_fault(self, email: str | None) -> dict | None:
        """The fault this call meets (consumed), or None. Caller holds the lock."""
        key = email.lower() if email else None
        if key is not None and key in self.permanent:
            return dict(self.permanent[key], permanent=True)
        if key is not None and self.email_faults.get(key):
            f = self.email_faults[key][0]
            f["left"] -= 1
            if f["left"] <= 0:
                self.email_faults[key].pop(0)
            return f
        if self.fail_next:
            f = self.fail_next[0]
            f["left"] -= 1
            if f["left"] <= 0:
                self.fail_next.pop(0)
            return f
        if self.chaos is not None:
            rng = self.chaos["rng"]
            fails = rng.random() < self.chaos["fail_rate"]
            return {"status": self.chaos["status"] if fails else None,
                    "delay_ms": rng.uniform(0, self.chaos["max_delay_ms"])}
        return None

    def create_line(self, req: Request) -> Response:
        """POST /v3/lines/line: recorded in `calls` whatever its answer."""
        call = {"at": req.received_at or time.time(), "status": None, "end_user_id": None,
                "email": None, "line_id": None, "iccid": None, "phone_number": None,
                "preferred_area_code": None, "plan_id": None, "fault": False, "peer": req.peer}
        # What the call names, read leniently for the record (the checks come later).
        try:
            raw = json.loads(req.body) if req.body else None
        except ValueError:
            raw = None
        if isinstance(raw, dict):
            eu, pnr = raw.get("endUser"), raw.get("phoneNumberRequirements")
            if isinstance(eu, dict) and isinstance(eu.get("endUserId"), str):
                call["end_user_id"] = eu["endUserId"]
            if isinstance(pnr, dict) and isinstance(pnr.get("preferredAreaCode"), str):
                call["preferred_area_code"] = pnr["preferredAreaCode"]
            if isinstance(raw.get("planId"), str):
                call["plan_id"] = raw["planId"]
        with self.lock:
            user = self.end_users.get(call["end_user_id"] or "")
            call["email"] = user.get("email") if user else None
            self.calls.append(call)
            authorized = self._authorized(req)
            fault = self._take_fault(call["email"]) if authorized else None
        if not authorized:
            resp = self._unauthorized()
        else:
            resp = self._create_line(req, call, fault)
        with self.lock:  # the test endpoints copy calls under the lock
            call["status"] = resp.status
            call["ended_at"] = time.time()
        self.log(json.dumps({"carrier_call": "POST /v3/lines/line", "status": resp.status,
                             "end_user_id": call["end_user_id"], "line_id": call["line_id"],
                             "fault": call["fault"],
                             "ms": round((call["ended_at"] - call["at"]) * 1000, 1)}))
        return resp

    def _create_line(self, req: Request, call: dict, fault: dict | None) -> Response:
        if fault is not None:
            call["fault"] = True
            if fault.get("delay_ms"):
                time.sleep(fault["delay_ms"] / 1000)
            status = fault.get("status")
            if status is not None and not 200 <= status < 300:
                code = STATUS_CODES.get(status, "UNKNOWN")
                if fault.get("permanent"):
                    return oxio_error(status, code, "The line cannot be created for this end "
                                      "user (sandbox: permanent fault for this email).")
                return oxio_error(status, code, f"Sandbox fault: HTTP {status} (injected).")
        body = _body(req)
        if isinstance(body, Response):
            return body
        errors: list[dict] = []
        f = _Fields(body, "", errors)
        line_type = f.get("lineType", str, True)
        if line_type is not None and line_type != "LINE_TYPE_MOBILITY":
            f.refuse("lineType", "must be LINE_TYPE_MOBILITY")
        country = f.get("countryCode", str, True)
        if country is not None and country != "US":
            f.refuse("countryCode", f"country {country} is not supported (US only)")
        sim = f.get("sim", dict, True)
        if sim is not None:
            fs = _Fields(sim, "sim.", errors)
            sim_type = fs.get("simType", str, True)
            if sim_type is not None and sim_type != "EMBEDDED":
                fs.refuse("simType", "must be EMBEDDED")
            fs.done()
        end_user = f.get("endUser", dict, True)
        eid = None
        if end_user is not None:
            fe = _Fields(end_user, "endUser.", errors)
            brand = fe.get("brandId", str, True)
            if brand is not None and brand != self.brand_id:
                fe.refuse("brandId", f"unknown brand {brand}")
            eid = fe.get("endUserId", str, True)
            fe.done()
        plan = f.get("planId", str)
        if plan is not None and plan not in self.plan_ids:
            f.refuse("planId", f"unknown plan {plan}")
        f.get("groupId", str)
        pnr = f.get("phoneNumberRequirements", dict)
        area = None
        if pnr is not None:
            fp = _Fields(pnr, "phoneNumberRequirements.", errors)
            area = fp.get("preferredAreaCode", str)
            if area is not None and not re.fullmatch(r"\d{3}", area):
                fp.refuse("preferredAreaCode", "must be a 3-digit area code")
                area = None
            fp.done()
        f.get("activateOnAttach", bool)
        f.done()
        if errors:
            return _invalid(errors)
        with self.lock:
            if eid not in self.end_users:
                return _not_found(f"End user {eid}")
            if area is not None and area not in self.area_codes:
                return oxio_error(400, "FAILED_PRECONDITION",
                                  f"No numbers available in area code {area}")
            rnd = secrets.SystemRandom()
            while True:
                phone = new_phone_number(area or rnd.choice(self.area_codes))
                if phone not in self.numbers:
                    break
            iccid = new_iccid()
            while iccid in self.by_iccid:
                iccid = new_iccid()
            self.numbers.add(phone)
            lpa = f"LPA:1${SMDP_ADDRESS}${new_activation_code()}"
            line = {
                "lineId": str(uuid.uuid4()),
                "status": "ACTIVE",
                "lineType": "LINE_TYPE_MOBILITY",
                "countryCode": "US",
                "endUserId": eid,
                "planId": plan,
                "phoneNumbers": [{"phoneNumber": phone}],
                "sim": {"iccid": iccid, "simType": "EMBEDDED", "status": "ACTIVE",
                        "countryCode": "US", "activationCode": lpa,
                        "activationUrl": ACTIVATION_URL + quote(lpa, safe="")},
                "createdAt": _now_iso(),
                "email": self.end_users[eid].get("email"),  # for the test endpoints only
            }
            self.lines[line["lineId"]] = line
            self.by_iccid[iccid] = line
            call.update(line_id=line["lineId"], iccid=iccid, phone_number=phone)
            return json_response(201, self._line_view(line))

    # ---- numbers --------------------------------------------------------------------------------

    def _available_numbers(self, req: Request) -> Response:
        country, area, nxx = req.q("countryCode"), req.q("areaCode"), req.q("nxx")
        errors = []
        if not country:
            errors.append({"field": "countryCode", "message": "is required"})
        if not area:
            errors.append({"field": "areaCode", "message": "is required"})
        elif not re.fullmatch(r"\d{3}", area):
            errors.append({"field": "areaCode", "message": "must be a 3-digit area code"})
        if nxx is not None and (not re.fullmatch(r"[2-9]\d\d", nxx) or nxx[1:] == "11"):
            errors.append({"field": "nxx", "message": "must be a 3-digit exchange (NXX, not N11)"})
        limit_raw = req.q("limit", "10")
        limit = int(limit_raw) if re.fullmatch(r"\d{1,3}", limit_raw or "") else 0
        if not 1 <= limit <= 100:
            errors.append({"field": "limit", "message": "must be an integer from 1 to 100"})
        if errors:
            return _invalid(errors)
        if country != "US" or area not in self.area_codes:
            return json_response(200, {"phoneNumbers": []})
        out: list[str] = []
        with self.lock:
            for _ in range(limit * 20):
                if len(out) >= limit:
                    break
                n = new_phone_number(area, nxx)
                if n not in self.numbers and n not in out:
                    out.append(n)
        return json_response(200, {"phoneNumbers": [{"phoneNumber": n} for n in out]})

    # ---- subscriptions (the data booster; unconfirmed) -----------------------------------------

    def _subscribe(self, req: Request) -> Response:
        body = _body(req)
        if isinstance(body, Response):
            return body
        errors: list[dict] = []
        f = _Fields(body, "", errors)
        eid = f.get("endUserId", str, True)
        plan = f.get("planId", str, True)
        if plan is not None and plan not in self.plan_ids:
            f.refuse("planId", f"unknown plan {plan}")
        f.done()
        if errors:
            return _invalid(errors)
        with self.lock:
            if eid not in self.end_users:
                return _not_found(f"End user {eid}")
            sid = str(uuid.uuid4())
            sub = {"subscriptionId": sid, "id": sid, "endUserId": eid, "planId": plan,
                   "status": "ACTIVE", "createdAt": _now_iso()}
            self.subscriptions.append(dict(sub, email=self.end_users[eid].get("email")))
        return json_response(201, sub)

    # ---- line services (not OXIO): data top-ups, features, usage ------------------------------

    def _state(self, iccid: str) -> dict:
        """A line's usage state (caller holds the lock)."""
        return self.line_state.setdefault(iccid, {"balance_mb": 0, "features": set(),
                                                  "topups": {},  # reference -> top-up
                                                  "used_mb": 0})

    @staticmethod
    def _topup_view(t: dict) -> dict:
        return {k: t[k] for k in ("topup_id", "amount_mb", "reference", "reversed",
                                  "reversed_mb", "created_at", "reversed_at")}

    def _usage(self, iccid: str) -> dict:
        st = self._state(iccid)
        return {"data_balance_mb": st["balance_mb"], "features": sorted(st["features"]),
                "topups": [self._topup_view(t) for t in st["topups"].values()]}

    def _boosters_mb(self, iccid: str) -> int:
        """The booster subscriptions' data, on the end user's first line (caller holds the lock)."""
        if self.booster_plan is None:
            return 0
        line = self.by_iccid[iccid]
        eid = line["endUserId"]
        first = next(ln for ln in self.lines.values() if ln["endUserId"] == eid)
        if first is not line:
            return 0
        return BOOSTER_MB * sum(s["endUserId"] == eid and s["planId"] == self.booster_plan
                                for s in self.subscriptions)

    def _total_mb(self, iccid: str) -> int:
        """The plan's data plus the net top-ups and boosters (caller holds the lock)."""
        return PLAN_MB + self._boosters_mb(iccid) + sum(
            t["amount_mb"] - t["reversed_mb"] for t in self._state(iccid)["topups"].values())

    def _data_usage(self, iccid: str) -> dict:
        """The usage object (caller holds the lock)."""
        total, used = self._total_mb(iccid), self._state(iccid)["used_mb"]
        return {"iccid": iccid, "status": "ACTIVE", "data_total_mb": total,
                "data_used_mb": used, "data_remaining_mb": max(total - used, 0),
                "valid_until": _iso_plus_days(self.by_iccid[iccid]["createdAt"], VALID_DAYS),
                "as_of": _now_iso()}

    def _consume(self, req: Request, iccid: str) -> Response:
        with self.lock:
            if iccid not in self.by_iccid:
                return _line_not_found(iccid)
        try:
            body = req.json()
        except BadRequest as e:
            return _error(400, "invalid_request", str(e))
        mb, percent = body.get("mb"), body.get("percent")
        if mb is None and percent is None:
            return _field_error("mb", "Send exactly one of `mb` (an integer) or `percent`.")
        if mb is not None and percent is not None:
            return _field_error("percent", "Send exactly one of `mb` or `percent`, not both.")
        if mb is not None and (not isinstance(mb, int) or isinstance(mb, bool) or mb <= 0):
            return _field_error("mb", "`mb` must be a positive integer (MB).")
        if percent is not None and (not isinstance(percent, (int, float))
                                    or isinstance(percent, bool) or not math.isfinite(percent)
                                    or percent <= 0):
            return _field_error("percent", "`percent` must be a positive number (of the "
                                           "line's current data_total_mb).")
        with self.lock:
            st, total = self._state(iccid), self._total_mb(iccid)
            if percent is not None:  # exact decimal arithmetic: 75 % of 1024 is 768, not 769
                mb = math.ceil(Fraction(Decimal(repr(percent))) * total / 100)
            if st["used_mb"] < total:
                st["used_mb"] = min(st["used_mb"] + mb, total)
            return json_response(200, self._data_usage(iccid))

    def _line_service_call(self, req: Request, rest: list[str]) -> Response:
        """Every /__sandbox/carrier/line-services/... call, recorded (line-calls) whatever its
        answer. `rest` is the path after line-services/."""
        text = req.body.decode("utf-8", "replace")
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text[:4000]
        call = {"at": req.received_at or time.time(), "method": req.method, "path": req.path,
                "iccid": unquote(rest[0]) if rest else None,
                "idempotency_key": req.headers.get("idempotency-key"), "body": body,
                "status": None, "replayed": False}
        with self.lock:
            self.line_calls.append(call)
        if self._authorized(req):
            resp = self._line_services(req, rest)
        else:
            resp = _error(401, "unauthorized", "Missing or invalid Basic credentials "
                                               "(the OXIO API key and auth token).")
        call["status"] = resp.status
        call["replayed"] = resp.headers.get("Idempotent-Replayed") == "true"
        return resp

    def _line_services(self, req: Request, rest: list[str]) -> Response:
        m = req.method
        match [unquote(p) for p in rest]:
            case [iccid] if m == "GET":
                with self.lock:
                    line = self.by_iccid.get(iccid)
                    if line is None:
                        return _line_not_found(iccid)
                    return json_response(200, {
                        "iccid": iccid, "phone_number": line["phoneNumbers"][0]["phoneNumber"],
                        "status": "active", **self._usage(iccid)})
            case [iccid, "usage"] if m == "GET":
                with self.lock:
                    if iccid not in self.by_iccid:
                        return _line_not_found(iccid)
                    return json_response(200, self._data_usage(iccid))
            case [iccid, "data"] if m == "POST":
                return self._topup(req, iccid)
            case [iccid, "data", reference] if m == "DELETE":
                return self._reverse(iccid, reference)
            case [iccid, "features", feature] if m in ("PUT", "DELETE"):
                with self.lock:
                    if iccid not in self.by_iccid:
                        return _line_not_found(iccid)
                    if feature not in FEATURES:
                        return _error(400, "unknown_feature",
                                      f"Unknown feature `{feature}`; one of: "
                                      + ", ".join(FEATURES) + ".")
                    features = self._state(iccid)["features"]
                    if m == "PUT":
                        features.add(feature)
                    else:
                        features.discard(feature)
                return json_response(200, {"iccid": iccid, "feature": feature,
                                           "enabled": m == "PUT"})
        return _error(404, "not_found", f"No endpoint {m} {req.path}.")

    def _topup(self, req: Request, iccid: str) -> Response:
        with self.lock:
            if iccid not in self.by_iccid:
                return _line_not_found(iccid)
        key = req.headers.get("idempotency-key")
        if not key:
            return _error(400, "idempotency_key_required",
                          "The Idempotency-Key header is required for a top-up.")
        try:
            body = req.json()
        except BadRequest as e:
            return _error(400, "invalid_request", str(e))
        amount, reference = body.get("amount_mb"), body.get("reference")
        if not isinstance(amount, int) or isinstance(amount, bool) \
                or not 0 < amount <= MAX_TOPUP_MB:
            return _field_error("amount_mb",
                                f"`amount_mb` must be an integer from 1 to {MAX_TOPUP_MB}.")
        if not isinstance(reference, str) or not reference.strip() or len(reference) > 200:
            return _field_error("reference", "`reference` is required: a non-empty string of "
                                             "at most 200 characters.")
        fingerprint = [iccid, amount, reference]
        with self.lock:
            saved = self.topup_keys.get(key)
            if saved is not None:
                if saved["fingerprint"] != fingerprint:
                    return _error(409, "idempotency_conflict",
                                  f"Idempotency-Key '{key}' was first used for another top-up "
                                  "(line, amount_mb or reference).")
                return json_response(200, saved["body"], {"Idempotent-Replayed": "true"})
            st = self._state(iccid)
            if reference in st["topups"]:
                return _error(409, "duplicate_reference",
                              f"Reference '{reference}' was already used by top-up "
                              f"{st['topups'][reference]['topup_id']} on this line.")
            st["balance_mb"] += amount
            t = {"topup_id": f"top_{uuid.uuid4().hex[:20]}", "amount_mb": amount,
                 "reference": reference, "reversed": False, "reversed_mb": 0,
                 "created_at": _now_iso(), "reversed_at": None, "reversal": None}
            st["topups"][reference] = t
            out = {"topup_id": t["topup_id"], "iccid": iccid, "amount_mb": amount,
                   "reference": reference, "balance_mb": st["balance_mb"], "reversed": False,
                   "created_at": t["created_at"]}
            self.topup_keys[key] = {"fingerprint": fingerprint, "body": out}
        return json_response(201, out)

    def _reverse(self, iccid: str, reference: str) -> Response:
        with self.lock:
            if iccid not in self.by_iccid:
                return _line_not_found(iccid)
            st = self._state(iccid)
            t = st["topups"].get(reference)
            if t is None:
                return _error(404, "topup_not_found",
                              f"No top-up with reference '{reference}' on line {iccid}.")
            if t["reversed"]:
                return json_response(200, t["reversal"], {"Idempotent-Replayed": "true"})
            taken = min(t["amount_mb"], st["balance_mb"])
            st["balance_mb"] -= taken
            t.update(reversed=True, reversed_mb=taken, reversed_at=_now_iso())
            t["reversal"] = {"topup_id": t["topup_id"], "iccid": iccid,
                             "amount_mb": t["amount_mb"], "reference": reference,
                             "balance_mb": st["balance_mb"], "reversed": True,
                             "reversed_mb": taken, "created_at": t["created_at"],
                             "reversed_at": t["reversed_at"]}
            return json_response(200, t["reversal"])

    # ---- test endpoints -------------------------------------------------------------------

    def handle_sandbox(self, req: Request, parts: list[str]) -> Response:
        if parts and parts[0] == LINE_SERVICES:
            return self._line_service_call(req, parts[1:])
        try:
            match parts:
                case ["calls"] if req.method == "GET":
                    email = (req.q("email") or "").lower() or None
                    with self.lock:
                        calls = [dict(c) for c in self.calls
                                 if email is None or (c["email"] or "").lower() == email]
                    return json_response(200, {"calls": calls})
                case ["lines"] if req.method == "GET":
                    email = (req.q("email") or "").lower() or None
                    with self.lock:
                        lines = [dict(self._line_view(ln), email=ln["email"],
                                      **self._usage(ln["sim"]["iccid"]),
                                      usage=self._data_usage(ln["sim"]["iccid"]))
                                 for ln in self.lines.values()
                                 if email is None or (ln["email"] or "").lower() == email]
                    return json_response(200, {"lines": lines})
                case ["end-users"] if req.method == "GET":
                    with self.lock:
                        users = [dict(u, refused_duplicates=self.refused_duplicates.get(
                                     (u.get("email") or "").lower(), 0))
                                 for u in self.end_users.values()]
                    return json_response(200, {"end_users": users})
                case ["subscriptions"] if req.method == "GET":
                    with self.lock:
                        return json_response(200, {"subscriptions":
                                                   [dict(s) for s in self.subscriptions]})
                case ["lines", iccid, "consume"] if req.method == "POST":
                    return self._consume(req, unquote(iccid))
                case ["line-calls"] if req.method == "GET":
                    iccid = req.q("iccid")
                    with self.lock:
                        data = [dict(c) for c in self.line_calls
                                if iccid is None or c["iccid"] == iccid]
                    return json_response(200, {"data": data})
                case ["faults"] if req.method == "POST":
                    return self._arm(req.json())
                case ["faults"] if req.method == "GET":
                    with self.lock:
                        return json_response(200, self._faults_view())
                case ["faults"] if req.method == "DELETE":
                    with self.lock:
                        self.fail_next, self.email_faults, self.permanent = [], {}, {}
                        self.chaos = None
                        return json_response(200, self._faults_view())
        except BadRequest as e:
            return json_response(400, {"error": str(e)})
        return json_response(404, {"error": f"no endpoint {req.method} {req.path}"})

    def _faults_view(self) -> dict:
        return {"fail_next": [dict(f) for f in self.fail_next],
                "emails": {k: [dict(f) for f in v] for k, v in self.email_faults.items() if v},
                "permanent": {k: dict(v) for k, v in self.permanent.items()},
                "chaos": None if self.chaos is None
                else {k: v for k, v in self.chaos.items() if k != "rng"}}

    def _arm_chaos(self, chaos) -> Response:
        if not isinstance(chaos, dict):
            raise BadRequest("`chaos` must be an object {fail_rate, status, max_delay_ms, seed?}")
        rate, status = chaos.get("fail_rate", 0.1), chaos.get("status", 503)
        delay, seed = chaos.get("max_delay_ms", 0), chaos.get("seed")
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise BadRequest("`chaos.fail_rate` must be a number from 0 to 1")
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise BadRequest("`chaos.status` must be an HTTP status (100-599)")
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise BadRequest("`chaos.max_delay_ms` must be a non-negative number")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise BadRequest("`chaos.seed` must be an integer")
        with self.lock:
            self.chaos = {"fail_rate": rate, "status": status, "max_delay_ms": delay,
                          "seed": seed, "rng": random.Random(seed)}
            return json_response(200, self._faults_view())

    def _arm(self, body: dict) -> Response:
        if "chaos" in body:
            return self._arm_chaos(body["chaos"])
        if "keys" in body:
            raise BadRequest("`keys` is gone (OXIO has no idempotency key): arm faults by the "
                             "end user's `emails`")
        permanent = body.get("permanent", False)
        emails = body.get("emails")
        if not isinstance(permanent, bool):
            raise BadRequest("`permanent` must be a boolean")
        if emails is not None and (not isinstance(emails, list)
                                   or not all(isinstance(e, str) and e for e in emails)):
            raise BadRequest("`emails` must be a list of end users' emails")
        status = body.get("status", 422 if permanent else 503)
        if status is not None and (not isinstance(status, int) or isinstance(status, bool)
                                   or not 100 <= status <= 599):
            raise BadRequest("`status` must be an HTTP status (100-599) or null")
        delay_ms = body.get("delay_ms", 0)
        if not isinstance(delay_ms, (int, float)) or isinstance(delay_ms, bool) or delay_ms < 0:
            raise BadRequest("`delay_ms` must be a non-negative number")
        fail_next = body.get("fail_next", 1)
        if not isinstance(fail_next, int) or isinstance(fail_next, bool) or fail_next < 0:
            raise BadRequest("`fail_next` must be a non-negative integer")
        with self.lock:
            if permanent:
                if not emails:
                    raise BadRequest("`permanent: true` needs `emails`")
                for e in emails:
                    self.permanent[e.lower()] = {"status": status, "delay_ms": delay_ms}
            elif fail_next:
                if emails:
                    for e in emails:
                        self.email_faults.setdefault(e.lower(), []).append(
                            {"left": fail_next, "status": status, "delay_ms": delay_ms})
                else:
                    self.fail_next.append({"left": fail_next, "status": status,
                                           "delay_ms": delay_ms})
            return json_response(200, self._faults_view())
