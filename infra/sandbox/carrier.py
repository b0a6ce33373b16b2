"""The carrier (OXIO-style REST) that DOTM's carrier adapter calls, plus the sandbox's test endpoints.

    POST /v1/activations          Authorization: Bearer <oxio key>, Idempotency-Key: <purchase id>
         {"customer_ref": "<uid>", "plan": "esim_beta", "iccid_hint"?: "...",
          "phone_number"?: "+1NXXNXXXXXX"}
      -> 201 {"activation_id", "status": "active", "phone_number": "+1NXXNXXXXXX", "iccid": "89...",
              "smdp_address": "smdp.sandbox.oxio.local", "activation_code", "customer_ref", "plan",
              "created_at"}
         The same key always answers the same line (200, `Idempotent-Replayed: true`) and never
         makes a second one; the same key with another customer_ref/plan/phone_number is a 409
         `idempotency_conflict`.
         Without `phone_number` the carrier picks a free number. With it, the line gets exactly
         that number, which must be a NANP number in E.164: +1, then an area code and an exchange
         that each start 2-9 and neither is an N11 code (211..911), and not the fictional
         555-0100..555-0199; otherwise a 400 `invalid_phone_number`. A number another line
         (another idempotency key) already has is a 409 `number_taken` (no line is made).
         A call while another with the same key is still being worked on is a 409
         `activation_in_progress` (nothing is made; look it up, or call again later).
    GET  /v1/activations/{activation_id}
    GET  /v1/activations?idempotency_key=<purchase id>
      -> 200 {"data": [the activation made with that key]} (empty when none): how a client
         whose call may have reached the carrier (a timeout, a crash) finds out, without
         activating again. Not recorded in `calls` (it activates nothing).

A line made by an activation is then addressed by its ICCID (same Bearer auth):

    GET    /v1/lines/{iccid}
      -> 200 {"iccid", "phone_number", "status": "active", "data_balance_mb", "features":
              [enabled names, sorted], "topups": [{"topup_id", "amount_mb", "reference",
              "reversed", "reversed_mb", "created_at", "reversed_at"}]}
    POST   /v1/lines/{iccid}/data     Idempotency-Key: <key>
           {"amount_mb": 1..1048576, "reference": "<= 200 chars"}
      -> 201 {"topup_id", "iccid", "amount_mb", "reference", "balance_mb" (after it),
              "reversed": false, "created_at"}
         The same key answers the same top-up again (200, `Idempotent-Replayed: true`) and never
         adds twice; the same key with another line/amount/reference is a 409
         `idempotency_conflict`; a reference is one top-up per line (another key with a used
         reference is a 409 `duplicate_reference`). A bad body is a 400 naming the field
         (`error.field`).
    DELETE /v1/lines/{iccid}/data/{reference}
      -> 200 the top-up with "reversed": true, "reversed_at", "balance_mb" (after it): the
         balance goes down by its amount, never below 0 (`reversed_mb` says by how much). Again:
         the same answer (200, `Idempotent-Replayed: true`), nothing changes. Unknown: 404
         `topup_not_found`.
    PUT    /v1/lines/{iccid}/features/{feature}  -> 200 {"iccid", "feature", "enabled": true}
    DELETE /v1/lines/{iccid}/features/{feature}  -> 200 {"iccid", "feature", "enabled": false}
         Both idempotent. Features: network_security, vpn_access, priority_routing,
         network_monitoring, performance_optimization; others are a 400 `unknown_feature`.
    GET    /v1/lines/{iccid}/usage
      -> 200 {"iccid", "status": "ACTIVE", "data_total_mb", "data_used_mb", "data_remaining_mb",
              "valid_until" (the line's created_at + 30 days), "as_of" (now)}, times RFC 3339
         UTC (`2025-01-31T12:00:00Z`). data_total_mb = the plan's 1024 MB (PLAN_MB, every line)
         + the line's net top-ups (each amount_mb minus its reversed_mb); data_remaining_mb =
         max(total - used, 0) (a reversal can take the total below what was already used).
         Nothing is used until a test consumes data (POST .../consume below). data_balance_mb
         (GET /v1/lines/{iccid}, the top-ups' balance_mb) keeps its meaning: top-ups only.
    An unknown ICCID is a 404 `line_not_found`. Faults (below) apply to activations only.

Errors are `{"error": {"code", "message"}}`. Test endpoints (under /__sandbox/carrier/):

    GET  calls[?key=]     every POST /v1/activations: `at` (unix seconds, taken when the request
                          arrived), `ended_at`, idempotency_key, status, replayed, fault,
                          activation_id, customer_ref, requested_number (the `phone_number` the
                          call asked for, null when it asked for none), peer (the caller's
                          address:port, so a test can tell which process is calling)
    GET  lines[?key=]     the lines made, one per idempotency key, in creation order, each
                          with data_balance_mb, features, topups and `usage` (the usage object)
    GET  line-calls[?iccid=]  every /v1/lines/... call (usage reads too, so tests can count
                          how often the carrier was asked): {"data": [{at, method, path, iccid,
                          idempotency_key, body (the JSON sent, or its text), status, replayed}]}
    POST lines/{iccid}/consume {"mb": N} | {"percent": P}
                          the line uses data: N MB (a positive integer), or P % (a positive
                          number) of its current data_total_mb, rounded up to a whole MB;
                          data_used_mb never goes above the total (and never down). Exactly one
                          of the two. -> 200 the usage object (as GET /v1/lines/{iccid}/usage);
                          not recorded in line-calls. Unknown ICCID: 404 `line_not_found`; a bad
                          body: 400 `invalid_parameter` naming the field (`error.field`).
    POST faults {fail_next: N, status: 503, delay_ms: 0, keys?: [...], permanent?: false}
                          the next N calls (with `keys`: the next N calls of each of those keys)
                          wait delay_ms, then fail with `status` (JSON error body); a `status` of
                          null or 2xx only delays. `permanent: true` (needs `keys`) fails those keys
                          on every call from now on (default status 422: the carrier rejects the
                          job for good). Faults are consumed per call; a failed call makes no line.
    POST faults {chaos: {fail_rate: 0.1, status: 503, max_delay_ms: 300, seed?: 1}}
                          from now on every call waits a random 0..max_delay_ms and fails
                          with `status` with probability fail_rate (after the other faults)
    GET  faults           what is still armed
    DELETE faults         disarm everything
"""

