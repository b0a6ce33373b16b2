"""The provider sandbox's carrier, OXIO-shaped (infra/sandbox/carrier.py; the contract the Rust
carrier adapter speaks): end users, lines (`POST /v3/lines/line`, no idempotency key, as at OXIO),
SIMs, numbers and the data booster subscription, strictly (what OXIO would refuse, it refuses);
the test hooks (call log, faults by email, chaos); and the sandbox's own, non-OXIO line services
(top-ups, reversals, features, usage by ICCID). Faults and reset change shared state, so these
tests run against a sandbox of their own (same code as the stack's, started here with its own
credentials, brand, plans and area codes); two tests check the stack's sandbox and secret."""

from __future__ import annotations

import base64
import calendar
import concurrent.futures
import os
import re
import time
import uuid
from urllib.parse import quote

import httpx
import pytest

from private_sandbox import PrivateSandbox

KEY = "oxio_key_private"
TOKEN = "oxio_token_private"
BRAND = "0b8e5f4a-1c2d-4e3f-8a9b-7c6d5e4f3a2b"
PLANS = ("plan-esim", "plan-beta", "plan-booster")
AREA_CODES = ("212", "415", "718")
BASIC = "Basic " + base64.b64encode(f"{KEY}:{TOKEN}".encode()).decode()
PLAN_MB, BOOSTER_MB = 1024, 10240

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
NANP = re.compile(r"\+1([2-9]\d\d)([2-9]\d\d)(\d{4})")
LPA = re.compile(r"LPA:1\$smdp\.sandbox\.oxio\.local\$[A-Z0-9-]{8,}")
UNAUTHORIZED = {"message": "Unauthorized", "error": "UNAUTHENTICATED"}
NOT_FOUND = {"message": "Not Found", "error": "NOT_FOUND"}


@pytest.fixture(scope="module")
def sbx():
    s = PrivateSandbox("--oxio-key", KEY, "--oxio-token", TOKEN, "--oxio-brand", BRAND,
                       "--oxio-plans", ",".join(PLANS), "--oxio-area-codes", ",".join(AREA_CODES))
    yield s
    s.close()


# A connection per request: the sandbox writes a keep-alive answer's headers and body in two
# sends, which Nagle's algorithm and the client's delayed ACK hold ~40 ms each time.
ONE_SHOT = httpx.Limits(max_keepalive_connections=0)


@pytest.fixture
def carrier(sbx):
    with httpx.Client(base_url=sbx.url, timeout=30, headers={"Authorization": BASIC},
                      limits=ONE_SHOT) as c:
        c.delete("/__sandbox/carrier/faults").raise_for_status()
        yield c


def new_email() -> str:
    return f"buyer-{uuid.uuid4().hex[:12]}@example.com"


def create_end_user(c: httpx.Client, email: str | None = None, **extra) -> httpx.Response:
    body = {"sex": "UNSPECIFIED", "firstName": "Ada", "lastName": "Lovelace", **extra}
    if email is not None:
        body["email"] = email
    return c.post("/v2/end-users", json=body)


def end_user(c: httpx.Client, email: str | None = None) -> dict:
    r = create_end_user(c, email or new_email())
    assert r.status_code == 201, r.text
    return r.json()


def line_body(end_user_id: str, **changes) -> dict:
    body = {"lineType": "LINE_TYPE_MOBILITY", "countryCode": "US", "sim": {"simType": "EMBEDDED"},
            "endUser": {"brandId": BRAND, "endUserId": end_user_id}, "activateOnAttach": False}
    body.update(changes)
    return body


def create_line(c: httpx.Client, end_user_id: str, **changes) -> httpx.Response:
    return c.post("/v3/lines/line", json=line_body(end_user_id, **changes))


def calls(c: httpx.Client, email: str | None = None) -> list[dict]:
    r = c.get("/__sandbox/carrier/calls", params={"email": email} if email else None)
    r.raise_for_status()
    return r.json()["calls"]


def lines(c: httpx.Client, email: str | None = None) -> list[dict]:
    r = c.get("/__sandbox/carrier/lines", params={"email": email} if email else None)
    r.raise_for_status()
    return r.json()["lines"]


def arm(c: httpx.Client, **fault) -> None:
    r = c.post("/__sandbox/carrier/faults", json=fault)
    assert r.status_code == 200, r.text


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def check_number(number: str, area: str | None = None) -> None:
    m = NANP.fullmatch(number)
    assert m, number
    a, exch, rest = m.groups()
    assert a in AREA_CODES and (area is None or a == area), number
    assert exch[1:] != "11" and not (exch == "555" and 100 <= int(rest) <= 199), number


# ---- end users ----------------------------------------------------------------------------------

def test_an_end_user_is_made_and_found_by_email(carrier):
    email = new_email()
    r = create_end_user(carrier, email, sex="FEMALE", groupId="grp-1")
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/json")
    u = r.json()
    assert UUID4.fullmatch(u["endUserId"]), u
    assert (u["sex"], u["firstName"], u["lastName"], u["email"]) == \
        ("FEMALE", "Ada", "Lovelace", email)
    assert u["brandId"] == BRAND and RFC3339_UTC.fullmatch(u["createdAt"]), u
    assert u["groupId"] == "grp-1"
    # found by email, whatever its case; others not listed
    other = end_user(carrier)
    for asked in (email, email.upper()):
        r = carrier.get("/v2/end-users", params={"email": asked})
        assert r.status_code == 200 and r.json() == {"endUsers": [u]}, r.text
    assert carrier.get("/v2/end-users", params={"email": new_email()}).json() == {"endUsers": []}
    everyone = carrier.get("/v2/end-users").json()["endUsers"]
    assert u in everyone and other in everyone
    # without an email: allowed, and never a duplicate
    r = create_end_user(carrier)
    assert r.status_code == 201 and "email" not in r.json(), r.text
    assert create_end_user(carrier).status_code == 201


def test_a_second_end_user_with_the_same_email_is_409_already_exists(carrier):
    email = new_email()
    first = end_user(carrier, email)
    for again in (email, email.upper()):
        r = create_end_user(carrier, again, firstName="Other")
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "ALREADY_EXISTS" and email.lower() in r.json()["message"].lower()
    assert carrier.get("/v2/end-users", params={"email": email}).json()["endUsers"] == [first]
    [rec] = [u for u in carrier.get("/__sandbox/carrier/end-users").json()["end_users"]
             if u["endUserId"] == first["endUserId"]]
    assert rec["refused_duplicates"] == 2


@pytest.mark.parametrize("body, field", [
    ({"sex": "UNSPECIFIED", "firstName": "A", "lastName": "B", "phone": "x"}, "phone"),
    ({"firstName": "A", "lastName": "B"}, "sex"),
    ({"sex": "OTHER", "firstName": "A", "lastName": "B"}, "sex"),
    ({"sex": "UNSPECIFIED", "lastName": "B"}, "firstName"),
    ({"sex": "UNSPECIFIED", "firstName": "A"}, "lastName"),
    ({"sex": "UNSPECIFIED", "firstName": "", "lastName": "B"}, "firstName"),
    ({"sex": "UNSPECIFIED", "firstName": "A", "lastName": "B", "email": 7}, "email"),
    ({"sex": "UNSPECIFIED", "firstName": "A", "lastName": "B", "email": "nope"}, "email"),
    ({"sex": "UNSPECIFIED", "firstName": "A", "lastName": "B", "brandId": BRAND}, "brandId"),
])
def test_a_bad_end_user_body_is_400_naming_the_field(carrier, body, field):
    before = len(carrier.get("/__sandbox/carrier/end-users").json()["end_users"])
    r = carrier.post("/v2/end-users", json=body)
    assert r.status_code == 400, r.text
    e = r.json()
    assert e["error"] == "INVALID_ARGUMENT" and e["message"], e
    assert field in [v["field"] for v in e["validation_errors"]], e
    assert len(carrier.get("/__sandbox/carrier/end-users").json()["end_users"]) == before


