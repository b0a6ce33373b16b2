"""Helpers for the DOTM rewards end-to-end tests (issue 6): the API (`PUT /api/wallet`,
`GET /api/rewards`), paid purchases of any product as signed Stripe `invoice.paid` events posted
to /webhooks/stripe, and the stack's chain (the DOTM contract that the functions mint on, its
`RewardMinted` logs, the minter's transactions).

The chain and the queue are the ones that the stack under test was started with: CHAIN_RPC_URL,
DOTM_TOKEN_ADDRESS, DOTM_MINTER_ADDRESS, DOTM_OWNER_ADDRESS, AWS_ENDPOINT_URL and
ACTIVATION_QUEUE_URL, as `make test` exports them (infra/scripts/providers.sh, chain.sh).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils import to_checksum_address

from conftest import User

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "infra" / "chain"))
from ethrpc import Abi, Contract, Reverted, Rpc, load_artifact, new_account  # noqa: E402,F401

DOTM = 10**18
MILLI = 10**15
BONUS_WEI = 10_330 * MILLI  # 10.33 DOTM once per member
MAX_SUPPLY = 10_333_333 * DOTM
REWARD_KINDS = {"cashback", "new_member_bonus", "founding_member"}


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests against a stack that `make test` started "
                    "(infra/scripts/providers.sh exports it)")
    return value


# --------------------------------------------------------------------------- chain


@pytest.fixture(scope="session")
def rpc() -> Rpc:
    r = Rpc(env("CHAIN_RPC_URL"))
    assert r.chain_id() == 31337, "not the local anvil"
    return r


@pytest.fixture(scope="session")
def token(rpc: Rpc) -> Contract:
    return Contract(rpc, env("DOTM_TOKEN_ADDRESS"), Abi(load_artifact()["abi"]))


@pytest.fixture(scope="session")
def minter_address() -> str:
    return to_checksum_address(env("DOTM_MINTER_ADDRESS"))


def new_wallet() -> str:
    """A fresh random address in EIP-55 form (nobody else ever receives DOTM there)."""
    return new_account().address


def _topic_address(address: str) -> str:
    return "0x" + "00" * 12 + address.lower().removeprefix("0x")


def reward_minted_logs(rpc: Rpc, token: Contract, *, to: str | None = None,
                       reward_id: str | None = None) -> list[dict[str, Any]]:
    """Every `RewardMinted(rewardId, to, amount)` of the token since block 0, filtered by the
    indexed reward id and/or recipient: [{reward_id, to, amount, tx_hash, block}]."""
    topic0 = token.abi.event_topic("RewardMinted")
    topics: list[Any] = [topic0, reward_id.lower() if reward_id else None,
                         _topic_address(to) if to else None]
    logs = rpc("eth_getLogs", {"address": token.address, "fromBlock": "0x0", "toBlock": "latest",
                               "topics": topics})
    out = []
    for log in logs:
        out.append({
            "reward_id": log["topics"][1].lower(),
            "to": to_checksum_address("0x" + log["topics"][2][-40:]),
            "amount": int(log["data"], 16),
            "tx_hash": log["transactionHash"].lower(),
            "block": int(log["blockNumber"], 16),
        })
    return out


def transactions_from(rpc: Rpc, sender: str) -> list[dict[str, Any]]:
    """Every mined transaction sent by `sender`, over the whole chain (anvil: small)."""
    head = int(rpc("eth_blockNumber"), 16)
    sender = sender.lower()
    txs = []
    for n in range(head + 1):
        block = rpc("eth_getBlockByNumber", hex(n), True)
        txs.extend(tx for tx in block["transactions"] if tx["from"].lower() == sender)
    return txs


# --------------------------------------------------------------------------- API


def put_wallet(http: httpx.Client, user: User, wallet: str) -> httpx.Response:
    return http.put("/api/wallet", headers=user.auth, json={"wallet": wallet})


def set_wallet(http: httpx.Client, user: User, wallet: str) -> dict[str, Any]:
    r = put_wallet(http, user, wallet)
    assert r.status_code == 200, (wallet, r.status_code, r.text)
    body = r.json()
    assert body == {"success": True, "wallet": to_checksum_address(wallet)}, body
    return body


def register(http: httpx.Client, user: User) -> dict[str, Any]:
    """POST /api/me: makes the member (201 the first time, with the sign-up bonus; 200 after)."""
    r = http.post("/api/me", headers=user.auth)
    assert r.status_code in (200, 201), (r.status_code, r.text)
    body = r.json()
    assert body["uid"] == user.uid and body["registered"] is True, body
    return body


def get_rewards(http: httpx.Client, user: User) -> dict[str, Any]:
    r = http.get("/api/rewards", headers=user.auth)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    for key in ("wallet", "balance", "balance_wei", "pending", "minted", "refused"):
        assert key in body, (key, body)
    for status in ("pending", "minted", "refused"):
        for reward in body[status]:
            check_reward_shape(reward, status)
    return body


def check_reward_shape(reward: dict[str, Any], status: str) -> None:
    assert reward["status"] == status, reward
    assert reward["kind"] in REWARD_KINDS, reward
    assert isinstance(reward["amount_wei"], str) and reward["amount_wei"].isdigit(), reward
    assert dotm_string(int(reward["amount_wei"])) == reward["amount"], reward
    rid = reward["reward_id"]
    assert rid.startswith("0x") and len(rid) == 66 and int(rid, 16) >= 0, reward
    assert reward["created_at"] and reward["source"], reward
    if status == "minted":
        tx = reward["tx_hash"]
        # A reward found already paid on chain may have no hash of its own (then a reason).
        assert (tx and tx.startswith("0x") and len(tx) == 66) or reward["reason"], reward
    else:
        assert reward["tx_hash"] is None, reward
    if status == "refused":
        assert reward["reason"], reward


def all_rewards(view: dict[str, Any]) -> list[dict[str, Any]]:
    return view["pending"] + view["minted"] + view["refused"]


def dotm_string(wei: int) -> str:
    """10330000000000000000 -> "10.33" (as the API writes DOTM amounts)."""
    whole, frac = divmod(wei, DOTM)
    if frac == 0:
        return str(whole)
    return f"{whole}.{str(frac).rjust(18, '0').rstrip('0')}"


def wait_rewards(http: httpx.Client, user: User, done: Callable[[dict[str, Any]], bool],
                 timeout: float, what: str) -> dict[str, Any]:
    """Polls GET /api/rewards until `done(view)`; fails with the last view after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        view = get_rewards(http, user)
        if done(view):
            return view
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout}s, {what}: {json.dumps(view, indent=1)}")
        time.sleep(0.5)


