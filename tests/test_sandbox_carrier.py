"""The provider sandbox's carrier (OXIO-style REST): what DOTM's carrier adapter and the activation
tests rely on (issue 5), lines with a requested number (the beta program's), and the lines' data
top-ups, reversals and features (by ICCID). Fault injection and reset change shared state, so
these tests run against a sandbox of their own (same code as the stack's, started here with its
own key); one test checks that the stack's sandbox serves the carrier with the stack's key."""

from __future__ import annotations

import concurrent.futures
import os
import re
import secrets
import time
import uuid

import httpx
import pytest
from private_sandbox import PrivateSandbox

KEY = "oxio_test_private"


@pytest.fixture(scope="module")
def sbx():
    s = PrivateSandbox("--oxio-key", KEY)
    yield s
    s.close()


@pytest.fixture
def carrier(sbx):
    with httpx.Client(base_url=sbx.url, timeout=30,
                      headers={"Authorization": f"Bearer {KEY}"}) as c:
        c.delete("/__sandbox/carrier/faults").raise_for_status()
        yield c


def purchase_id() -> str:
    return f"in_{uuid.uuid4().hex[:24]}"


def activate(c: httpx.Client, key: str | None, uid: str = "uid-1", plan: str = "esim_beta",
             **extra) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return c.post("/v1/activations", json={"customer_ref": uid, "plan": plan, **extra},
                  headers=headers)


def calls(c: httpx.Client, key: str | None = None) -> list[dict]:
    r = c.get("/__sandbox/carrier/calls", params={"key": key} if key else None)
    r.raise_for_status()
    return r.json()["calls"]


def lines(c: httpx.Client, key: str | None = None) -> list[dict]:
    r = c.get("/__sandbox/carrier/lines", params={"key": key} if key else None)
    r.raise_for_status()
    return r.json()["lines"]


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


NANP = re.compile(r"\+1[2-9]\d{2}[2-9]\d{6}")


def test_activation_makes_a_line_with_number_iccid_and_lpa_parts(carrier):
    key = purchase_id()
    before = time.time()
    r = activate(carrier, key, uid="uid-42", iccid_hint="8901")
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/json")
    line = r.json()
    assert line["status"] == "active"
    assert line["activation_id"].startswith("act_")
    assert NANP.fullmatch(line["phone_number"]), line
    assert line["phone_number"][3:5] != "11" and line["phone_number"][6:8] != "11", line
    assert re.fullmatch(r"89\d{17,18}", line["iccid"]) and luhn_ok(line["iccid"]), line
    assert line["smdp_address"] == "smdp.sandbox.oxio.local"
    assert re.fullmatch(r"[A-Z0-9-]{8,}", line["activation_code"]), line
    assert "$" not in line["activation_code"]  # it goes into LPA:1$<smdp>$<code>
    assert line["customer_ref"] == "uid-42" and line["plan"] == "esim_beta"

    got = carrier.get(f"/v1/activations/{line['activation_id']}")
    assert got.status_code == 200 and got.json() == line

    [call] = calls(carrier, key)
    assert before - 0.5 <= call["at"] <= time.time(), call
    assert call["idempotency_key"] == key and call["status"] == 201
    assert call["replayed"] is False and call["fault"] is False
    assert call["activation_id"] == line["activation_id"]
    [rec] = lines(carrier, key)
    assert rec["phone_number"] == line["phone_number"] and rec["idempotency_key"] == key


def test_numbers_and_iccids_differ_between_lines(carrier):
    made = [activate(carrier, purchase_id()).json() for _ in range(20)]
    assert len({m["phone_number"] for m in made}) == 20
    assert len({m["iccid"] for m in made}) == 20
    assert len({m["activation_code"] for m in made}) == 20


def test_same_idempotency_key_replays_the_same_line_and_never_makes_a_second(carrier):
    key = purchase_id()
    first = activate(carrier, key)
    again = activate(carrier, key)
    assert first.status_code == 201 and again.status_code == 200, (first.text, again.text)
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(lines(carrier, key)) == 1
    assert [(c["status"], c["replayed"]) for c in calls(carrier, key)] == [(201, False), (200, True)]

    # The same key for another customer is a conflict, not a new line.
    other = activate(carrier, key, uid="someone-else")
    assert other.status_code == 409 and other.json()["error"]["code"], other.text
    assert len(lines(carrier, key)) == 1


# ---- a requested phone number ----------------------------------------------------------------

_used_numbers: set[str] = set()