def test_a_body_that_is_not_a_json_object_is_400(carrier):
    for content in (b"not json", b"[1]", b"", b"null"):
        for path in ("/v2/end-users", "/v3/lines/line", "/v3/subscriptions"):
            r = carrier.post(path, content=content,
                             headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (path, content, r.text)
            assert r.json()["error"] == "INVALID_ARGUMENT" and r.json()["message"], r.text


# ---- lines ----------------------------------------------------------------------------------

def test_a_line_is_made_with_oxios_shape_and_recorded(carrier):
    email = new_email()
    u = end_user(carrier, email)
    before = time.time()
    r = create_line(carrier, u["endUserId"], planId="plan-esim", groupId="grp-7")
    assert r.status_code == 201, r.text
    line = r.json()
    assert set(line) == {"lineId", "status", "lineType", "countryCode", "endUserId", "planId",
                         "phoneNumbers", "sim", "createdAt"}, line
    assert UUID4.fullmatch(line["lineId"]) and line["status"] == "ACTIVE"
    assert (line["lineType"], line["countryCode"]) == ("LINE_TYPE_MOBILITY", "US")
    assert line["endUserId"] == u["endUserId"] and line["planId"] == "plan-esim"
    assert RFC3339_UTC.fullmatch(line["createdAt"])
    [number] = line["phoneNumbers"]
    assert set(number) == {"phoneNumber"}
    check_number(number["phoneNumber"])
    sim = line["sim"]
    assert set(sim) == {"iccid", "simType", "status", "countryCode", "activationCode",
                        "activationUrl"}, sim
    assert re.fullmatch(r"89\d{17,18}", sim["iccid"]) and luhn_ok(sim["iccid"]), sim
    assert (sim["simType"], sim["status"], sim["countryCode"]) == ("EMBEDDED", "ACTIVE", "US")
    assert LPA.fullmatch(sim["activationCode"]), sim
    assert sim["activationUrl"] == ("https://esimsetup.apple.com/esim_qrcode_provisioning"
                                    "?carddata=" + quote(sim["activationCode"], safe="")), sim

    # the call log (DESIGN §7: at, status, end_user_id, email, line_id, iccid are the contract)
    [call] = calls(carrier, email)
    assert before - 0.5 <= call["at"] <= call["ended_at"] <= time.time(), call
    assert call["status"] == 201 and call["fault"] is False
    assert (call["end_user_id"], call["email"], call["line_id"], call["iccid"]) == \
        (u["endUserId"], email, line["lineId"], sim["iccid"])
    assert call["phone_number"] == number["phoneNumber"]
    assert call["preferred_area_code"] is None and call["plan_id"] == "plan-esim"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", call["peer"]), call
    assert calls(carrier, email.upper()) == [call], "email matches whatever its case"

    # the lines hook: the line as OXIO answers it, plus the email and its line services
    [rec] = lines(carrier, email)
    assert {k: rec[k] for k in line} == line
    assert rec["email"] == email and rec["data_balance_mb"] == 0 and rec["features"] == []
    assert rec["topups"] == [] and rec["usage"]["data_total_mb"] == PLAN_MB

    # the person's lines, and the SIM
    r = carrier.get(f"/v3/end-users/{u['endUserId']}/lines")
    assert r.status_code == 200 and r.json() == {"lines": [line]}, r.text
    r = carrier.get(f"/v3/sims/{sim['iccid']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"iccid": sim["iccid"], "simType": "EMBEDDED", "status": "ACTIVE",
                        "lineId": line["lineId"]}


def test_a_line_without_plan_has_a_null_plan(carrier):
    u = end_user(carrier)
    body = line_body(u["endUserId"])
    del body["activateOnAttach"]
    r = carrier.post("/v3/lines/line", json=body)
    assert r.status_code == 201 and r.json()["planId"] is None, r.text
    # optional fields sent as null count as absent
    r = create_line(carrier, u["endUserId"], planId=None, groupId=None,
                    phoneNumberRequirements=None)
    assert r.status_code == 201 and r.json()["planId"] is None, r.text


def test_no_idempotency_every_call_makes_a_new_line(carrier):
    email = new_email()
    u = end_user(carrier, email)
    key = {"Idempotency-Key": f"in_{uuid.uuid4().hex}"}  # ignored, as at OXIO
    first = carrier.post("/v3/lines/line", json=line_body(u["endUserId"]), headers=key)
    second = carrier.post("/v3/lines/line", json=line_body(u["endUserId"]), headers=key)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    a, b = first.json(), second.json()
    assert a["lineId"] != b["lineId"] and a["sim"]["iccid"] != b["sim"]["iccid"]
    assert a["phoneNumbers"] != b["phoneNumbers"]
    assert "idempotent-replayed" not in second.headers
    listed = carrier.get(f"/v3/end-users/{u['endUserId']}/lines").json()["lines"]
    assert listed == [a, b], "both, in creation order"
    assert [ln["lineId"] for ln in lines(carrier, email)] == [a["lineId"], b["lineId"]]
    assert [(c["status"], c["line_id"]) for c in calls(carrier, email)] == \
        [(201, a["lineId"]), (201, b["lineId"])]


def test_numbers_iccids_and_codes_differ_between_lines(carrier):
    u = end_user(carrier)
    made = [create_line(carrier, u["endUserId"]).json() for _ in range(20)]
    assert len({m["phoneNumbers"][0]["phoneNumber"] for m in made}) == 20
    assert len({m["sim"]["iccid"] for m in made}) == 20
    assert len({m["sim"]["activationCode"] for m in made}) == 20
    for m in made:
        check_number(m["phoneNumbers"][0]["phoneNumber"])


def test_concurrent_calls_for_one_end_user_each_make_a_line(carrier, sbx):
    email = new_email()
    eid = end_user(carrier, email)["endUserId"]

    def one(_):
        with httpx.Client(base_url=sbx.url, timeout=30, headers={"Authorization": BASIC},
                      limits=ONE_SHOT) as c:
            return create_line(c, eid)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(one, range(8)))
    assert [r.status_code for r in rs] == [201] * 8
    assert len({r.json()["lineId"] for r in rs}) == 8
    assert len({r.json()["phoneNumbers"][0]["phoneNumber"] for r in rs}) == 8
    assert len(lines(carrier, email)) == 8 and len(calls(carrier, email)) == 8


def test_a_preferred_area_code_gives_a_number_there(carrier):
    email = new_email()
    u = end_user(carrier, email)
    for area in AREA_CODES:
        r = create_line(carrier, u["endUserId"],
                        phoneNumberRequirements={"preferredAreaCode": area})
        assert r.status_code == 201, r.text
        check_number(r.json()["phoneNumbers"][0]["phoneNumber"], area)
    assert [c["preferred_area_code"] for c in calls(carrier, email)] == list(AREA_CODES)
    # an empty requirements object asks for nothing
    r = create_line(carrier, u["endUserId"], phoneNumberRequirements={})
    assert r.status_code == 201, r.text
    assert calls(carrier, email)[-1]["preferred_area_code"] is None