from __future__ import annotations

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
from urllib.parse import unquote

from common import BadRequest, Request, Response, json_response

SMDP_ADDRESS = "smdp.sandbox.oxio.local"
FEATURES = ("network_security", "vpn_access", "priority_routing", "network_monitoring",
            "performance_optimization")
MAX_TOPUP_MB = 1048576  # 1 TiB of data in one top-up
PLAN_MB = 1024  # the data every line comes with (its plan), before any top-up
VALID_DAYS = 30  # a line's data is valid for this long from the line's creation


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


def new_phone_number() -> str:
    """A valid-looking North American number: +1 NXX NXX XXXX, neither part an N11 code, and
    never 555 (the fictional exchange) or 9xx area codes (unassigned/special)."""
    rnd = secrets.SystemRandom()
    while True:
        area = f"{rnd.randint(2, 8)}{rnd.randint(0, 9)}{rnd.randint(0, 9)}"
        exch = f"{rnd.randint(2, 9)}{rnd.randint(0, 9)}{rnd.randint(0, 9)}"
        if area[1:] == "11" or exch[1:] == "11" or exch == "555" or area[1] == "9":
            continue
        return f"+1{area}{exch}{rnd.randint(0, 9999):04d}"


NANP_E164 = re.compile(r"\+1([2-9]\d\d)([2-9]\d\d)(\d{4})")


def phone_number_problem(number: object) -> str | None:
    """Why `number` is not a usable NANP number in E.164 (+1 NXX NXX XXXX), or None if it is."""
    if not isinstance(number, str):
        return "`phone_number` must be a string in E.164 form: +1NXXNXXXXXX."
    m = NANP_E164.fullmatch(number)
    if m is None:
        return ("`phone_number` must be a NANP number in E.164 form: +1, a 3-digit area code and a "
                "3-digit exchange that each start with 2-9, and 4 digits.")
    area, exch, line = m.groups()
    if area[1:] == "11":
        return f"`phone_number` area code {area} is an N11 service code."
    if exch[1:] == "11":
        return f"`phone_number` exchange {exch} is an N11 service code."
    if exch == "555" and 100 <= int(line) <= 199:
        return f"`phone_number` 555-{line} is in the fictional range 555-0100..555-0199."
    return None