def free_number() -> str:
    """A valid NANP number no other test in this module asked for: area 2xx-8xx and exchange
    2xx-9xx, neither N11, never exchange 555 nor areas 212 and 221 (the fixed numbers below use those)."""
    while True:
        area = f"{secrets.randbelow(7) + 2}{secrets.randbelow(10)}{secrets.randbelow(10)}"
        exch = f"{secrets.randbelow(8) + 2}{secrets.randbelow(10)}{secrets.randbelow(10)}"
        if area[1:] == "11" or exch[1:] == "11" or exch == "555" or area in ("212", "221"):
            continue
        number = f"+1{area}{exch}{secrets.randbelow(10000):04d}"
        if number not in _used_numbers:
            _used_numbers.add(number)
            return number


def test_a_requested_number_is_the_lines_number_and_is_recorded(carrier):
    key, number = purchase_id(), free_number()
    r = activate(carrier, key, uid="uid-beta", phone_number=number)
    assert r.status_code == 201, r.text
    line = r.json()
    assert line["phone_number"] == number and line["status"] == "active"
    assert "requested_number" not in line, "the activation's answer keeps its fields"
    assert carrier.get(f"/v1/activations/{line['activation_id']}").json() == line
    assert carrier.get(f"/v1/lines/{line['iccid']}").json()["phone_number"] == number
    [call] = calls(carrier, key)
    assert call["requested_number"] == number and call["status"] == 201, call
    assert call["activation_id"] == line["activation_id"]
    [rec] = lines(carrier, key)
    assert rec["phone_number"] == number


def test_without_a_requested_number_the_call_records_null(carrier):
    key = purchase_id()
    r = activate(carrier, key)
    assert r.status_code == 201, r.text
    assert NANP.fullmatch(r.json()["phone_number"])
    [call] = calls(carrier, key)
    assert "requested_number" in call and call["requested_number"] is None, call
    # an explicit null is the same as no field
    key2 = purchase_id()
    assert activate(carrier, key2, phone_number=None).status_code == 201
    assert calls(carrier, key2)[0]["requested_number"] is None


def test_a_requested_number_replays_with_the_same_key_and_conflicts_with_another(carrier):
    key, number = purchase_id(), free_number()
    first = activate(carrier, key, uid="uid-r", phone_number=number)
    again = activate(carrier, key, uid="uid-r", phone_number=number)
    assert first.status_code == 201 and again.status_code == 200, (first.text, again.text)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    # the same key with another number, or with none, is another request: a 409, no new line
    for other in ({"phone_number": free_number()}, {}):
        r = activate(carrier, key, uid="uid-r", **other)
        assert r.status_code == 409, (other, r.text)
        assert r.json()["error"]["code"] == "idempotency_conflict", r.text
    # and a key first used without a number does not take one on later
    plain = purchase_id()
    assert activate(carrier, plain).status_code == 201
    r = activate(carrier, plain, phone_number=free_number())
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_conflict", r.text
    assert len(lines(carrier, key)) == 1 and len(lines(carrier, plain)) == 1
    assert [(c["status"], c["replayed"]) for c in calls(carrier, key)] == \
        [(201, False), (200, True), (409, False), (409, False)]


def test_a_number_another_line_has_is_409_number_taken(carrier):
    number = free_number()
    first = activate(carrier, purchase_id(), uid="uid-a", phone_number=number)
    assert first.status_code == 201, first.text
    other = purchase_id()
    r = activate(carrier, other, uid="uid-b", phone_number=number)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "number_taken" and r.json()["error"]["message"]
    assert lines(carrier, other) == [], "no line is made"
    [call] = calls(carrier, other)
    assert call["status"] == 409 and call["requested_number"] == number
    assert call["activation_id"] is None
    # a number the carrier picked is taken too
    picked = activate(carrier, purchase_id()).json()["phone_number"]
    r = activate(carrier, purchase_id(), phone_number=picked)
    assert r.status_code == 409 and r.json()["error"]["code"] == "number_taken", r.text
    # the refused key can still make a line with another number
    r = activate(carrier, other, uid="uid-b", phone_number=(n := free_number()))
    assert r.status_code == 201 and r.json()["phone_number"] == n, r.text


@pytest.mark.parametrize("number, rule", [
    # each breaks one rule of an otherwise valid number, +1 212 734 1234
    ("12127341234", "no +"),
    ("2127341234", "no +1"),
    ("+12127341234x", "trailing characters"),
    ("+1212734123", "too short"),
    ("+121273412345", "too long"),
    ("+442071234567", "not +1"),
    ("+1 212 734 1234", "spaces"),
    ("+1(212)7341234", "punctuation"),
    ("+10127341234", "area code starts 0"),
    ("+11127341234", "area code starts 1"),
    ("+12120341234", "exchange starts 0"),
    ("+12121341234", "exchange starts 1"),
    ("+12117341234", "area code N11 (211)"),
    ("+19117341234", "area code N11 (911)"),
    ("+12124111234", "exchange N11 (411)"),
    ("+12129111234", "exchange N11 (911)"),
    ("+12125550100", "fictional 555-0100"),
    ("+12125550150", "fictional 555-0150"),
    ("+12125550199", "fictional 555-0199"),
    ("", "empty"),
    (12127341234, "not a string"),
    (["+12127341234"], "a list"),
])
def test_an_invalid_requested_number_is_400_and_makes_no_line(carrier, number, rule):
    key = purchase_id()
    r = activate(carrier, key, phone_number=number)
    assert r.status_code == 400, (rule, r.text)
    err = r.json()["error"]
    assert err["code"] == "invalid_phone_number" and err["message"], (rule, err)
    assert lines(carrier, key) == [], rule
    [call] = calls(carrier, key)
    assert call["status"] == 400 and call["requested_number"] == number, (rule, call)