def test_a_preferred_area_code_not_offered_is_400_and_makes_no_line(carrier):
    email = new_email()
    u = end_user(carrier, email)
    r = create_line(carrier, u["endUserId"], phoneNumberRequirements={"preferredAreaCode": "303"})
    assert r.status_code == 400, r.text
    assert r.json() == {"message": "No numbers available in area code 303",
                        "error": "FAILED_PRECONDITION"}
    assert lines(carrier, email) == []
    assert carrier.get(f"/v3/end-users/{u['endUserId']}/lines").json() == {"lines": []}
    [call] = calls(carrier, email)
    assert (call["status"], call["preferred_area_code"], call["line_id"], call["iccid"]) == \
        (400, "303", None, None), call
    # a malformed one is a validation error
    r = create_line(carrier, u["endUserId"], phoneNumberRequirements={"preferredAreaCode": "41"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_ARGUMENT", r.text
    assert [v["field"] for v in r.json()["validation_errors"]] == \
        ["phoneNumberRequirements.preferredAreaCode"]
    assert lines(carrier, email) == []


def _without(path: str) -> dict:
    """A valid body (end user filled in by the test) without the dotted `path`."""
    body = line_body("EID")
    *parents, last = path.split(".")
    obj = body
    for p in parents:
        obj = obj[p]
    del obj[last]
    return body


@pytest.fixture(scope="module")
def victim(sbx):
    """One end user for the refused line bodies (none of them makes a line)."""
    with httpx.Client(base_url=sbx.url, timeout=30, headers={"Authorization": BASIC},
                      limits=ONE_SHOT) as c:
        email = new_email()
        return email, end_user(c, email)["endUserId"]


def _fill(obj, eid: str):
    """`obj` with every "EID" placeholder replaced by the end user's id."""
    if isinstance(obj, dict):
        return {k: _fill(v, eid) for k, v in obj.items()}
    return eid if obj == "EID" else obj


@pytest.mark.parametrize("body, field", [
    # unknown fields, at every level (the older form's top-level endUserId too)
    (dict(line_body("EID"), endUserId="EID"), "endUserId"),
    (dict(line_body("EID"), phoneNumber="+12127341234"), "phoneNumber"),
    (dict(line_body("EID"), sim={"simType": "EMBEDDED", "iccid": "8910"}), "sim.iccid"),
    (dict(line_body("EID"), endUser={"brandId": BRAND, "endUserId": "EID", "email": "a@b.c"}),
     "endUser.email"),
    (dict(line_body("EID"), phoneNumberRequirements={"preferredAreaCode": "212", "nxx": "734"}),
     "phoneNumberRequirements.nxx"),
    # missing required fields
    (_without("lineType"), "lineType"),
    (_without("countryCode"), "countryCode"),
    (_without("sim"), "sim"),
    (_without("sim.simType"), "sim.simType"),
    (_without("endUser"), "endUser"),
    (_without("endUser.brandId"), "endUser.brandId"),
    (_without("endUser.endUserId"), "endUser.endUserId"),
    # wrong values and types
    (line_body("EID", lineType="LINE_TYPE_IOT"), "lineType"),
    (line_body("EID", countryCode="CA"), "countryCode"),
    (line_body("EID", sim={"simType": "PHYSICAL"}), "sim.simType"),
    (line_body("EID", sim="EMBEDDED"), "sim"),
    (line_body("EID", endUser={"brandId": str(uuid.uuid4()), "endUserId": "EID"}),
     "endUser.brandId"),
    (line_body("EID", planId="plan-unknown"), "planId"),
    (line_body("EID", planId=7), "planId"),
    (line_body("EID", activateOnAttach="no"), "activateOnAttach"),
    (line_body("EID", groupId=5), "groupId"),
    (line_body("EID", phoneNumberRequirements={"preferredAreaCode": 212}),
     "phoneNumberRequirements.preferredAreaCode"),
])
def test_a_bad_line_body_is_400_naming_the_field_and_makes_no_line(carrier, victim, body, field):
    email, eid = victim
    r = carrier.post("/v3/lines/line", json=_fill(body, eid))
    assert r.status_code == 400, r.text
    e = r.json()
    assert e["error"] == "INVALID_ARGUMENT" and e["message"], e
    assert field in [v["field"] for v in e["validation_errors"]], e
    assert all(v["message"] for v in e["validation_errors"])
    assert lines(carrier, email) == []
    call = calls(carrier)[-1]  # recorded even when it names no end user
    assert call["status"] == 400 and call["line_id"] is None and call["iccid"] is None
    assert call["email"] in (email, None)
    assert call["email"] is None or calls(carrier, email)[-1] == call


def test_a_wrong_brand_is_400_on_endUser_brandId(carrier):
    eid = end_user(carrier)["endUserId"]
    r = create_line(carrier, eid, endUser={"brandId": "6f1c0d2e-8a4b-4c3d-9e5f-0d07a1b2c3d4",
                                           "endUserId": eid})
    assert r.status_code == 400, r.text
    assert r.json()["validation_errors"][0]["field"] == "endUser.brandId"


def test_an_unknown_end_user_is_404_and_recorded(carrier):
    ghost = str(uuid.uuid4())
    r = create_line(carrier, ghost)
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "NOT_FOUND" and ghost in r.json()["message"], r.text
    [call] = [c for c in calls(carrier) if c["end_user_id"] == ghost]
    assert (call["status"], call["email"], call["line_id"]) == (404, None, None)
    r = carrier.get(f"/v3/end-users/{ghost}/lines")
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND", r.text
    r = carrier.get("/v3/sims/8910000000000000000")
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND", r.text


# ---- auth, paths, methods ---------------------------------------------------------------------

def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


BAD_AUTH = (None, f"Bearer {KEY}", f"Bearer {TOKEN}", _basic(KEY, "wrong"), _basic("wrong", TOKEN),
            _basic(KEY, ""), "Basic " + base64.b64encode(KEY.encode()).decode(),
            "Basic !!notbase64", "Basic", BASIC.replace("Basic", "Digest"))


def test_anything_but_the_exact_basic_credentials_is_401(carrier, sbx):
    email = new_email()
    eid = end_user(carrier, email)["endUserId"]
    everything = (
        ("POST", "/v3/lines/line", line_body(eid)),
        ("POST", "/v2/end-users", {"sex": "MALE", "firstName": "A", "lastName": "B"}),
        ("GET", "/v3/sims/8910000000000000000", None),
        ("GET", "/v2/end-users", None),
        ("GET", f"/v3/end-users/{eid}/lines", None),
        ("GET", "/v3/phone-numbers/available-area-codes?countryCode=US", None),
        ("GET", "/v3/phone-numbers/available?countryCode=US&areaCode=212", None),
        ("POST", "/v3/subscriptions", {"endUserId": eid, "planId": PLANS[2]}),
    )
    with httpx.Client(base_url=sbx.url, timeout=30, limits=ONE_SHOT) as c:
        for auth in BAD_AUTH:
            headers = {"Authorization": auth} if auth else {}
            # every endpoint without credentials; a few with each wrong one
            for method, path, body in everything if auth is None else everything[:3]:
                r = c.request(method, path, json=body, headers=headers)
                assert r.status_code == 401, (auth, path, r.text)
                assert r.json() == UNAUTHORIZED, r.text
                assert TOKEN not in r.text and KEY not in r.text
    assert lines(carrier, email) == [], "a refused call makes no line"
    got = calls(carrier, email)
    assert [(c["status"], c["line_id"], c["fault"]) for c in got] == \
        [(401, None, False)] * len(BAD_AUTH)
    assert all(s["endUserId"] != eid
               for s in carrier.get("/__sandbox/carrier/subscriptions").json()["subscriptions"])


OLD_AND_UNKNOWN = (
    ("POST", "/v1/activations"),  # the pre-OXIO sandbox's API is gone
    ("GET", "/v1/activations"),
    ("GET", "/v1/activations/act_123"),
    ("GET", "/v1/lines/8910000000000000000"),
    ("GET", "/v1/lines/8910000000000000000/usage"),
    ("POST", "/v1/lines/8910000000000000000/data"),
    ("POST", "/v3/lines"),
    ("GET", "/v3/lines/line/123"),
    ("GET", "/v3/lines/123"),
    ("POST", "/v2/groups"),
    ("GET", "/v2/end-users/123"),
    ("GET", "/v3/end-users/123"),
    ("GET", "/v3/end-users/123/lines/x"),
    ("GET", "/v3"),
    ("GET", "/v2"),
    ("POST", "/v3/plans/custom"),
)


def test_unknown_paths_are_404_in_oxios_shape(carrier):
    for method, path in OLD_AND_UNKNOWN:
        for headers in ({}, {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "in_1"}):
            r = carrier.request(method, path, headers=headers,
                                json={"customer_ref": "u", "plan": "esim_beta"})
            assert r.status_code == 404 and r.json() == NOT_FOUND, (path, headers, r.text)


def test_a_known_path_with_another_method_is_405(carrier):
    for method, path in (("GET", "/v3/lines/line"), ("PUT", "/v3/lines/line"),
                         ("DELETE", "/v2/end-users"), ("POST", "/v3/sims/891"),
                         ("POST", "/v3/end-users/x/lines"), ("GET", "/v3/subscriptions"),
                         ("POST", "/v3/phone-numbers/available")):
        r = carrier.request(method, path)
        assert r.status_code == 405, (method, path, r.text)
        assert r.json() == {"message": "Method Not Allowed", "error": "METHOD_NOT_ALLOWED"}


def test_stripe_keeps_the_rest_of_v1(sbx):
    r = httpx.get(f"{sbx.url}/v1/customers")
    assert r.status_code == 401 and "error" in r.json() and "type" in r.json()["error"], r.text


# ---- numbers --------------------------------------------------------------------------------

def test_available_area_codes(carrier):
    r = carrier.get("/v3/phone-numbers/available-area-codes", params={"countryCode": "US"})
    assert r.status_code == 200 and r.json() == {"areaCodes": [{"areaCode": a}
                                                               for a in AREA_CODES]}, r.text
    r = carrier.get("/v3/phone-numbers/available-area-codes",
                    params={"countryCode": "US", "zipCode": "10001"})
    assert r.status_code == 200 and len(r.json()["areaCodes"]) == len(AREA_CODES)
    r = carrier.get("/v3/phone-numbers/available-area-codes", params={"countryCode": "CA"})
    assert r.status_code == 200 and r.json() == {"areaCodes": []}
    r = carrier.get("/v3/phone-numbers/available-area-codes")
    assert r.status_code == 400 and r.json()["validation_errors"][0]["field"] == "countryCode"


def test_available_numbers(carrier):
    r = carrier.get("/v3/phone-numbers/available", params={"countryCode": "US",
                                                            "areaCode": "415"})
    assert r.status_code == 200, r.text
    got = [n["phoneNumber"] for n in r.json()["phoneNumbers"]]
    assert len(got) == 10 and len(set(got)) == 10
    for n in got:
        check_number(n, "415")
    r = carrier.get("/v3/phone-numbers/available",
                    params={"countryCode": "US", "areaCode": "212", "nxx": "734", "limit": "3",
                            "zipCode": "10001"})
    got = [n["phoneNumber"] for n in r.json()["phoneNumbers"]]
    assert len(got) == 3 and all(n.startswith("+1212734") for n in got), got
    for params in ({"countryCode": "US", "areaCode": "303"}, {"countryCode": "CA",
                                                               "areaCode": "212"}):
        r = carrier.get("/v3/phone-numbers/available", params=params)
        assert r.status_code == 200 and r.json() == {"phoneNumbers": []}, (params, r.text)
    for params, field in (({"areaCode": "212"}, "countryCode"), ({"countryCode": "US"}, "areaCode"),
                          ({"countryCode": "US", "areaCode": "21"}, "areaCode"),
                          ({"countryCode": "US", "areaCode": "212", "limit": "0"}, "limit"),
                          ({"countryCode": "US", "areaCode": "212", "limit": "x"}, "limit"),
                          ({"countryCode": "US", "areaCode": "212", "nxx": "411"}, "nxx")):
        r = carrier.get("/v3/phone-numbers/available", params=params)
        assert r.status_code == 400, (params, r.text)
        assert field in [v["field"] for v in r.json()["validation_errors"]], r.text


# ---- subscriptions (the data booster) ---------------------------------------------------------

def test_a_booster_subscription_adds_10_gb_to_the_first_line(carrier):
    email = new_email()
    eid = end_user(carrier, email)["endUserId"]
    first = create_line(carrier, eid).json()["sim"]["iccid"]
    second = create_line(carrier, eid).json()["sim"]["iccid"]
    r = carrier.post("/v3/subscriptions", json={"endUserId": eid, "planId": "plan-booster"})
    assert r.status_code == 201, r.text
    sub = r.json()
    assert set(sub) == {"subscriptionId", "id", "endUserId", "planId", "status", "createdAt"}
    assert UUID4.fullmatch(sub["subscriptionId"]) and sub["id"] == sub["subscriptionId"]
    assert (sub["endUserId"], sub["planId"], sub["status"]) == (eid, "plan-booster", "ACTIVE")
    assert RFC3339_UTC.fullmatch(sub["createdAt"])
    assert usage(carrier, first)["data_total_mb"] == PLAN_MB + BOOSTER_MB
    assert usage(carrier, second)["data_total_mb"] == PLAN_MB, "the first line only"
    # no idempotency: a second one is a second booster
    again = carrier.post("/v3/subscriptions", json={"endUserId": eid, "planId": "plan-booster"})
    assert again.status_code == 201 and again.json()["id"] != sub["id"]
    assert usage(carrier, first)["data_total_mb"] == PLAN_MB + 2 * BOOSTER_MB
    # another plan adds no data
    assert carrier.post("/v3/subscriptions",
                        json={"endUserId": eid, "planId": "plan-beta"}).status_code == 201
    u = usage(carrier, first)
    assert (u["data_total_mb"], u["data_remaining_mb"]) == (PLAN_MB + 2 * BOOSTER_MB,) * 2
    # the top-ups' balance keeps its meaning
    assert carrier.get(f"{SERVICES}/{first}").json()["data_balance_mb"] == 0
    [rec] = [ln for ln in lines(carrier, email) if ln["sim"]["iccid"] == first]
    assert rec["usage"]["data_total_mb"] == PLAN_MB + 2 * BOOSTER_MB
    subs = [s for s in carrier.get("/__sandbox/carrier/subscriptions").json()["subscriptions"]
            if s["endUserId"] == eid]
    assert [(s["planId"], s["email"]) for s in subs] == \
        [("plan-booster", email), ("plan-booster", email), ("plan-beta", email)]


def test_a_booster_before_the_line_counts_once_the_line_exists(carrier):
    eid = end_user(carrier)["endUserId"]
    assert carrier.post("/v3/subscriptions",
                        json={"endUserId": eid, "planId": "plan-booster"}).status_code == 201
    iccid = create_line(carrier, eid).json()["sim"]["iccid"]
    assert usage(carrier, iccid)["data_total_mb"] == PLAN_MB + BOOSTER_MB


def test_bad_subscriptions(carrier):
    eid = end_user(carrier)["endUserId"]
    r = carrier.post("/v3/subscriptions", json={"endUserId": str(uuid.uuid4()),
                                                "planId": "plan-booster"})
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND", r.text
    for body, field in (({"endUserId": eid}, "planId"), ({"planId": "plan-booster"}, "endUserId"),
                        ({"endUserId": eid, "planId": "plan-nope"}, "planId"),
                        ({"endUserId": eid, "planId": "plan-booster", "quantity": 2},
                         "quantity")):
        r = carrier.post("/v3/subscriptions", json=body)
        assert r.status_code == 400 and r.json()["error"] == "INVALID_ARGUMENT", (body, r.text)
        assert field in [v["field"] for v in r.json()["validation_errors"]], (body, r.text)
    assert all(s["endUserId"] != eid
               for s in carrier.get("/__sandbox/carrier/subscriptions").json()["subscriptions"])


# ---- faults (by the end user's email) ----------------------------------------------------------

def test_fail_next_fails_the_next_calls_with_an_oxio_error_and_makes_no_line(carrier):
    arm(carrier, fail_next=2, status=503)
    e1, e2 = new_email(), new_email()
    u1, u2 = end_user(carrier, e1), end_user(carrier, e2)  # faults apply to lines only
    a, b = create_line(carrier, u1["endUserId"]), create_line(carrier, u2["endUserId"])
    assert a.status_code == b.status_code == 503, (a.text, b.text)
    assert a.json()["error"] == "UNAVAILABLE" and a.json()["message"], a.text
    assert lines(carrier, e1) == [] and lines(carrier, e2) == []
    assert carrier.get(f"/v3/end-users/{u1['endUserId']}/lines").json() == {"lines": []}
    assert create_line(carrier, u1["endUserId"]).status_code == 201, "the retry makes the line"
    assert len(lines(carrier, e1)) == 1
    assert [(c["status"], c["fault"], c["line_id"] is None) for c in calls(carrier, e1)] == \
        [(503, True, True), (201, False, False)]


def test_faults_by_email_fail_only_those_emails_n_times_each(carrier):
    hit, hit2, other = new_email(), new_email(), new_email()
    ids = {e: end_user(carrier, e)["endUserId"] for e in (hit, hit2, other)}
    arm(carrier, fail_next=2, status=500, emails=[hit, hit2.upper()])  # any case
    assert create_line(carrier, ids[other]).status_code == 201
    assert [create_line(carrier, ids[hit]).status_code for _ in range(3)] == [500, 500, 201]
    assert [create_line(carrier, ids[hit2]).status_code for _ in range(3)] == [500, 500, 201]
    assert len(lines(carrier, hit)) == 1 and len(lines(carrier, hit2)) == 1
    assert carrier.get("/__sandbox/carrier/faults").json()["emails"] == {}


def test_permanent_fault_refuses_an_email_forever(carrier):
    bad, good = new_email(), new_email()
    ids = {e: end_user(carrier, e)["endUserId"] for e in (bad, good)}
    arm(carrier, permanent=True, emails=[bad])
    for _ in range(4):
        r = create_line(carrier, ids[bad])
        assert r.status_code == 422 and r.json()["error"] == "FAILED_PRECONDITION", r.text
        assert r.json()["message"]
    assert create_line(carrier, ids[good]).status_code == 201
    assert lines(carrier, bad) == [] and len(calls(carrier, bad)) == 4
    r = carrier.post("/__sandbox/carrier/faults", json={"permanent": True})
    assert r.status_code == 400, "permanent needs emails"


def test_delay_only_fault_slows_the_call_and_still_makes_the_line(carrier):
    email = new_email()
    eid = end_user(carrier, email)["endUserId"]
    arm(carrier, fail_next=1, status=None, delay_ms=600, emails=[email])
    t0 = time.monotonic()
    r = create_line(carrier, eid)
    assert r.status_code == 201 and time.monotonic() - t0 >= 0.55, r.text
    [call] = calls(carrier, email)
    assert call["ended_at"] - call["at"] >= 0.55, call  # `at` is when the request arrived
    assert call["fault"] is True and call["line_id"] == r.json()["lineId"]
    # a 2xx status only delays too
    arm(carrier, fail_next=1, status=200, delay_ms=10, emails=[email])
    assert create_line(carrier, eid).status_code == 201


def test_a_timed_out_call_still_makes_the_line_and_listing_finds_it(carrier, sbx):
    """As at OXIO: the client gives up, the carrier finishes anyway; without an idempotency key
    the client finds what was made by listing the end user's lines."""
    email = new_email()
    eid = end_user(carrier, email)["endUserId"]
    arm(carrier, fail_next=1, status=None, delay_ms=800, emails=[email])
    with httpx.Client(base_url=sbx.url, timeout=0.2, headers={"Authorization": BASIC}) as c:
        with pytest.raises(httpx.TimeoutException):
            create_line(c, eid)
    [call] = calls(carrier, email)
    assert "ended_at" not in call and call["status"] is None, "still being worked on"
    time.sleep(1.0)
    [call] = calls(carrier, email)
    assert call["status"] == 201 and call["line_id"]
    [line] = carrier.get(f"/v3/end-users/{eid}/lines").json()["lines"]
    assert line["lineId"] == call["line_id"] and line["sim"]["iccid"] == call["iccid"]


def test_chaos_fails_about_the_rate_asked_and_delays_calls(carrier):
    eid = end_user(carrier)["endUserId"]
    arm(carrier, chaos={"fail_rate": 0.3, "status": 503, "max_delay_ms": 20, "seed": 7})
    assert carrier.get("/__sandbox/carrier/faults").json()["chaos"]["fail_rate"] == 0.3
    # chaos is for line creation only
    assert all(create_end_user(carrier, new_email()).status_code == 201 for _ in range(3))
    codes = [create_line(carrier, eid).status_code for _ in range(100)]
    assert 15 <= codes.count(503) <= 45 and codes.count(503) + codes.count(201) == 100, codes
    failed = [c for c in calls(carrier) if c["end_user_id"] == eid and c["status"] == 503]
    assert failed and all(c["fault"] and c["line_id"] is None for c in failed)
    carrier.delete("/__sandbox/carrier/faults").raise_for_status()
    assert all(create_line(carrier, eid).status_code == 201 for _ in range(5))
    for bad in ({"fail_rate": 2}, {"status": "x"}, {"max_delay_ms": -1}, "on"):
        r = carrier.post("/__sandbox/carrier/faults", json={"chaos": bad})
        assert r.status_code == 400, (bad, r.text)


def test_bad_fault_requests_are_400(carrier):
    for body in ({"fail_next": -1}, {"status": 42}, {"delay_ms": "x"}, {"emails": "a@b.c"},
                 {"emails": [""]}, {"permanent": "yes", "emails": ["a@b.c"]},
                 {"keys": ["in_1"]}):
        r = carrier.post("/__sandbox/carrier/faults", json=body)
        assert r.status_code == 400, (body, r.text)
    assert carrier.get("/__sandbox/carrier/faults").json() == \
        {"fail_next": [], "emails": {}, "permanent": {}, "chaos": None}


# ---- line services (NOT OXIO): top-ups, reversals, features, usage -----------------------------

SERVICES = "/__sandbox/carrier/line-services"


def new_line(c: httpx.Client) -> dict:
    r = create_line(c, end_user(c)["endUserId"])
    assert r.status_code == 201, r.text
    return r.json()


def topup(c: httpx.Client, iccid: str, key: str | None, amount_mb=1024, reference=None,
          **body) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    payload = {"amount_mb": amount_mb, "reference": reference or f"ref-{uuid.uuid4().hex[:8]}",
               **body}
    return c.post(f"{SERVICES}/{iccid}/data", json=payload, headers=headers)


def line_calls(c: httpx.Client, iccid: str | None = None) -> list[dict]:
    r = c.get("/__sandbox/carrier/line-calls", params={"iccid": iccid} if iccid else None)
    r.raise_for_status()
    return r.json()["data"]


def usage(c: httpx.Client, iccid: str) -> dict:
    r = c.get(f"{SERVICES}/{iccid}/usage")
    assert r.status_code == 200, r.text
    return r.json()


def consume(c: httpx.Client, iccid: str, **body) -> httpx.Response:
    return c.post(f"/__sandbox/carrier/lines/{iccid}/consume", json=body)


def test_a_new_line_has_no_data_and_no_features(carrier):
    made = new_line(carrier)
    iccid = made["sim"]["iccid"]
    r = carrier.get(f"{SERVICES}/{iccid}")
    assert r.status_code == 200, r.text
    assert r.json() == {"iccid": iccid, "phone_number": made["phoneNumbers"][0]["phoneNumber"],
                        "status": "active", "data_balance_mb": 0, "features": [], "topups": []}
    r = carrier.get(f"{SERVICES}/8910000000000000000")
    assert r.status_code == 404 and r.json()["error"]["code"] == "line_not_found", r.text
    r = carrier.get(f"{SERVICES}/{iccid}/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text


def test_topup_adds_once_per_idempotency_key(carrier):
    iccid = new_line(carrier)["sim"]["iccid"]
    key = f"topup-{uuid.uuid4()}"
    first = topup(carrier, iccid, key, 500, "order-1")
    assert first.status_code == 201, first.text
    t = first.json()
    assert t["topup_id"] and t["iccid"] == iccid and t["amount_mb"] == 500
    assert t["reference"] == "order-1" and t["balance_mb"] == 500 and t["reversed"] is False
    assert RFC3339_UTC.fullmatch(t["created_at"]), t
    assert "idempotent-replayed" not in first.headers
    again = topup(carrier, iccid, key, 500, "order-1")
    assert again.status_code == 200 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == t
    other = topup(carrier, iccid, key, 501, "order-1")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    second = topup(carrier, iccid, f"topup-{uuid.uuid4()}", 250, "order-2")
    assert second.status_code == 201 and second.json()["balance_mb"] == 750
    dup = topup(carrier, iccid, f"topup-{uuid.uuid4()}", 250, "order-2")
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate_reference"
    line = carrier.get(f"{SERVICES}/{iccid}").json()
    assert line["data_balance_mb"] == 750
    assert [(x["reference"], x["amount_mb"], x["reversed"]) for x in line["topups"]] == \
        [("order-1", 500, False), ("order-2", 250, False)]


def test_concurrent_topups_with_one_key_add_once(carrier, sbx):
    iccid = new_line(carrier)["sim"]["iccid"]
    key = f"topup-{uuid.uuid4()}"

    def one(_):
        with httpx.Client(base_url=sbx.url, timeout=30, headers={"Authorization": BASIC},
                      limits=ONE_SHOT) as c:
            return topup(c, iccid, key, 100, "same")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(one, range(8)))
    assert sorted(r.status_code for r in rs) == [200] * 7 + [201]
    assert carrier.get(f"{SERVICES}/{iccid}").json()["data_balance_mb"] == 100


def test_bad_topups_are_400_naming_the_field(carrier):
    iccid = new_line(carrier)["sim"]["iccid"]
    for amount, ref, field in ((0, "r", "amount_mb"), (-5, "r", "amount_mb"),
                               (1048577, "r", "amount_mb"), ("10", "r", "amount_mb"),
                               (True, "r", "amount_mb"), (1.5, "r", "amount_mb"),
                               (10, "", "reference"), (10, "x" * 201, "reference"),
                               (10, 7, "reference")):
        r = carrier.post(f"{SERVICES}/{iccid}/data", json={"amount_mb": amount, "reference": ref},
                         headers={"Idempotency-Key": f"k-{uuid.uuid4()}"})
        assert r.status_code == 400, (amount, ref, r.text)
        e = r.json()["error"]
        assert e["field"] == field and field in e["message"], (amount, ref, e)
    r = carrier.post(f"{SERVICES}/{iccid}/data", json={"reference": "r"},
                     headers={"Idempotency-Key": "k-missing-amount"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "amount_mb"
    r = topup(carrier, iccid, None)
    assert r.status_code == 400 and r.json()["error"]["code"] == "idempotency_key_required"
    r = carrier.post(f"{SERVICES}/{iccid}/data", content=b"nope",
                     headers={"Idempotency-Key": "k-not-json"})
    assert r.status_code == 400
    assert topup(carrier, iccid, f"k-{uuid.uuid4()}", 1048576).status_code == 201, "the maximum"
    assert topup(carrier, "8910000000000000000", "k-nowhere").status_code == 404
    assert carrier.get(f"{SERVICES}/{iccid}").json()["data_balance_mb"] == 1048576


def test_reversal_takes_the_topup_back_once_and_never_below_zero(carrier):
    iccid = new_line(carrier)["sim"]["iccid"]
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 300, "a")
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 200, "b/2")
    r = carrier.delete(f"{SERVICES}/{iccid}/data/a")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["reversed"] is True and out["reference"] == "a" and out["balance_mb"] == 200
    assert out["reversed_mb"] == 300 and RFC3339_UTC.fullmatch(out["reversed_at"])
    again = carrier.delete(f"{SERVICES}/{iccid}/data/a")
    assert again.status_code == 200 and again.json() == out
    assert again.headers.get("idempotent-replayed") == "true"
    assert carrier.get(f"{SERVICES}/{iccid}").json()["data_balance_mb"] == 200
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 1000, "big")
    assert carrier.delete(f"{SERVICES}/{iccid}/data/b%2F2").json()["balance_mb"] == 1000
    carrier.delete(f"{SERVICES}/{iccid}/data/big")
    line = carrier.get(f"{SERVICES}/{iccid}").json()
    assert line["data_balance_mb"] == 0
    assert [(x["reference"], x["reversed"]) for x in line["topups"]] == \
        [("a", True), ("b/2", True), ("big", True)]
    r = carrier.delete(f"{SERVICES}/{iccid}/data/never")
    assert r.status_code == 404 and r.json()["error"]["code"] == "topup_not_found"
    # a reversed top-up's key still answers the top-up as it was made
    key = f"k-{uuid.uuid4()}"
    made = topup(carrier, iccid, key, 50, "late").json()
    carrier.delete(f"{SERVICES}/{iccid}/data/late")
    replay = topup(carrier, iccid, key, 50, "late")
    assert replay.status_code == 200 and replay.json() == made
    assert carrier.get(f"{SERVICES}/{iccid}").json()["data_balance_mb"] == 0


def test_a_reversal_never_takes_the_balance_below_zero(carrier):
    iccid = new_line(carrier)["sim"]["iccid"]
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 100, "x")
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 50, "y")
    carrier.delete(f"{SERVICES}/{iccid}/data/x")  # 150 -> 50
    out = carrier.delete(f"{SERVICES}/{iccid}/data/y").json()
    assert (out["balance_mb"], out["reversed_mb"]) == (0, 50)


