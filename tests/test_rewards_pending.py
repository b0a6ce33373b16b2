"""DOTM rewards end to end (issue 6, "done when" 2): a user without a wallet accrues `pending`
rewards (the sign-up bonus and the cashback of a purchase), which are minted after
`PUT /api/wallet`; a malformed or mistyped wallet is refused with a problem and changes nothing."""

from __future__ import annotations

import time

import httpx
import pytest

from conftest import User
from rewards_support import (  # noqa: F401  (fixtures)
    BONUS_WEI,
    MILLI,
    Contract,
    Rpc,
    buy,
    get_rewards,
    new_wallet,
    put_wallet,
    register,
    reward_minted_logs,
    rpc,
    set_wallet,
    settled,
    token,
    wait_queue_idle,
    wait_rewards,
)


def wrong_checksum(wallet: str) -> str:
    """The EIP-55 form with the case of one letter flipped: a typo that the checksum catches."""
    hexpart = wallet[2:]
    for i, c in enumerate(hexpart):
        if c.isalpha():
            typo = hexpart[:i] + c.swapcase() + hexpart[i + 1:]
            if typo != typo.lower() and typo != typo.upper():  # still mixed case
                return "0x" + typo
    return wrong_checksum(new_wallet())  # too few letters to make a mixed-case typo


def test_rewards_wait_for_a_wallet_then_are_minted_to_it(
    http: httpx.Client, webhook_secret: str, new_user, rpc: Rpc, token: Contract
) -> None:
    user: User = new_user()
    before = get_rewards(http, user)  # reading makes nobody a member
    assert before["pending"] == [] and before["wallet"] is None, before
    register(http, user)
    first = get_rewards(http, user)
    assert first["wallet"] is None and first["balance"] is None and first["balance_wei"] is None
    # Joining is the first paid purchase: nothing is earned by registering.
    assert first["pending"] == [] and first["minted"] == [] and first["refused"] == [], first

    invoice_id = buy(http, webhook_secret, user, "global_data_10gb", 2000)
    wait_queue_idle(60)  # had anything been sent to mint, it would be done by now
    view = get_rewards(http, user)
    assert view["minted"] == [] and view["refused"] == [], view
    pending = sorted((r["kind"], r["amount"], r["amount_wei"], r["source"]) for r in view["pending"])
    assert pending == [("cashback", "2.066", str(2066 * MILLI), invoice_id),
                       ("new_member_bonus", "10.33", str(BONUS_WEI), "signup")], view

    wallet = new_wallet()
    t0 = time.monotonic()
    set_wallet(http, user, wallet)
    done = wait_rewards(http, user, settled(2), 30, "the pending rewards are not minted")
    print(f"minted {time.monotonic() - t0:.1f}s after PUT /api/wallet")

    assert done["wallet"] == wallet and done["refused"] == [], done
    assert sorted(r["reward_id"] for r in done["minted"]) == sorted(
        r["reward_id"] for r in view["pending"]), (view, done)
    assert all(r["tx_hash"] for r in done["minted"]), done
    total = 2066 * MILLI + BONUS_WEI
    assert done["balance_wei"] == str(total) and done["balance"] == "12.396", done
    assert token.call("balanceOf", wallet) == total
    logs = reward_minted_logs(rpc, token, to=wallet)
    assert sorted((log["reward_id"], log["tx_hash"]) for log in logs) == sorted(
        (r["reward_id"].lower(), r["tx_hash"].lower()) for r in done["minted"]), (logs, done)


@pytest.mark.parametrize("case", ["wrong-checksum", "short", "no-0x", "not-hex", "number", "zero"])
def test_a_bad_wallet_is_refused_and_changes_nothing(http: httpx.Client, new_user,
                                                      case: str) -> None:
    user: User = new_user()
    good = new_wallet()
    bad = {
        "wrong-checksum": wrong_checksum(good),
        "short": good[:-2],
        "no-0x": good[2:],
        "not-hex": "0x" + "g" * 40,
        "number": 12345,
        "zero": "0x" + "0" * 40,
    }[case]
    r = http.put("/api/wallet", headers=user.auth, json={"wallet": bad})
    assert r.status_code == 400, (case, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    problem = r.json()
    assert problem["status"] == 400 and problem["detail"], problem
    # A non-string is a malformed body, not a wallet.
    kind = "invalid-body" if case == "number" else "invalid-wallet"
    assert problem["type"] == f"urn:dotm:problem:{kind}", problem
    view = get_rewards(http, user)
    assert view["wallet"] is None and view["minted"] == [], view

    # The same address typed right is accepted.
    assert put_wallet(http, user, good).status_code == 200