def test_numbers_just_outside_the_refused_ranges_are_accepted(carrier):
    for number in ("+12127341234", "+12125550099", "+12125550200", "+12125551234",
                   "+19127341234", "+12122211234", "+12123105678", "+12129995678",
                   "+12212345678"):
        assert number not in _used_numbers  # free_number() never picks 9xx areas, 555 or these
        r = activate(carrier, purchase_id(), phone_number=number)
        assert r.status_code == 201 and r.json()["phone_number"] == number, (number, r.text)


def test_concurrent_calls_with_one_key_make_one_line(carrier, sbx):
    key = purchase_id()

    def one(_):
        with httpx.Client(base_url=sbx.url, timeout=30,
                          headers={"Authorization": f"Bearer {KEY}"}) as c:
            return activate(c, key)

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        rs = list(pool.map(one, range(10)))
    # One made it; the others got it back (a replay) or were told it is still in progress.
    codes = sorted(r.status_code for r in rs)
    assert codes.count(201) == 1 and set(codes) <= {200, 201, 409}, [r.text for r in rs]
    assert all(r.json()["error"]["code"] == "activation_in_progress"
               for r in rs if r.status_code == 409)
    assert len({r.json()["activation_id"] for r in rs if r.status_code != 409}) == 1
    assert len(lines(carrier, key)) == 1


def test_a_call_while_the_same_key_is_in_progress_is_409_and_makes_nothing(carrier, sbx):
    key = purchase_id()
    carrier.post("/__sandbox/carrier/faults",
                 json={"fail_next": 1, "status": None, "delay_ms": 1500, "keys": [key]})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(activate, httpx.Client(
            base_url=sbx.url, timeout=30, headers={"Authorization": f"Bearer {KEY}"}), key)
        time.sleep(0.5)
        second = activate(carrier, key)
        assert second.status_code == 409, second.text
        assert second.json()["error"]["code"] == "activation_in_progress"
        assert first.result().status_code == 201
    assert activate(carrier, key).status_code == 200
    assert len(lines(carrier, key)) == 1


def test_an_activation_is_found_by_its_idempotency_key_without_activating(carrier):
    key = purchase_id()
    r = carrier.get("/v1/activations", params={"idempotency_key": key})
    assert r.status_code == 200 and r.json() == {"data": []}, r.text
    made = activate(carrier, key).json()
    found = carrier.get("/v1/activations", params={"idempotency_key": key}).json()["data"]
    assert found == [made]
    assert len(calls(carrier, key)) == 1, "a lookup is not an activation call"
    assert carrier.get("/v1/activations").status_code == 400
    assert httpx.get(f"{carrier.base_url}/v1/activations",
                     params={"idempotency_key": key}).status_code == 401


def test_chaos_fails_about_the_rate_asked_and_delays_calls(carrier):
    carrier.post("/__sandbox/carrier/faults",
                 json={"chaos": {"fail_rate": 0.3, "status": 503, "max_delay_ms": 20, "seed": 7}}
                 ).raise_for_status()
    assert carrier.get("/__sandbox/carrier/faults").json()["chaos"]["fail_rate"] == 0.3
    codes = [activate(carrier, purchase_id()).status_code for _ in range(100)]
    assert 15 <= codes.count(503) <= 45 and codes.count(503) + codes.count(201) == 100, codes
    carrier.delete("/__sandbox/carrier/faults").raise_for_status()
    assert all(activate(carrier, purchase_id()).status_code == 201 for _ in range(10))
    for bad in ({"fail_rate": 2}, {"status": "x"}, {"max_delay_ms": -1}, "on"):
        r = carrier.post("/__sandbox/carrier/faults", json={"chaos": bad})
        assert r.status_code == 400, (bad, r.text)