def test_features_are_switched_on_and_off_idempotently(carrier):
    iccid = new_line(carrier)["sim"]["iccid"]
    for _ in range(2):
        r = carrier.put(f"{SERVICES}/{iccid}/features/vpn_access")
        assert r.status_code == 200 and r.json() == {"iccid": iccid, "feature": "vpn_access",
                                                     "enabled": True}, r.text
    carrier.put(f"{SERVICES}/{iccid}/features/network_security").raise_for_status()
    assert carrier.get(f"{SERVICES}/{iccid}").json()["features"] == ["network_security",
                                                                     "vpn_access"]
    for _ in range(2):
        r = carrier.delete(f"{SERVICES}/{iccid}/features/vpn_access")
        assert r.status_code == 200 and r.json() == {"iccid": iccid, "feature": "vpn_access",
                                                     "enabled": False}, r.text
    r = carrier.delete(f"{SERVICES}/{iccid}/features/priority_routing")
    assert r.status_code == 200 and r.json()["enabled"] is False, "off when never on"
    assert carrier.get(f"{SERVICES}/{iccid}").json()["features"] == ["network_security"]
    for f in ("network_monitoring", "performance_optimization", "priority_routing"):
        assert carrier.put(f"{SERVICES}/{iccid}/features/{f}").status_code == 200
    r = carrier.put(f"{SERVICES}/{iccid}/features/free_roaming")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_feature"
    r = carrier.put(f"{SERVICES}/8910000000000000000/features/vpn_access")
    assert r.status_code == 404 and r.json()["error"]["code"] == "line_not_found"


