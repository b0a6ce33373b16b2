"""DOTM rewards end to end (issue 6, "done when" 1): a $20 purchase by a user with a wallet ends
with exactly 2.066 DOTM cashback minted to that wallet (besides the 10.33 DOTM sign-up bonus),
visible through `GET /api/rewards` and on chain; a redelivered event and a second mint job mint
nothing more, and the contract itself refuses the replayed reward id.

Purchases are signed `invoice.paid` events posted to /webhooks/stripe, as Stripe sends them."""

from __future__ import annotations

import time

import httpx
import pytest

from conftest import User
from rewards_support import (  # noqa: F401  (fixtures)
    BONUS_WEI,
    MILLI,
    Contract,
    Reverted,
    Rpc,
    deliver,
    get_rewards,
    invoice_of,
    minter_address,
    new_wallet,
    paid_event,
    reward_minted_logs,
    rpc,
    set_wallet,
    settled,
    token,
    wait_queue_idle,
    wait_rewards,
)

CASHBACK_WEI = 2066 * MILLI  # 10.33 % of $20 at 1 DOTM = $1


def by_kind(rewards: list[dict]) -> dict[str, dict]:
    kinds = {r["kind"]: r for r in rewards}
    assert len(kinds) == len(rewards), rewards
    return kinds


def test_a_twenty_dollar_purchase_mints_2_066_dotm_once(
    http: httpx.Client, webhook_secret: str, new_user, rpc: Rpc, token: Contract,
    minter_address: str,
) -> None:
    user: User = new_user()
    wallet = new_wallet()
    # All lower case is accepted and answered in its EIP-55 form; this first call makes the user.
    set_wallet(http, user, wallet.lower())

    body = paid_event(user.uid, "global_data_10gb", 2000)
    invoice_id = invoice_of(body)
    deliver(http, webhook_secret, body)
    deliver(http, webhook_secret, body)  # the same event again (a Stripe retry)

    t0 = time.monotonic()
    view = wait_rewards(http, user, settled(2), 60, "the bonus and the cashback are not minted")
    print(f"minted after {time.monotonic() - t0:.1f}s")

    assert view["wallet"] == wallet, view
    assert view["refused"] == [], view
    minted = by_kind(view["minted"])
    assert set(minted) == {"new_member_bonus", "cashback"}, view
    cashback, bonus = minted["cashback"], minted["new_member_bonus"]
    assert cashback["amount"] == "2.066" and cashback["amount_wei"] == str(CASHBACK_WEI), cashback
    assert cashback["source"] == invoice_id, cashback
    assert bonus["amount"] == "10.33" and bonus["amount_wei"] == str(BONUS_WEI), bonus
    assert cashback["tx_hash"] and bonus["tx_hash"], view
    assert cashback["tx_hash"] != bonus["tx_hash"], view
    assert cashback["reward_id"] != bonus["reward_id"], view
    total = CASHBACK_WEI + BONUS_WEI
    assert view["balance_wei"] == str(total) and view["balance"] == "12.396", view

    # On chain: the balance, and exactly one RewardMinted per reward, in the listed transactions.
    assert token.call("balanceOf", wallet) == total
    logs = reward_minted_logs(rpc, token, to=wallet)
    assert sorted((log["reward_id"], log["amount"], log["tx_hash"]) for log in logs) == sorted(
        (r["reward_id"].lower(), int(r["amount_wei"]), r["tx_hash"].lower())
        for r in (cashback, bonus)), (logs, view)
    for r in (cashback, bonus):
        receipt = rpc("eth_getTransactionReceipt", r["tx_hash"])
        assert int(receipt["status"], 16) == 1, receipt
        assert receipt["from"].lower() == minter_address.lower(), receipt
        assert receipt["to"].lower() == token.address.lower(), receipt

    # The same event a third time, a new event for the same invoice, and a second mint job (PUT
    # the same wallet again enqueues one): nothing more is credited or minted.
    deliver(http, webhook_secret, body)
    deliver(http, webhook_secret, paid_event(user.uid, "global_data_10gb", 2000,
                                             invoice_id=invoice_id))
    set_wallet(http, user, wallet)
    wait_queue_idle(60)
    again = get_rewards(http, user)
    assert again["pending"] == [] and again["refused"] == [], again
    assert sorted((r["reward_id"], r["tx_hash"]) for r in again["minted"]) == sorted(
        (r["reward_id"], r["tx_hash"]) for r in view["minted"]), (view, again)
    assert again["balance_wei"] == str(total), again
    assert token.call("balanceOf", wallet) == total
    assert len(reward_minted_logs(rpc, token, to=wallet)) == 2
    for r in (cashback, bonus):
        assert len(reward_minted_logs(rpc, token, reward_id=r["reward_id"])) == 1, r

    # The contract itself refuses the replayed id, from the stack's own minter (a dry run) ...
    rid = bytes.fromhex(cashback["reward_id"][2:])
    with pytest.raises(Reverted) as refused:
        token.call("mintReward", wallet, CASHBACK_WEI, rid, sender=minter_address)
    assert refused.value.error == "RewardAlreadyPaid", refused.value
    assert refused.value.values == (rid,), refused.value
    # ... while the same call with an id never paid would go through: the refusal is the replay.
    fresh = bytes.fromhex(f"{time.time_ns():064x}")
    token.call("mintReward", wallet, CASHBACK_WEI, fresh, sender=minter_address)
