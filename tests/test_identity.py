"""Sign-in against the running stack: Firebase ID tokens from the provider sandbox, verified by
the functions (RS256 only, current kid, Firebase iss/aud, exp/iat, sub), users made on first call,
and identity taken from the token only (issue 4)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from conftest import Mcp, User, sandbox_token


def assert_unauthorized(r: httpx.Response, *, invalid_token: bool) -> None:
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    problem = r.json()
    assert problem["status"] == 401 and problem.get("type") and problem.get("title"), problem
    challenge = r.headers.get("www-authenticate", "")
    assert challenge.startswith('Bearer realm="dotm"'), challenge
    if invalid_token:
        assert 'error="invalid_token"' in challenge, challenge


def parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- valid tokens


def test_reading_me_writes_nothing_and_registering_creates_the_user_once(
        http: httpx.Client, new_user) -> None:
    user: User = new_user()
    seen = http.get("/api/me", headers=user.auth)
    assert seen.status_code == 200, seen.text
    assert seen.json() == {"uid": user.uid, "email": user.email, "contact_email": None,
                           "registered": False, "created_at": None, "stripe_customer_id": None,
                           "wallet": None, "roles": [], "member_until": None, "beta": None,
                           "lines": 0}, seen.json()
    assert http.get("/api/rewards", headers=user.auth).json()["pending"] == []
    assert http.get("/api/me", headers=user.auth).json()["registered"] is False

    first = http.post("/api/me", headers=user.auth)
    assert first.status_code == 201, first.text
    me = first.json()
    assert me["uid"] == user.uid and me["email"] == user.email and me["registered"] is True
    created = parse_time(me["created_at"])
    assert abs(created.timestamp() - time.time()) < 120, me

    again = http.post("/api/me", headers=user.auth)
    assert again.status_code == 200, again.text
    assert again.json()["created_at"] == me["created_at"], (me, again.json())
    assert http.get("/api/me", headers=user.auth).json()["created_at"] == me["created_at"]


def test_two_people_are_two_users(http: httpx.Client, new_user) -> None:
    a, b = new_user(), new_user()
    assert http.get("/api/me", headers=a.auth).json()["uid"] == a.uid
    assert http.get("/api/me", headers=b.auth).json()["uid"] == b.uid


def test_first_purchases_list_is_empty(http: httpx.Client, new_user) -> None:
    user = new_user()
    r = http.get("/api/user-purchases", headers=user.auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "purchases": []}


# --------------------------------------------------------------------------- no or bad tokens


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/me"), ("GET", "/api/user-purchases"), ("POST", "/api/esim/activate")],
)
def test_no_token_is_401_with_a_bearer_challenge(http: httpx.Client, method: str, path: str) -> None:
    r = http.request(method, path, json={} if method == "POST" else None)
    assert_unauthorized(r, invalid_token=False)


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer a.b.c"],
    ids=["empty-bearer", "garbage", "basic-auth", "three-garbage-parts"],
)
def test_malformed_authorization_is_401(http: httpx.Client, header: str) -> None:
    r = http.get("/api/me", headers={"Authorization": header})
    assert r.status_code == 401, (header, r.status_code, r.text)
    assert r.headers.get("www-authenticate", "").startswith('Bearer realm="dotm"'), r.headers


def bad_token_overrides() -> dict[str, dict[str, Any]]:
    """What each bad token changes in a good one (times taken at the call, not at collection)."""
    now = int(time.time())
    return {
        # issued 70 min ago for 60 min: expired 10 min ago (far beyond any clock skew)
        "expired": {"iat": now - 4200, "ttl_seconds": 3600},
        "wrong-aud": {"claims": {"aud": "someone-elses-project"}},
        "wrong-iss": {"claims": {"iss": "https://securetoken.google.com/someone-elses-project"}},
        "iss-not-securetoken": {"claims": {"iss": "https://accounts.google.com"}},
        "bad-signature": {"sign_with": "foreign"},
        "unknown-kid": {"kid": "no-such-key-" + uuid.uuid4().hex},
        "alg-none": {"alg": "none"},
        "hs256-key-confusion": {"alg": "HS256"},
        "issued-in-the-future": {"iat": now + 3600},
        "no-sub": {"claims": {"sub": None}},
        "empty-sub": {"claims": {"sub": ""}},
        "sub-over-128-chars": {"claims": {"sub": "x" * 129}},
    }


@pytest.mark.parametrize("case", list(bad_token_overrides()))
def test_bad_token_is_401_invalid_token(http: httpx.Client, sandbox: httpx.Client, case: str) -> None:
    uid = f"t{uuid.uuid4().hex}"
    overrides = bad_token_overrides()[case]
    token = sandbox_token(sandbox, uid=uid, email=f"{uid}@example.test", **overrides)
    r = http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(r, invalid_token=True)
    # and nothing else accepts it either
    r = http.post("/api/esim/activate", headers={"Authorization": f"Bearer {token}"}, json={})
    assert_unauthorized(r, invalid_token=True)


def test_bad_token_cases_differ_from_a_good_one_only_in_the_defect(http: httpx.Client,
                                                                    sandbox: httpx.Client) -> None:
    """The control for the cases above: the same request with an untampered token passes."""
    uid = f"t{uuid.uuid4().hex}"
    token = sandbox_token(sandbox, uid=uid, email=f"{uid}@example.test")
    r = http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["uid"] == uid


# --------------------------------------------------------------------------- MCP


def test_mcp_activate_esim_without_token_asks_to_sign_in(mcp: Mcp) -> None:
    # HTTP 401 with the resource metadata (test_oauth.py checks the challenge): the SDK
    # without an OAuth provider reports it as an error rather than a tool result.
    with pytest.raises(Exception) as refused:
        mcp.call("activate_esim", {"email": "someone@example.test"})
    text = repr(refused.value)
    assert "401" in text or "nauthorized" in text or "sign-in required" in text, text


def test_mcp_activate_esim_with_bad_token_is_refused(mcp: Mcp, sandbox: httpx.Client) -> None:
    uid = f"t{uuid.uuid4().hex}"
    token = sandbox_token(sandbox, uid=uid, email=f"{uid}@example.test", sign_with="foreign")
    try:
        result = mcp.call("activate_esim", {}, token=token)
    except Exception as e:  # an HTTP 401 at the transport is a refusal too
        text = repr(e)
        assert "401" in text or "nauthorized" in text or "token was refused" in text, text
        return
    assert result.is_error, result
    assert result.structured_content is None or "invoice_url" not in result.structured_content


# --------------------------------------------------------------------------- identity from the token only


def test_activate_for_another_uid_and_email_acts_for_the_token_user(
    http: httpx.Client, sandbox: httpx.Client, new_user
) -> None:
    a, b = new_user(), new_user()
    http.post("/api/me", headers=b.auth).raise_for_status()  # B exists

    r = http.post("/api/esim/activate", headers=a.auth, json={"firebase_uid": b.uid, "email": b.email})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["status"] == "payment_required", answer

    a_invoices = sandbox.get("/__sandbox/stripe/invoices", params={"customer_email": a.email}).json()["data"]
    b_invoices = sandbox.get("/__sandbox/stripe/invoices", params={"customer_email": b.email}).json()["data"]
    assert [i["id"] for i in a_invoices] == [answer["invoice_id"]], a_invoices
    assert b_invoices == [], b_invoices
    customers = sandbox.get("/__sandbox/stripe/customers", params={"email": a.email}).json()["data"]
    assert [c["metadata"].get("firebase_uid") for c in customers] == [a.uid], customers

    # Paying it makes A's purchase, never B's.
    paid = sandbox.post(f"/__sandbox/stripe/invoices/{answer['invoice_id']}/pay", json={})
    assert paid.status_code == 200 and paid.json()["delivery"]["ok"], paid.text
    a_purchases = http.get("/api/user-purchases", headers=a.auth).json()["purchases"]
    assert [p["purchase_id"] for p in a_purchases] == [answer["invoice_id"]], a_purchases
    assert http.get("/api/user-purchases", headers=b.auth).json() == {"success": True, "purchases": []}
    b_state = http.post("/api/esim/activate", headers=b.auth, json={}).json()
    assert b_state["status"] == "payment_required", b_state
    assert b_state["invoice_id"] != answer["invoice_id"], b_state

    me_a = http.get("/api/me", headers=a.auth).json()
    assert me_a["uid"] == a.uid and me_a["email"] == a.email, me_a