def test_line_service_calls_are_recorded_and_lines_show_them(carrier, sbx):
    made = new_line(carrier)
    iccid = made["sim"]["iccid"]
    key = f"k-{uuid.uuid4()}"
    topup(carrier, iccid, key, 64, "rec")
    topup(carrier, iccid, key, 64, "rec")
    carrier.put(f"{SERVICES}/{iccid}/features/vpn_access")
    carrier.delete(f"{SERVICES}/{iccid}/data/rec")
    carrier.get(f"{SERVICES}/{iccid}")
    r = httpx.get(f"{sbx.url}{SERVICES}/{iccid}")
    assert r.status_code == 401, "Basic auth, as the OXIO paths"
    r = httpx.get(f"{sbx.url}{SERVICES}/{iccid}", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
    got = line_calls(carrier, iccid)
    base = f"{SERVICES}/{iccid}"
    assert [(c["method"], c["path"], c["status"], c["replayed"]) for c in got] == [
        ("POST", f"{base}/data", 201, False),
        ("POST", f"{base}/data", 200, True),
        ("PUT", f"{base}/features/vpn_access", 200, False),
        ("DELETE", f"{base}/data/rec", 200, False),
        ("GET", base, 200, False),
        ("GET", base, 401, False),
        ("GET", base, 401, False),
    ]
    assert got[0]["idempotency_key"] == key and got[0]["body"] == {"amount_mb": 64,
                                                                   "reference": "rec"}
    assert all(c["iccid"] == iccid and isinstance(c["at"], float) for c in got)
    assert got[2]["body"] is None and got[2]["idempotency_key"] is None
    # the line-creation call log is only line creations
    assert all("line_id" in c and "method" not in c for c in calls(carrier))
    [rec] = [ln for ln in lines(carrier) if ln["sim"]["iccid"] == iccid]
    assert rec["data_balance_mb"] == 0 and rec["features"] == ["vpn_access"]
    assert [(t["reference"], t["reversed"]) for t in rec["topups"]] == [("rec", True)]
    assert rec["lineId"] == made["lineId"], "the line's own fields stay"


def test_a_new_lines_usage_is_the_plans_1024_mb_unused(carrier):
    made = new_line(carrier)
    iccid = made["sim"]["iccid"]
    before = time.time()
    u = usage(carrier, iccid)
    assert set(u) == {"iccid", "status", "data_total_mb", "data_used_mb", "data_remaining_mb",
                      "valid_until", "as_of"}, u
    assert u["iccid"] == iccid and u["status"] == "ACTIVE"
    assert (u["data_total_mb"], u["data_used_mb"], u["data_remaining_mb"]) == (PLAN_MB, 0, PLAN_MB)
    assert RFC3339_UTC.fullmatch(u["valid_until"]) and RFC3339_UTC.fullmatch(u["as_of"]), u
    stamp = lambda s: calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))  # noqa: E731
    assert stamp(u["valid_until"]) - stamp(made["createdAt"]) == 30 * 86400, u
    assert before - 2 <= stamp(u["as_of"]) <= time.time() + 1, u
    assert carrier.get(f"{SERVICES}/{iccid}").json()["data_balance_mb"] == 0
    [rec] = [ln for ln in lines(carrier) if ln["sim"]["iccid"] == iccid]
    assert rec["usage"]["data_total_mb"] == PLAN_MB and rec["usage"]["data_used_mb"] == 0