def test_auth_and_bad_requests(carrier, sbx):
    for headers in ({}, {"Authorization": "Bearer oxio_wrong"}):
        r = httpx.post(f"{sbx.url}/v1/activations", headers={**headers, "Idempotency-Key": "k"},
                       json={"customer_ref": "u", "plan": "esim_beta"})
        assert r.status_code == 401 and r.json()["error"]["message"], r.text
        assert "oxio_wrong" not in r.text
    r = activate(carrier, None)
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["error"]["message"], r.text
    r = carrier.post("/v1/activations", json={"plan": "esim_beta"},
                     headers={"Idempotency-Key": purchase_id()})
    assert r.status_code == 422 and "customer_ref" in r.json()["error"]["message"], r.text
    r = carrier.post("/v1/activations", content=b"not json",
                     headers={"Idempotency-Key": purchase_id()})
    assert r.status_code == 400, r.text
    assert carrier.get("/v1/activations/act_nope").status_code == 404


def test_fail_next_fails_the_next_calls_with_a_json_error_and_makes_no_line(carrier):
    r = carrier.post("/__sandbox/carrier/faults", json={"fail_next": 2, "status": 503})
    assert r.status_code == 200, r.text
    k1, k2, k3 = purchase_id(), purchase_id(), purchase_id()
    a, b = activate(carrier, k1), activate(carrier, k2)
    assert a.status_code == b.status_code == 503
    assert a.json()["error"]["code"] and a.json()["error"]["message"]
    assert lines(carrier, k1) == [] and lines(carrier, k2) == []
    assert activate(carrier, k3).status_code == 201
    assert activate(carrier, k1).status_code == 201  # the retry succeeds and makes the line
    assert len(lines(carrier, k1)) == 1
    assert [(c["status"], c["fault"]) for c in calls(carrier, k1)] == [(503, True), (201, False)]


def test_faults_by_key_fail_only_those_keys_n_times_each(carrier):
    hit, hit2, other = purchase_id(), purchase_id(), purchase_id()
    r = carrier.post("/__sandbox/carrier/faults",
                     json={"fail_next": 2, "status": 500, "keys": [hit, hit2]})
    assert r.status_code == 200, r.text
    assert activate(carrier, other).status_code == 201
    assert [activate(carrier, hit).status_code for _ in range(3)] == [500, 500, 201]
    assert [activate(carrier, hit2).status_code for _ in range(3)] == [500, 500, 201]
    assert len(lines(carrier, hit)) == 1 and len(lines(carrier, hit2)) == 1
    assert carrier.get("/__sandbox/carrier/faults").json()["keys"] == {}


def test_permanent_fault_rejects_a_key_forever(carrier):
    bad, good = purchase_id(), purchase_id()
    r = carrier.post("/__sandbox/carrier/faults", json={"permanent": True, "keys": [bad]})
    assert r.status_code == 200, r.text
    for _ in range(4):
        r = activate(carrier, bad)
        assert 400 <= r.status_code < 500 and r.json()["error"]["code"] == "activation_rejected"
    assert activate(carrier, good).status_code == 201
    assert lines(carrier, bad) == []
    assert len(calls(carrier, bad)) == 4
    r = carrier.post("/__sandbox/carrier/faults", json={"permanent": True})
    assert r.status_code == 400, "permanent needs keys"


def test_delay_only_fault_slows_the_call_and_still_makes_the_line(carrier):
    key = purchase_id()
    carrier.post("/__sandbox/carrier/faults",
                 json={"fail_next": 1, "status": None, "delay_ms": 600, "keys": [key]})
    t0 = time.monotonic()
    r = activate(carrier, key)
    assert r.status_code == 201 and time.monotonic() - t0 >= 0.55
    [call] = calls(carrier, key)
    assert call["ended_at"] - call["at"] >= 0.55, call  # `at` is when the request arrived


def test_a_timed_out_call_still_makes_the_line_and_the_retry_replays_it(carrier, sbx):
    """As at a real carrier: the client gives up, the carrier finishes anyway."""
    key = purchase_id()
    carrier.post("/__sandbox/carrier/faults",
                 json={"fail_next": 1, "status": None, "delay_ms": 800, "keys": [key]})
    with httpx.Client(base_url=sbx.url, timeout=0.2,
                      headers={"Authorization": f"Bearer {KEY}"}) as c:
        with pytest.raises(httpx.TimeoutException):
            activate(c, key)
    time.sleep(1.0)
    r = activate(carrier, key)
    assert r.status_code == 200 and r.headers.get("idempotent-replayed") == "true", r.text
    assert len(lines(carrier, key)) == 1


def test_bad_fault_requests_are_400(carrier):
    for body in ({"fail_next": -1}, {"status": 42}, {"delay_ms": "x"}, {"keys": "in_1"},
                 {"permanent": "yes", "keys": ["a"]}):
        r = carrier.post("/__sandbox/carrier/faults", json=body)
        assert r.status_code == 400, (body, r.text)


def test_reset_forgets_calls_lines_and_faults(carrier):
    key = purchase_id()
    activate(carrier, key)
    carrier.post("/__sandbox/carrier/faults", json={"fail_next": 5})
    assert carrier.post("/__sandbox/reset").status_code == 200
    assert calls(carrier) == [] and lines(carrier) == []
    assert activate(carrier, key).status_code == 201  # no fault left, and a fresh line