def new_iccid() -> str:
    """19 digits: 89 (telecom) + 1 (country code) + 15 digits + Luhn check digit."""
    body = "891" + "".join(str(secrets.randbelow(10)) for _ in range(15))
    return body + luhn_digit(body)


def new_activation_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    groups = ["".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4)]
    return "-".join(groups)


class Carrier:
    def __init__(self, api_key: str, log=print):
        self.api_key = api_key
        self.log = log
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.lines: dict[str, dict] = {}  # idempotency key -> line
            self.by_id: dict[str, dict] = {}
            self.calls: list[dict] = []
            self.fail_next: list[dict] = []  # [{left, status, delay_ms}] for any call, in order
            self.key_faults: dict[str, list[dict]] = {}  # key -> [{left, status, delay_ms}]
            self.permanent: dict[str, dict] = {}  # key -> {status, delay_ms}
            self.chaos: dict | None = None  # {fail_rate, status, max_delay_ms, rng}
            self.in_flight: set[str] = set()  # keys whose call is being worked on
            self.numbers: set[str] = set()
            self.by_iccid: dict[str, dict] = {}  # iccid -> line
            self.line_state: dict[str, dict] = {}  # iccid -> {balance_mb, features, topups}
            self.topup_keys: dict[str, dict] = {}  # Idempotency-Key -> {fingerprint, body}
            self.line_calls: list[dict] = []

    # ---- the API --------------------------------------------------------------------------

    def _auth(self, req: Request) -> Response | None:
        auth = req.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not key:
            return _error(401, "unauthorized", "Missing bearer token in the Authorization header.")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return _error(401, "unauthorized", "Invalid API key.")
        return None

    def handle_api(self, req: Request) -> Response:
        parts = req.path.strip("/").split("/")[1:]  # after "v1"
        if parts and parts[0] == "lines":
            return self._line_call(req, parts)  # recorded even when unauthorized
        denied = self._auth(req)
        if denied is not None:
            return denied
        match parts:
            case ["activations"] if req.method == "POST":
                return self.activate(req)
            case ["activations"] if req.method == "GET":
                key = req.q("idempotency_key")
                if not key:
                    return _error(400, "invalid_parameter", "`idempotency_key` is required.")
                with self.lock:
                    line = self.lines.get(key)
                return json_response(200, {"data": [self._view(line)] if line else []})
            case ["activations", aid] if req.method == "GET":
                with self.lock:
                    line = self.by_id.get(aid)
                if line is None:
                    return _error(404, "not_found", f"No activation {aid}.")
                return json_response(200, self._view(line))
        return _error(404, "not_found", f"No endpoint {req.method} {req.path}.")

    @staticmethod
    def _view(line: dict) -> dict:
        return {k: v for k, v in line.items() if k not in ("idempotency_key", "requested_number")}

    def _take_fault(self, key: str | None) -> dict | None:
        """The fault this call meets (consumed), or None. Caller holds the lock."""
        if key is not None and key in self.permanent:
            return dict(self.permanent[key], permanent=True)
        if key is not None and self.key_faults.get(key):
            f = self.key_faults[key][0]
            f["left"] -= 1
            if f["left"] <= 0:
                self.key_faults[key].pop(0)
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

    def activate(self, req: Request) -> Response:
        started = req.received_at or time.time()
        key = req.headers.get("idempotency-key")
        call = {"at": started, "idempotency_key": key, "status": None, "replayed": False,
                "fault": False, "activation_id": None, "customer_ref": None,
                "requested_number": None, "peer": req.peer}
        with self.lock:
            self.calls.append(call)
            busy = key is not None and key in self.in_flight
            if not busy and key is not None:
                self.in_flight.add(key)
            fault = None if busy else self._take_fault(key)
        if busy:
            resp = _error(409, "activation_in_progress",
                          f"An activation with Idempotency-Key '{key}' is still in progress.")
        else:
            try:
                resp = self._activate(req, key, call, fault)
            except BadRequest as e:
                resp = _error(400, "invalid_request", str(e))
            finally:
                if key is not None:
                    with self.lock:
                        self.in_flight.discard(key)
        call["status"] = resp.status
        call["ended_at"] = time.time()
        return resp

    def _activate(self, req: Request, key: str | None, call: dict, fault: dict | None) -> Response:
        if fault is not None:
            call["fault"] = True
            if fault.get("delay_ms"):
                time.sleep(fault["delay_ms"] / 1000)
            status = fault.get("status")
            if status is not None and not 200 <= status < 300:
                if fault.get("permanent"):
                    return _error(status, "activation_rejected",
                                  "The carrier rejected this activation (sandbox: permanent "
                                  "fault for this idempotency key).")
                return _error(status, "service_unavailable" if status >= 500 else "fault",
                              f"Sandbox fault: HTTP {status} (injected).")
        if not key:
            return _error(400, "idempotency_key_required",
                          "The Idempotency-Key header is required for POST /v1/activations.")
        body = req.json()
        customer_ref, plan = body.get("customer_ref"), body.get("plan")
        for name, v in (("customer_ref", customer_ref), ("plan", plan)):
            if not isinstance(v, str) or not v:
                return _error(422, "invalid_parameter", f"`{name}` is required (a non-empty string).")
        hint = body.get("iccid_hint")
        if hint is not None and not isinstance(hint, str):
            return _error(422, "invalid_parameter", "`iccid_hint` must be a string.")
        call["customer_ref"] = customer_ref
        requested = body.get("phone_number")
        if requested is not None:
            call["requested_number"] = requested
            problem = phone_number_problem(requested)
            if problem is not None:
                return _error(400, "invalid_phone_number", problem)
        with self.lock:
            line = self.lines.get(key)
            if line is not None:
                if (line["customer_ref"], line["plan"], line["requested_number"]) \
                        != (customer_ref, plan, requested):
                    return _error(409, "idempotency_conflict",
                                  f"Idempotency-Key '{key}' was first used for another "
                                  "customer_ref/plan/phone_number.")
                call["replayed"] = True
                call["activation_id"] = line["activation_id"]
                return json_response(200, self._view(line), {"Idempotent-Replayed": "true"})
            if requested is not None:
                if requested in self.numbers:
                    return _error(409, "number_taken",
                                  f"{requested} is already the number of another line.")
                phone = requested
            else:
                phone = new_phone_number()
                while phone in self.numbers:
                    phone = new_phone_number()
            self.numbers.add(phone)
            line = {
                "activation_id": f"act_{uuid.uuid4().hex[:20]}",
                "status": "active",
                "phone_number": phone,
                "iccid": new_iccid(),
                "smdp_address": SMDP_ADDRESS,
                "activation_code": new_activation_code(),
                "customer_ref": customer_ref,
                "plan": plan,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "idempotency_key": key,
                "requested_number": requested,
            }
            self.lines[key] = line
            self.by_id[line["activation_id"]] = line
            self.by_iccid[line["iccid"]] = line
            call["activation_id"] = line["activation_id"]
        return json_response(201, self._view(line))

    # ---- lines: data top-ups and features --------------------------------------------------

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

    def _total_mb(self, iccid: str) -> int:
        """The plan's data plus the net top-ups (caller holds the lock)."""
        return PLAN_MB + sum(t["amount_mb"] - t["reversed_mb"]
                             for t in self._state(iccid)["topups"].values())

    def _data_usage(self, iccid: str) -> dict:
        """GET /v1/lines/{iccid}/usage's answer (caller holds the lock)."""
        total, used = self._total_mb(iccid), self._state(iccid)["used_mb"]
        return {"iccid": iccid, "status": "ACTIVE", "data_total_mb": total,
                "data_used_mb": used, "data_remaining_mb": max(total - used, 0),
                "valid_until": _iso_plus_days(self.by_iccid[iccid]["created_at"], VALID_DAYS),
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

    def _line_call(self, req: Request, parts: list[str]) -> Response:
        """Every /v1/lines/... call, recorded (line-calls) whatever its answer."""
        text = req.body.decode("utf-8", "replace")
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text[:4000]
        call = {"at": req.received_at or time.time(), "method": req.method, "path": req.path,
                "iccid": parts[1] if len(parts) > 1 else None,
                "idempotency_key": req.headers.get("idempotency-key"), "body": body,
                "status": None, "replayed": False}
        with self.lock:
            self.line_calls.append(call)
        resp = self._auth(req) or self._lines(req, parts)
        call["status"] = resp.status
        call["replayed"] = resp.headers.get("Idempotent-Replayed") == "true"
        return resp

    def _lines(self, req: Request, parts: list[str]) -> Response:
        m = req.method
        match parts:
            case ["lines", iccid] if m == "GET":
                with self.lock:
                    line = self.by_iccid.get(iccid)
                    if line is None:
                        return _line_not_found(iccid)
                    return json_response(200, {"iccid": iccid,
                                               "phone_number": line["phone_number"],
                                               "status": "active", **self._usage(iccid)})
            case ["lines", iccid, "usage"] if m == "GET":
                with self.lock:
                    if iccid not in self.by_iccid:
                        return _line_not_found(iccid)
                    return json_response(200, self._data_usage(iccid))
            case ["lines", iccid, "data"] if m == "POST":
                return self._topup(req, iccid)
            case ["lines", iccid, "data", reference] if m == "DELETE":
                return self._reverse(iccid, unquote(reference))
            case ["lines", iccid, "features", feature] if m in ("PUT", "DELETE"):
                feature = unquote(feature)
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
        try:
            match parts:
                case ["calls"] if req.method == "GET":
                    key = req.q("key")
                    with self.lock:
                        calls = [dict(c) for c in self.calls
                                 if key is None or c["idempotency_key"] == key]
                    return json_response(200, {"calls": calls})
                case ["lines"] if req.method == "GET":
                    key = req.q("key")
                    with self.lock:
                        lines = [dict({k: v for k, v in ln.items() if k != "requested_number"},
                                      **self._usage(ln["iccid"]),
                                      usage=self._data_usage(ln["iccid"]))
                                 for ln in self.lines.values()
                                 if key is None or ln["idempotency_key"] == key]
                    return json_response(200, {"lines": lines})
                case ["lines", iccid, "consume"] if req.method == "POST":
                    return self._consume(req, iccid)
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
                        self.fail_next, self.key_faults, self.permanent = [], {}, {}
                        self.chaos = None
                        return json_response(200, self._faults_view())
        except BadRequest as e:
            return json_response(400, {"error": str(e)})
        return json_response(404, {"error": f"no endpoint {req.method} {req.path}"})

    def _faults_view(self) -> dict:
        return {"fail_next": [dict(f) for f in self.fail_next],
                "keys": {k: [dict(f) for f in v] for k, v in self.key_faults.items() if v},
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
        permanent = body.get("permanent", False)
        keys = body.get("keys")
        if not isinstance(permanent, bool):
            raise BadRequest("`permanent` must be a boolean")
        if keys is not None and (not isinstance(keys, list)
                                 or not all(isinstance(k, str) and k for k in keys)):
            raise BadRequest("`keys` must be a list of idempotency keys (purchase ids)")
        status = body.get("status", 422 if permanent else 503)
        if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
            raise BadRequest("`status` must be an HTTP status (100-599) or null")
        delay_ms = body.get("delay_ms", 0)
        if not isinstance(delay_ms, (int, float)) or delay_ms < 0:
            raise BadRequest("`delay_ms` must be a non-negative number")
        fail_next = body.get("fail_next", 1)
        if not isinstance(fail_next, int) or isinstance(fail_next, bool) or fail_next < 0:
            raise BadRequest("`fail_next` must be a non-negative integer")
        with self.lock:
            if permanent:
                if not keys:
                    raise BadRequest("`permanent: true` needs `keys`")
                for k in keys:
                    self.permanent[k] = {"status": status, "delay_ms": delay_ms}
            elif fail_next:
                if keys:
                    for k in keys:
                        self.key_faults.setdefault(k, []).append(
                            {"left": fail_next, "status": status, "delay_ms": delay_ms})
                else:
                    self.fail_next.append({"left": fail_next, "status": status,
                                           "delay_ms": delay_ms})
            return json_response(200, self._faults_view())