def test_consume_by_mb_and_by_percent_advances_use_up_to_the_total(carrier):
    iccid = new_line(carrier)["sim"]["iccid"]
    r = consume(carrier, iccid, mb=100)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["iccid"], out["status"]) == (iccid, "ACTIVE")
    assert (out["data_total_mb"], out["data_used_mb"], out["data_remaining_mb"]) == (1024, 100, 924)
    assert RFC3339_UTC.fullmatch(out["as_of"]) and RFC3339_UTC.fullmatch(out["valid_until"])
    u = usage(carrier, iccid)
    assert (u["data_used_mb"], u["data_remaining_mb"]) == (100, 924)
    assert consume(carrier, iccid, percent=50).json()["data_used_mb"] == 612
    assert consume(carrier, iccid, percent=12.5).json()["data_used_mb"] == 740  # + 128
    assert consume(carrier, iccid, percent=0.1).json()["data_used_mb"] == 742  # 1.024 -> 2
    capped = consume(carrier, iccid, mb=10_000).json()
    assert (capped["data_used_mb"], capped["data_remaining_mb"]) == (1024, 0), capped
    assert consume(carrier, iccid, percent=500).json()["data_used_mb"] == 1024
    u = usage(carrier, iccid)
    assert (u["data_used_mb"], u["data_remaining_mb"]) == (1024, 0)