def settled(count: int) -> Callable[[dict[str, Any]], bool]:
    """Nothing pending and `count` rewards settled (minted or refused)."""
    return lambda v: not v["pending"] and len(v["minted"]) + len(v["refused"]) == count


# --------------------------------------------------------------------------- purchases


def stripe_signature(secret: str, body: bytes, t: int | None = None) -> str:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _table():
    import boto3

    return boto3.resource(
        "dynamodb", endpoint_url=env("AWS_ENDPOINT_URL"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    ).Table(env("TABLE_NAME"))


def seed_claim(uid: str, product: str, amount_cents: int, invoice_id: str, customer: str) -> None:
    """What DOTM writes when it makes an invoice (an order of `product` and the claim the webhook
    matches), written here directly: these tests are about what a paid invoice credits, at any
    amount, not about placing the order (tests/test_commerce.py does that through the API)."""
    pays: dict[str, Any] = {"kind": "esim"}
    table = _table()

    def put_new(item: dict[str, Any]) -> None:
        try:  # a second event for the same invoice finds DOTM's records as they are
            table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except table.meta.client.exceptions.ConditionalCheckFailedException:
            pass

    if product != "esim_beta":
        order_id = f"ord_rw{invoice_id[5:]}"
        pays = {"kind": "order", "order_id": order_id}
        put_new({
            "pk": f"USER#{uid}", "sk": f"ORDER#{order_id}", "order_id": order_id, "uid": uid,
            "lines": [{"service_id": product, "name": product, "quantity": 1,
                       "unit_cents": amount_cents, "amount_cents": amount_cents,
                       "billing": "one-time"}],
            "one_time_cents": amount_cents, "currency": "usd", "status": "open",
            "payments": [], "fingerprint": f"rw-{invoice_id}",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
    put_new({
        "pk": f"INVOICE#{invoice_id}", "sk": "ORDER", "invoice_id": invoice_id, "uid": uid,
        "customer_id": customer, "amount_cents": amount_cents, "currency": "usd", "pays": pays,
        "state": "open",
    })


def paid_event(uid: str, product: str, amount_cents: int, *, invoice_id: str | None = None,
               event_id: str | None = None) -> bytes:
    """The bytes of a Stripe `invoice.paid` event for a DOTM invoice, as Stripe would send,
    after the records DOTM keeps for such an invoice (see `seed_claim`)."""
    now = int(time.time())
    invoice_id = invoice_id or f"in_rw{uuid.uuid4().hex[:20]}"
    customer = f"cus_rw{hashlib.sha256(uid.encode()).hexdigest()[:12]}"
    seed_claim(uid, product, amount_cents, invoice_id, customer)
    event = {
        "id": event_id or f"evt_rw{uuid.uuid4().hex[:20]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "type": "invoice.paid",
        "livemode": False,
        "data": {"object": {
            "id": invoice_id,
            "object": "invoice",
            "customer": customer,
            "amount_due": amount_cents,
            "amount_paid": amount_cents,
            "currency": "usd",
            "status": "paid",
            "created": now - 60,
            "metadata": {"firebase_uid": uid, "product": product},
            "status_transitions": {"paid_at": now},
        }},
    }
    return json.dumps(event, indent=2).encode()


def invoice_of(body: bytes) -> str:
    return json.loads(body)["data"]["object"]["id"]


def deliver(http: httpx.Client, secret: str, body: bytes) -> httpx.Response:
    """POST /webhooks/stripe with a fresh, valid signature; the webhook must accept it."""
    r = http.post("/webhooks/stripe", content=body,
                  headers={"Content-Type": "application/json; charset=utf-8",
                           "Stripe-Signature": stripe_signature(secret, body)})
    assert r.status_code in range(200, 300), (r.status_code, r.text)
    return r


def buy(http: httpx.Client, secret: str, user: User, product: str, amount_cents: int) -> str:
    """A paid purchase of `product` by `user`; returns the invoice (purchase) id."""
    body = paid_event(user.uid, product, amount_cents)
    deliver(http, secret, body)
    return invoice_of(body)


# --------------------------------------------------------------------------- the job queue


def wait_queue_idle(timeout: float = 60.0) -> None:
    """Waits until the activation queue (mint jobs travel on it) has no message visible or in
    flight, twice in a row half a second apart: every job sent so far has been handled."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=env("AWS_ENDPOINT_URL"),
                       region_name=os.environ.get("AWS_REGION", "us-east-1"),
                       aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                       aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
    url = env("ACTIVATION_QUEUE_URL")
    deadline = time.monotonic() + timeout
    idle_in_a_row = 0
    while True:
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                          "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        busy = int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"])
        idle_in_a_row = idle_in_a_row + 1 if busy == 0 else 0
        if idle_in_a_row >= 2:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the activation queue is still busy after {timeout}s: {attrs}")
        time.sleep(0.5)
