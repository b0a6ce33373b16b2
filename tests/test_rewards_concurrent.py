"""DOTM rewards end to end (issue 6, "done when" 4): 20 mint jobs at once (20 members, each with
a sign-up bonus and a purchase's cashback pending, set their wallets concurrently) all land, none
twice, and no receipt hangs: every reward is minted within a bounded time in a transaction of
its own, every reward id appears exactly once among the contract's `RewardMinted` logs, and the
minter's nonce equals the number of its mined transactions (no gap, nothing stuck)."""

from __future__ import annotations

import concurrent.futures
import time

import httpx

from conftest import User
from rewards_support import (  # noqa: F401  (fixtures)
    BONUS_WEI,
    MILLI,
    Contract,
    Rpc,
    buy,
    get_rewards,
    minter_address,
    new_wallet,
    put_wallet,
    register,
    reward_minted_logs,
    rpc,
    token,
    transactions_from,
    wait_queue_idle,
)

USERS = 20
MINT_DEADLINE_S = 120  # 40 mints, one at a time under the minter lease


def test_twenty_concurrent_mint_jobs_all_land_once(
    base_url: str, http: httpx.Client, webhook_secret: str, new_user, rpc: Rpc, token: Contract,
    minter_address: str,
) -> None:
    users: list[User] = [new_user() for _ in range(USERS)]
    wallets = {u.uid: new_wallet() for u in users}
    purchases = {}
    for u in users:
        register(http, u)
        purchases[u.uid] = buy(http, webhook_secret, u, "global_data_10gb", 2000)  # joins
    expected = {}  # reward id -> (wallet, wei)
    for u in users:
        view = get_rewards(http, u)
        assert view["minted"] == [] and len(view["pending"]) == 2, view
        for r in view["pending"]:
            expected[r["reward_id"].lower()] = (wallets[u.uid], int(r["amount_wei"]))
    assert len(expected) == 2 * USERS
    assert sorted({w for _, w in expected.values()}) == [2066 * MILLI, BONUS_WEI]

    nonce_before = int(rpc("eth_getTransactionCount", minter_address, "latest"), 16)

    def set_wallet(u: User) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=120) as c:
            return put_wallet(c, u, wallets[u.uid])

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=USERS) as pool:
        answers = list(pool.map(set_wallet, users))
    assert [a.status_code for a in answers] == [200] * USERS, [(a.status_code, a.text) for a in answers]

    views: dict[str, dict] = {}
    deadline = t0 + MINT_DEADLINE_S
    while len(views) < USERS:
        for u in users:
            if u.uid in views:
                continue
            view = get_rewards(http, u)
            assert view["refused"] == [], view
            if not view["pending"]:
                views[u.uid] = view
        if time.monotonic() > deadline:
            late = {u.uid: get_rewards(http, u) for u in users if u.uid not in views}
            raise AssertionError(f"{len(late)} of {USERS} members still have pending rewards "
                                 f"{MINT_DEADLINE_S}s after their wallets were set: {late}")
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    print(f"{2 * USERS} rewards minted {elapsed:.1f}s after {USERS} concurrent PUT /api/wallet")

    # Every reward minted, each in a transaction of its own, to its member's wallet.
    minted = [r for v in views.values() for r in v["minted"]]
    assert len(minted) == 2 * USERS, views
    assert {r["reward_id"].lower() for r in minted} == set(expected)
    hashes = [r["tx_hash"].lower() for r in minted]
    assert all(hashes) and len(set(hashes)) == 2 * USERS, minted
    for u in users:
        v = views[u.uid]
        assert v["wallet"] == wallets[u.uid], v
        assert v["balance_wei"] == str(2066 * MILLI + BONUS_WEI), v
        assert token.call("balanceOf", wallets[u.uid]) == 2066 * MILLI + BONUS_WEI, u

    # No mint job left behind that could still mint something twice, then the chain's record.
    wait_queue_idle(60)
    by_id: dict[str, list[dict]] = {}
    for log in reward_minted_logs(rpc, token):
        by_id.setdefault(log["reward_id"], []).append(log)
    tx_of = {r["reward_id"].lower(): r["tx_hash"].lower() for r in minted}
    for rid, (wallet, wei) in expected.items():
        logs = by_id.get(rid, [])
        assert len(logs) == 1, (rid, logs)
        assert (logs[0]["to"], logs[0]["amount"], logs[0]["tx_hash"]) == (wallet, wei, tx_of[rid])
    for h in hashes:
        receipt = rpc("eth_getTransactionReceipt", h)
        assert receipt is not None and int(receipt["status"], 16) == 1, (h, receipt)

    # The minter's nonces: one per mined transaction, none skipped, none waiting in the pool.
    latest = int(rpc("eth_getTransactionCount", minter_address, "latest"), 16)
    pending = int(rpc("eth_getTransactionCount", minter_address, "pending"), 16)
    mined = transactions_from(rpc, minter_address)
    assert latest == pending, (latest, pending, rpc("txpool_content"))
    assert latest == len(mined), (latest, len(mined))
    assert sorted(int(tx["nonce"], 16) for tx in mined) == list(range(latest))
    assert latest - nonce_before == 2 * USERS, (nonce_before, latest)
    pool = rpc("txpool_status")
    assert int(pool["pending"], 16) == 0 and int(pool["queued"], 16) == 0, pool
