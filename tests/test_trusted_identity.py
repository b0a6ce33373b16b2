"""Trusted identities (issue 11): only a verified email is claimed, an anonymous sign-in can
neither buy nor earn, and the new-member bonus is paid once per person and once per wallet
(joining = a first paid purchase with a verified email), through the running stack."""

from __future__ import annotations

import uuid

import httpx

from conftest import User, sandbox_token
from rewards_support import (  # noqa: F401  (fixtures)
    BONUS_WEI,
    Contract,
    Rpc,
    buy,
    get_rewards,
    new_wallet,
    rpc,
    set_wallet,
    token,
    wait_rewards,
)

SMALL_WEI = 309_900_000_000_000_000  # 10.33 % of $3


def fresh_uid() -> str:
    return f"t{uuid.uuid4().hex}"


def test_an_unverified_email_neither_claims_the_address_nor_blocks_its_verified_owner(
        http: httpx.Client, sandbox: httpx.Client) -> None:
    address = f"{fresh_uid()}@example.test"
    stranger = {"Authorization": "Bearer " + sandbox_token(
        sandbox, uid=fresh_uid(), email=address, email_verified=False)}
    r = http.post("/api/me", headers=stranger)
    assert r.status_code == 201, r.text
    assert r.json()["email"] is None and r.json()["contact_email"] == address, r.json()
    # No invoice goes to an address nobody verified.
    r = http.post("/api/esim/activate", headers=stranger, json={})
    assert r.status_code == 422 and r.json()["type"] == "urn:dotm:problem:no-email", r.text
    assert "verified" in r.json()["detail"], r.json()
    invoices = sandbox.get("/__sandbox/stripe/invoices", params={"customer_email": address})
    assert invoices.json()["data"] == [], invoices.json()

    owner_uid = fresh_uid()
    owner = {"Authorization": "Bearer " + sandbox_token(sandbox, uid=owner_uid, email=address)}
    r = http.post("/api/me", headers=owner)
    assert r.status_code == 201, r.text
    assert r.json()["email"] == address, r.json()
    r = http.post("/api/esim/activate", headers=owner, json={})
    assert r.status_code == 200 and r.json()["status"] == "payment_required", r.text


def test_an_anonymous_sign_in_can_look_but_not_buy_or_earn(http: httpx.Client,
                                                          sandbox: httpx.Client) -> None:
    anon = {"Authorization": "Bearer " + sandbox_token(sandbox, uid=fresh_uid(), anonymous=True)}
    assert http.get("/api/me", headers=anon).status_code == 200
    for method, path, body in [("POST", "/api/esim/activate", {}),
                               ("PUT", "/api/wallet", {"wallet": new_wallet()})]:
        r = http.request(method, path, headers=anon, json=body)
        assert r.status_code == 403, (path, r.status_code, r.text)
        assert r.json()["type"] == "urn:dotm:problem:anonymous", r.json()
    assert http.get("/api/me", headers=anon).json()["registered"] is False


def test_ten_accounts_on_one_wallet_get_one_bonus(http: httpx.Client, sandbox: httpx.Client,
                                                  webhook_secret: str, token: Contract) -> None:
    wallet = new_wallet()
    users = []
    for _ in range(10):
        uid = fresh_uid()
        email = f"{uid}@example.test"
        users.append(User(uid, email, sandbox_token(sandbox, uid=uid, email=email)))
    for u in users:
        set_wallet(http, u, wallet)
        buy(http, webhook_secret, u, "performance_optimization", 300)
    views = [wait_rewards(http, u, lambda v: not v["pending"] and len(v["minted"]) + len(
        v["refused"]) == 2, 60, "rewards not settled") for u in users]
    bonuses = [r for v in views for r in v["minted"] if r["kind"] == "new_member_bonus"]
    refused = [r for v in views for r in v["refused"]]
    assert len(bonuses) == 1, views
    assert len(refused) == 9 and all(r["kind"] == "new_member_bonus" for r in refused), refused
    assert all("already received" in r["reason"] for r in refused), refused
    assert token.call("balanceOf", wallet) == BONUS_WEI + 10 * SMALL_WEI


def test_registering_earns_nothing_and_joining_earns_the_bonus_once(
        http: httpx.Client, webhook_secret: str, new_user) -> None:
    user: User = new_user()
    assert http.post("/api/me", headers=user.auth).status_code == 201
    assert get_rewards(http, user)["pending"] == []
    first = buy(http, webhook_secret, user, "performance_optimization", 300)
    second = buy(http, webhook_secret, user, "performance_optimization", 300)
    kinds = sorted((r["kind"], r["source"]) for r in get_rewards(http, user)["pending"])
    assert kinds == sorted([("cashback", first), ("cashback", second),
                            ("new_member_bonus", "signup")]), kinds