# ---- lines: data top-ups and features (addressed by ICCID) ----------------------------------

def new_line(c: httpx.Client) -> dict:
    r = activate(c, purchase_id())
    assert r.status_code == 201, r.text
    return r.json()


def topup(c: httpx.Client, iccid: str, key: str | None, amount_mb=1024, reference=None,
          **body) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    payload = {"amount_mb": amount_mb, "reference": reference or f"ref-{uuid.uuid4().hex[:8]}",
               **body}
    return c.post(f"/v1/lines/{iccid}/data", json=payload, headers=headers)


def line_calls(c: httpx.Client, iccid: str | None = None) -> list[dict]:
    r = c.get("/__sandbox/carrier/line-calls", params={"iccid": iccid} if iccid else None)
    r.raise_for_status()
    return r.json()["data"]


def test_a_new_line_has_no_data_and_no_features(carrier):
    made = new_line(carrier)
    r = carrier.get(f"/v1/lines/{made['iccid']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"iccid": made["iccid"], "phone_number": made["phone_number"],
                        "status": "active", "data_balance_mb": 0, "features": [], "topups": []}
    r = carrier.get("/v1/lines/8910000000000000000")
    assert r.status_code == 404 and r.json()["error"]["code"] == "line_not_found", r.text
    # the activation's answer is what it was
    assert carrier.get(f"/v1/activations/{made['activation_id']}").json() == made


def test_topup_adds_once_per_idempotency_key(carrier):
    iccid = new_line(carrier)["iccid"]
    key = f"topup-{uuid.uuid4()}"
    first = topup(carrier, iccid, key, 500, "order-1")
    assert first.status_code == 201, first.text
    t = first.json()
    assert t["topup_id"] and t["iccid"] == iccid and t["amount_mb"] == 500
    assert t["reference"] == "order-1" and t["balance_mb"] == 500 and t["reversed"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t["created_at"]), t
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
    line = carrier.get(f"/v1/lines/{iccid}").json()
    assert line["data_balance_mb"] == 750
    assert [(x["reference"], x["amount_mb"], x["reversed"]) for x in line["topups"]] == \
        [("order-1", 500, False), ("order-2", 250, False)]


def test_concurrent_topups_with_one_key_add_once(carrier, sbx):
    iccid = new_line(carrier)["iccid"]
    key = f"topup-{uuid.uuid4()}"

    def one(_):
        with httpx.Client(base_url=sbx.url, timeout=30,
                          headers={"Authorization": f"Bearer {KEY}"}) as c:
            return topup(c, iccid, key, 100, "same")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(one, range(8)))
    assert sorted(r.status_code for r in rs) == [200] * 7 + [201]
    assert carrier.get(f"/v1/lines/{iccid}").json()["data_balance_mb"] == 100


def test_bad_topups_are_400_naming_the_field(carrier):
    iccid = new_line(carrier)["iccid"]
    for amount, ref, field in ((0, "r", "amount_mb"), (-5, "r", "amount_mb"),
                               (1048577, "r", "amount_mb"), ("10", "r", "amount_mb"),
                               (True, "r", "amount_mb"), (1.5, "r", "amount_mb"),
                               (10, "", "reference"), (10, "x" * 201, "reference"),
                               (10, 7, "reference")):
        r = carrier.post(f"/v1/lines/{iccid}/data", json={"amount_mb": amount, "reference": ref},
                         headers={"Idempotency-Key": f"k-{uuid.uuid4()}"})
        assert r.status_code == 400, (amount, ref, r.text)
        e = r.json()["error"]
        assert e["field"] == field and field in e["message"], (amount, ref, e)
    r = carrier.post(f"/v1/lines/{iccid}/data", json={"reference": "r"},
                     headers={"Idempotency-Key": "k-missing-amount"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "amount_mb"
    assert topup(carrier, iccid, None).status_code == 400, "Idempotency-Key is required"
    r = carrier.post(f"/v1/lines/{iccid}/data", content=b"nope",
                     headers={"Idempotency-Key": "k-not-json"})
    assert r.status_code == 400
    assert topup(carrier, iccid, f"k-{uuid.uuid4()}", 1048576).status_code == 201, "the maximum"
    assert topup(carrier, "8910000000000000000", "k-nowhere").status_code == 404
    assert carrier.get(f"/v1/lines/{iccid}").json()["data_balance_mb"] == 1048576


def test_reversal_takes_the_topup_back_once_and_never_below_zero(carrier):
    iccid = new_line(carrier)["iccid"]
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 300, "a")
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 200, "b/2")
    r = carrier.delete(f"/v1/lines/{iccid}/data/a")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["reversed"] is True and out["reference"] == "a" and out["balance_mb"] == 200
    again = carrier.delete(f"/v1/lines/{iccid}/data/a")
    assert again.status_code == 200 and again.json() == out
    assert carrier.get(f"/v1/lines/{iccid}").json()["data_balance_mb"] == 200
    # the balance never goes below zero (data already used up)
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 1000, "big")
    assert carrier.delete(f"/v1/lines/{iccid}/data/b%2F2").json()["balance_mb"] == 1000
    carrier.delete(f"/v1/lines/{iccid}/data/big")
    line = carrier.get(f"/v1/lines/{iccid}").json()
    assert line["data_balance_mb"] == 0
    assert [(x["reference"], x["reversed"]) for x in line["topups"]] == \
        [("a", True), ("b/2", True), ("big", True)]
    r = carrier.delete(f"/v1/lines/{iccid}/data/never")
    assert r.status_code == 404 and r.json()["error"]["code"] == "topup_not_found"
    # a reversed top-up's key still answers the top-up as it was made
    key = f"k-{uuid.uuid4()}"
    made = topup(carrier, iccid, key, 50, "late").json()
    carrier.delete(f"/v1/lines/{iccid}/data/late")
    replay = topup(carrier, iccid, key, 50, "late")
    assert replay.status_code == 200 and replay.json() == made
    assert carrier.get(f"/v1/lines/{iccid}").json()["data_balance_mb"] == 0