def test_percent_thresholds_land_on_the_percent(carrier):
    iccid = new_line(carrier)["sim"]["iccid"]
    assert consume(carrier, iccid, percent=75).json()["data_used_mb"] == 768  # exactly 75 %
    iccid = new_line(carrier)["sim"]["iccid"]
    used = consume(carrier, iccid, percent=90).json()["data_used_mb"]
    assert used == 922 and used * 100 >= 90 * 1024  # 921.6 rounded up: at least 90 %


def test_topups_raise_the_total_and_reversals_lower_it(carrier):
    iccid = new_line(carrier)["sim"]["iccid"]
    consume(carrier, iccid, mb=1000)
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 10240, "gb10")
    u = usage(carrier, iccid)
    assert (u["data_total_mb"], u["data_used_mb"], u["data_remaining_mb"]) == \
        (1024 + 10240, 1000, 10264), u
    assert consume(carrier, iccid, percent=10).json()["data_used_mb"] == 1000 + 1127  # 1126.4 up
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 500, "half")
    assert usage(carrier, iccid)["data_total_mb"] == 11764
    r = carrier.delete(f"{SERVICES}/{iccid}/data/gb10")
    assert r.status_code == 200, r.text
    u = usage(carrier, iccid)
    assert (u["data_total_mb"], u["data_used_mb"], u["data_remaining_mb"]) == (1524, 2127, 0), u
    assert consume(carrier, iccid, mb=1).json()["data_used_mb"] == 2127
    assert carrier.get(f"{SERVICES}/{iccid}").json()["data_balance_mb"] == 500


def test_usage_calls_are_recorded_in_line_calls_and_consume_is_not(carrier, sbx):
    iccid = new_line(carrier)["sim"]["iccid"]
    usage(carrier, iccid)
    consume(carrier, iccid, mb=5)
    usage(carrier, iccid)
    r = httpx.get(f"{sbx.url}{SERVICES}/{iccid}/usage")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
    r = httpx.get(f"{sbx.url}{SERVICES}/{iccid}/usage", headers={"Authorization": _basic(KEY, "x")})
    assert r.status_code == 401, r.text
    got = line_calls(carrier, iccid)
    path = f"{SERVICES}/{iccid}/usage"
    assert [(c["method"], c["path"], c["iccid"], c["status"]) for c in got] == [
        ("GET", path, iccid, 200), ("GET", path, iccid, 200), ("GET", path, iccid, 401),
        ("GET", path, iccid, 401)]