def test_features_are_switched_on_and_off_idempotently(carrier):
    iccid = new_line(carrier)["iccid"]
    for _ in range(2):
        r = carrier.put(f"/v1/lines/{iccid}/features/vpn_access")
        assert r.status_code == 200 and r.json() == {"iccid": iccid, "feature": "vpn_access",
                                                     "enabled": True}, r.text
    carrier.put(f"/v1/lines/{iccid}/features/network_security").raise_for_status()
    assert carrier.get(f"/v1/lines/{iccid}").json()["features"] == ["network_security",
                                                                    "vpn_access"]
    for _ in range(2):
        r = carrier.delete(f"/v1/lines/{iccid}/features/vpn_access")
        assert r.status_code == 200 and r.json() == {"iccid": iccid, "feature": "vpn_access",
                                                     "enabled": False}, r.text
    r = carrier.delete(f"/v1/lines/{iccid}/features/priority_routing")
    assert r.status_code == 200 and r.json()["enabled"] is False, "off when never on"
    assert carrier.get(f"/v1/lines/{iccid}").json()["features"] == ["network_security"]
    for f in ("network_monitoring", "performance_optimization", "priority_routing"):
        assert carrier.put(f"/v1/lines/{iccid}/features/{f}").status_code == 200
    r = carrier.put(f"/v1/lines/{iccid}/features/free_roaming")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_feature"
    r = carrier.put("/v1/lines/8910000000000000000/features/vpn_access")
    assert r.status_code == 404 and r.json()["error"]["code"] == "line_not_found"


def test_line_calls_are_recorded_and_lines_show_usage(carrier, sbx):
    made = new_line(carrier)
    iccid = made["iccid"]
    key = f"k-{uuid.uuid4()}"
    topup(carrier, iccid, key, 64, "rec")
    topup(carrier, iccid, key, 64, "rec")
    carrier.put(f"/v1/lines/{iccid}/features/vpn_access")
    carrier.delete(f"/v1/lines/{iccid}/data/rec")
    carrier.get(f"/v1/lines/{iccid}")
    r = httpx.get(f"{sbx.url}/v1/lines/{iccid}")
    assert r.status_code == 401, "Bearer auth, as /v1/activations"
    got = line_calls(carrier, iccid)
    assert [(c["method"], c["path"], c["status"], c["replayed"]) for c in got] == [
        ("POST", f"/v1/lines/{iccid}/data", 201, False),
        ("POST", f"/v1/lines/{iccid}/data", 200, True),
        ("PUT", f"/v1/lines/{iccid}/features/vpn_access", 200, False),
        ("DELETE", f"/v1/lines/{iccid}/data/rec", 200, False),
        ("GET", f"/v1/lines/{iccid}", 200, False),
        ("GET", f"/v1/lines/{iccid}", 401, False),
    ]
    assert got[0]["idempotency_key"] == key and got[0]["body"] == {"amount_mb": 64,
                                                                   "reference": "rec"}
    assert all(c["iccid"] == iccid and isinstance(c["at"], float) for c in got)
    assert got[2]["body"] is None and got[2]["idempotency_key"] is None
    # the activation calls' record is only activations
    assert all("activation_id" in c for c in calls(carrier))
    [rec] = [ln for ln in lines(carrier) if ln["iccid"] == iccid]
    assert rec["data_balance_mb"] == 0 and rec["features"] == ["vpn_access"]
    assert [(t["reference"], t["reversed"]) for t in rec["topups"]] == [("rec", True)]
    assert rec["activation_id"] == made["activation_id"], "the existing fields stay"


def test_reset_forgets_line_usage_and_line_calls(carrier):
    iccid = new_line(carrier)["iccid"]
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 10, "gone")
    assert line_calls(carrier)
    assert carrier.post("/__sandbox/reset").status_code == 200
    assert line_calls(carrier) == [] and lines(carrier) == []
    assert carrier.get(f"/v1/lines/{iccid}").status_code == 404


# ---- lines: data usage (GET /v1/lines/{iccid}/usage) and the consume test endpoint ------------

PLAN_MB = 1024
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def usage(c: httpx.Client, iccid: str) -> dict:
    r = c.get(f"/v1/lines/{iccid}/usage")
    assert r.status_code == 200, r.text
    return r.json()


def consume(c: httpx.Client, iccid: str, **body) -> httpx.Response:
    return c.post(f"/__sandbox/carrier/lines/{iccid}/consume", json=body)


def test_a_new_lines_usage_is_the_plans_1024_mb_unused(carrier):
    import calendar
    made = new_line(carrier)
    iccid = made["iccid"]
    before = time.time()
    u = usage(carrier, iccid)
    assert set(u) == {"iccid", "status", "data_total_mb", "data_used_mb", "data_remaining_mb",
                      "valid_until", "as_of"}, u
    assert u["iccid"] == iccid and u["status"] == "ACTIVE"
    assert (u["data_total_mb"], u["data_used_mb"], u["data_remaining_mb"]) == (PLAN_MB, 0, PLAN_MB)
    assert RFC3339_UTC.fullmatch(u["valid_until"]) and RFC3339_UTC.fullmatch(u["as_of"]), u
    stamp = lambda s: calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))  # noqa: E731
    assert stamp(u["valid_until"]) - stamp(made["created_at"]) == 30 * 86400, u
    assert before - 2 <= stamp(u["as_of"]) <= time.time() + 1, u
    # the line's own view keeps its fields and their meaning (top-ups only)
    assert carrier.get(f"/v1/lines/{iccid}").json()["data_balance_mb"] == 0
    [rec] = [ln for ln in lines(carrier) if ln["iccid"] == iccid]
    assert rec["usage"]["data_total_mb"] == PLAN_MB and rec["usage"]["data_used_mb"] == 0


def test_consume_by_mb_and_by_percent_advances_use_up_to_the_total(carrier):
    iccid = new_line(carrier)["iccid"]
    r = consume(carrier, iccid, mb=100)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["iccid"], out["status"]) == (iccid, "ACTIVE")
    assert (out["data_total_mb"], out["data_used_mb"], out["data_remaining_mb"]) == (1024, 100, 924)
    assert RFC3339_UTC.fullmatch(out["as_of"]) and RFC3339_UTC.fullmatch(out["valid_until"])
    u = usage(carrier, iccid)
    assert (u["data_used_mb"], u["data_remaining_mb"]) == (100, 924)
    # percent of the current total: 50 % of 1024 = 512, an integer or a float
    assert consume(carrier, iccid, percent=50).json()["data_used_mb"] == 612
    assert consume(carrier, iccid, percent=12.5).json()["data_used_mb"] == 740  # + 128
    # a fraction of a MB is rounded up (0.1 % of 1024 = 1.024 MB -> 2), exact ones are not
    assert consume(carrier, iccid, percent=0.1).json()["data_used_mb"] == 742
    # never above the total, never negative remaining, and consuming more changes nothing
    capped = consume(carrier, iccid, mb=10_000).json()
    assert (capped["data_used_mb"], capped["data_remaining_mb"]) == (1024, 0), capped
    assert consume(carrier, iccid, percent=500).json()["data_used_mb"] == 1024
    assert (usage(carrier, iccid)["data_used_mb"], usage(carrier, iccid)["data_remaining_mb"]) \
        == (1024, 0)


def test_percent_thresholds_land_on_the_percent(carrier):
    iccid = new_line(carrier)["iccid"]
    assert consume(carrier, iccid, percent=75).json()["data_used_mb"] == 768  # exactly 75 %
    iccid = new_line(carrier)["iccid"]
    used = consume(carrier, iccid, percent=90).json()["data_used_mb"]
    assert used == 922 and used * 100 >= 90 * 1024  # 921.6 rounded up: at least 90 %