def test_usage_and_consume_of_an_unknown_line_are_404(carrier):
    nowhere = "8910000000000000000"
    r = carrier.get(f"{SERVICES}/{nowhere}/usage")
    assert r.status_code == 404 and r.json()["error"]["code"] == "line_not_found", r.text
    assert [c["status"] for c in line_calls(carrier, nowhere) if c["path"].endswith("/usage")][-1] \
        == 404
    r = consume(carrier, nowhere, mb=1)
    assert r.status_code == 404 and r.json()["error"]["code"] == "line_not_found", r.text


def test_bad_consume_bodies_are_400_naming_the_field(carrier):
    iccid = new_line(carrier)["sim"]["iccid"]
    for body, field in (({}, "mb"), ({"mb": 1, "percent": 1}, "percent"), ({"mb": 0}, "mb"),
                        ({"mb": -3}, "mb"), ({"mb": 1.5}, "mb"), ({"mb": "10"}, "mb"),
                        ({"mb": True}, "mb"), ({"percent": 0}, "percent"),
                        ({"percent": -1.5}, "percent"), ({"percent": "50"}, "percent"),
                        ({"percent": False}, "percent"), ({"mb": None}, "mb")):
        r = consume(carrier, iccid, **body)
        assert r.status_code == 400, (body, r.text)
        e = r.json()["error"]
        assert e["code"] == "invalid_parameter" and e["field"] == field, (body, e)
        assert f"`{field}`" in e["message"], (body, e)
    r = carrier.post(f"/__sandbox/carrier/lines/{iccid}/consume", content=b"not json")
    assert r.status_code == 400 and r.json()["error"]["message"], r.text
    r = carrier.post(f"/__sandbox/carrier/lines/{iccid}/consume", json=[5])
    assert r.status_code == 400, r.text
    assert usage(carrier, iccid)["data_used_mb"] == 0, "a refused consume uses nothing"


# ---- reset and the log ------------------------------------------------------------------------

def test_each_line_creation_call_writes_a_log_line(carrier, sbx):
    import json
    made = new_line(carrier)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [json.loads(ln) for ln in sbx.log().splitlines()
                 if ln.startswith("{") and '"carrier_call"' in ln]
        if any(f["line_id"] == made["lineId"] for f in found):
            break
        time.sleep(0.05)
    [entry] = [f for f in found if f["line_id"] == made["lineId"]]
    assert entry["status"] == 201 and entry["end_user_id"] == made["endUserId"]


def test_reset_forgets_end_users_lines_subscriptions_calls_and_faults(carrier):
    email = new_email()
    eid = end_user(carrier, email)["endUserId"]
    iccid = create_line(carrier, eid).json()["sim"]["iccid"]
    carrier.post("/v3/subscriptions", json={"endUserId": eid, "planId": "plan-booster"})
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 10, "gone")
    consume(carrier, iccid, mb=300)
    arm(carrier, fail_next=5)
    assert carrier.post("/__sandbox/reset").status_code == 200
    assert calls(carrier) == [] and lines(carrier) == [] and line_calls(carrier) == []
    assert carrier.get("/__sandbox/carrier/end-users").json() == {"end_users": []}
    assert carrier.get("/__sandbox/carrier/subscriptions").json() == {"subscriptions": []}
    assert carrier.get("/v2/end-users").json() == {"endUsers": []}
    assert carrier.get(f"/v3/end-users/{eid}/lines").status_code == 404
    assert carrier.get(f"/v3/sims/{iccid}").status_code == 404
    assert carrier.get(f"{SERVICES}/{iccid}/usage").status_code == 404
    assert consume(carrier, iccid, mb=1).status_code == 404
    # the email is free again, no fault is left, and a fresh line starts unused
    eid = end_user(carrier, email)["endUserId"]
    r = create_line(carrier, eid)
    assert r.status_code == 201, r.text
    u = usage(carrier, r.json()["sim"]["iccid"])
    assert (u["data_total_mb"], u["data_used_mb"]) == (PLAN_MB, 0)


# ---- the stack's sandbox (under `make test`) -----------------------------------------------------

def _stack_basic(key: str, token: str) -> dict:
    return {"Authorization": _basic(key, token)}


def _probe_line(base: str, headers: dict, brand: str) -> httpx.Response:
    email = f"sandbox-probe-{uuid.uuid4().hex[:12]}@example.com"
    r = httpx.post(f"{base}/v2/end-users", headers=headers, timeout=30,
                   json={"sex": "UNSPECIFIED", "firstName": "Sandbox", "lastName": "Probe",
                         "email": email})
    assert r.status_code == 201, r.text
    return httpx.post(f"{base}/v3/lines/line", headers=headers, timeout=30,
                      json=dict(line_body(r.json()["endUserId"]),
                                endUser={"brandId": brand, "endUserId": r.json()["endUserId"]},
                                planId=os.environ.get("OXIO_ESIM_PLAN_ID", "dotm-esim-global")))


def test_the_stacks_sandbox_serves_the_carrier_with_the_stacks_credentials():
    url = os.environ.get("DOTM_SANDBOX_URL")
    if not url:
        pytest.skip("DOTM_SANDBOX_URL is not set (run under `make test`)")
    key = os.environ.get("OXIO_API_KEY", "oxio_test_local")
    token = os.environ.get("OXIO_AUTH_TOKEN", "oxio_token_local")
    brand = os.environ.get("OXIO_BRAND_ID", "6f1c0d2e-8a4b-4c3d-9e5f-0d07a1b2c3d4")
    r = _probe_line(url, _stack_basic(key, token), brand)
    assert r.status_code == 201, r.text
    got = httpx.get(f"{url}/__sandbox/carrier/calls", timeout=30).json()["calls"]
    assert [c["status"] for c in got if c["line_id"] == r.json()["lineId"]] == [201]
    for plan in ("OXIO_BETA_PLAN_ID", "OXIO_BOOSTER_PLAN_ID"):
        if os.environ.get(plan):  # the stack's plans are the sandbox's
            eid = r.json()["endUserId"]
            s = httpx.post(f"{url}/v3/subscriptions", headers=_stack_basic(key, token),
                           json={"endUserId": eid, "planId": os.environ[plan]}, timeout=30)
            assert s.status_code == 201, (plan, s.text)


def test_the_fulfilment_secret_carries_the_carrier_credentials_the_sandbox_accepts():
    import json

    import boto3
    missing = [v for v in ("AWS_ENDPOINT_URL", "FULFILMENT_SECRET_ID") if not os.environ.get(v)]
    if missing:
        pytest.skip(f"{missing} not set (run under `make test`)")
    sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                      region_name=os.environ.get("AWS_REGION", "us-east-1"))
    value = json.loads(sm.get_secret_value(SecretId=os.environ["FULFILMENT_SECRET_ID"])["SecretString"])
    assert value["oxio_api_key"] == os.environ.get("OXIO_API_KEY", "oxio_test_local")
    assert value["oxio_auth_token"] == os.environ.get("OXIO_AUTH_TOKEN", "oxio_token_local")
    assert os.environ["CARRIER_API_BASE"] == os.environ["DOTM_SANDBOX_URL"].rstrip("/")
    base = os.environ["CARRIER_API_BASE"]
    brand = os.environ.get("OXIO_BRAND_ID", "6f1c0d2e-8a4b-4c3d-9e5f-0d07a1b2c3d4")
    r = _probe_line(base, _stack_basic(value["oxio_api_key"], value["oxio_auth_token"]), brand)
    assert r.status_code == 201, r.text