def test_topups_raise_the_total_and_reversals_lower_it(carrier):
    iccid = new_line(carrier)["iccid"]
    consume(carrier, iccid, mb=1000)
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 10240, "gb10")
    u = usage(carrier, iccid)
    assert (u["data_total_mb"], u["data_used_mb"], u["data_remaining_mb"]) == \
        (1024 + 10240, 1000, 10264), u
    # percent is of the current total
    assert consume(carrier, iccid, percent=10).json()["data_used_mb"] == 1000 + 1127  # 1126.4 up
    topup(carrier, iccid, f"k-{uuid.uuid4()}", 500, "half")
    assert usage(carrier, iccid)["data_total_mb"] == 11764
    r = carrier.delete(f"/v1/lines/{iccid}/data/gb10")
    assert r.status_code == 200, r.text
    u = usage(carrier, iccid)
    assert (u["data_total_mb"], u["data_used_mb"], u["data_remaining_mb"]) == (1524, 2127, 0), u
    # used above the total (after the reversal) is not lowered by consuming more
    assert consume(carrier, iccid, mb=1).json()["data_used_mb"] == 2127
    # the top-up balance keeps its meaning: the top-ups only
    assert carrier.get(f"/v1/lines/{iccid}").json()["data_balance_mb"] == 500


def test_usage_calls_are_recorded_in_line_calls_and_consume_is_not(carrier, sbx):
    iccid = new_line(carrier)["iccid"]
    usage(carrier, iccid)
    consume(carrier, iccid, mb=5)
    usage(carrier, iccid)
    r = httpx.get(f"{sbx.url}/v1/lines/{iccid}/usage")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
    r = httpx.get(f"{sbx.url}/v1/lines/{iccid}/usage", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401, r.text
    got = line_calls(carrier, iccid)
    path = f"/v1/lines/{iccid}/usage"
    assert [(c["method"], c["path"], c["iccid"], c["status"]) for c in got] == [
        ("GET", path, iccid, 200), ("GET", path, iccid, 200), ("GET", path, iccid, 401),
        ("GET", path, iccid, 401)]
    assert sum(c["status"] == 200 and c["path"].endswith("/usage") for c in got) == 2


def test_usage_and_consume_of_an_unknown_line_are_404(carrier):
    nowhere = "8910000000000000000"
    r = carrier.get(f"/v1/lines/{nowhere}/usage")
    assert r.status_code == 404 and r.json()["error"]["code"] == "line_not_found", r.text
    assert [c["status"] for c in line_calls(carrier, nowhere) if c["path"].endswith("/usage")][-1] \
        == 404
    r = consume(carrier, nowhere, mb=1)
    assert r.status_code == 404 and r.json()["error"]["code"] == "line_not_found", r.text


def test_bad_consume_bodies_are_400_naming_the_field(carrier):
    iccid = new_line(carrier)["iccid"]
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


def test_reset_forgets_usage(carrier):
    iccid = new_line(carrier)["iccid"]
    consume(carrier, iccid, mb=300)
    assert carrier.post("/__sandbox/reset").status_code == 200
    assert carrier.get(f"/v1/lines/{iccid}/usage").status_code == 404
    assert consume(carrier, iccid, mb=1).status_code == 404
    fresh = new_line(carrier)["iccid"]
    u = usage(carrier, fresh)
    assert (u["data_total_mb"], u["data_used_mb"]) == (PLAN_MB, 0)


def test_the_stacks_sandbox_serves_the_carrier_with_the_stacks_key():
    url = os.environ.get("DOTM_SANDBOX_URL")
    if not url:
        pytest.skip("DOTM_SANDBOX_URL is not set (run under `make test`)")
    key = os.environ.get("OXIO_API_KEY", "oxio_test_local")
    pid = purchase_id()
    r = httpx.post(f"{url}/v1/activations", json={"customer_ref": "sandbox-test", "plan": "probe"},
                   headers={"Authorization": f"Bearer {key}", "Idempotency-Key": pid}, timeout=30)
    assert r.status_code == 201, r.text
    got = httpx.get(f"{url}/__sandbox/carrier/calls", params={"key": pid}, timeout=30).json()
    assert [c["status"] for c in got["calls"]] == [201]


def test_the_fulfilment_secret_carries_the_carrier_key_the_sandbox_accepts():
    import json

    import boto3
    missing = [v for v in ("AWS_ENDPOINT_URL", "FULFILMENT_SECRET_ID") if not os.environ.get(v)]
    if missing:
        pytest.skip(f"{missing} not set (run under `make test`)")
    sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                      region_name=os.environ.get("AWS_REGION", "us-east-1"))
    value = json.loads(sm.get_secret_value(SecretId=os.environ["FULFILMENT_SECRET_ID"])["SecretString"])
    assert value["oxio_api_key"] == os.environ.get("OXIO_API_KEY", "oxio_test_local")
    assert os.environ["CARRIER_API_BASE"] == os.environ["DOTM_SANDBOX_URL"].rstrip("/")
    r = httpx.post(f"{os.environ['CARRIER_API_BASE']}/v1/activations",
                   json={"customer_ref": "secret-test", "plan": "probe"},
                   headers={"Authorization": f"Bearer {value['oxio_api_key']}",
                            "Idempotency-Key": purchase_id()}, timeout=30)
    assert r.status_code == 201, r.text
