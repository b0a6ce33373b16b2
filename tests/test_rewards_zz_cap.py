"""DOTM rewards end to end (issue 6, "done when" 3): a mint across the supply cap is refused and
the reward shows why, and no later mint stalls.

The stack's contract has ~10.3 M DOTM left, so this test first mints all but 5 DOTM of it
directly (from a test minter that the contract's owner, an unlocked anvil dev account, adds).
Everything it does on chain runs inside an anvil snapshot that is reverted afterwards, so other
tests (and later runs against a `make up` stack) keep the whole supply; the file's name makes it
run after the other rewards tests all the same."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest

from conftest import User
from rewards_support import (  # noqa: F401  (fixtures)
    DOTM,
    Contract,
    Rpc,
    buy,
    env,
    minter_address,
    new_wallet,
    reward_minted_logs,
    rpc,
    set_wallet,
    settled,
    token,
    wait_rewards,
)

LEFT = 5 * DOTM  # less than the 10.33 DOTM bonus, more than three $3 purchases' 0.3099 cashback
SMALL_WEI = 309_900_000_000_000_000  # 10.33 % of $3


@pytest.fixture
def nearly_capped(rpc: Rpc, token: Contract):
    """The stack's DOTM with only LEFT wei of supply remaining, until the test ends."""
    snapshot = rpc("evm_snapshot")
    owner = env("DOTM_OWNER_ADDRESS")
    helper = new_wallet()
    rpc("anvil_impersonateAccount", helper)
    try:
        rpc("anvil_setBalance", helper, hex(10 * DOTM))
        token.transact(owner, "setMinter", helper, True)
        remaining = token.call("remainingSupply")
        assert remaining > LEFT, remaining
        token.transact(helper, "mintReward", new_wallet(), remaining - LEFT, secrets.token_bytes(32))
        assert token.call("remainingSupply") == LEFT
        yield
    finally:
        rpc("anvil_stopImpersonatingAccount", helper)
        assert rpc("evm_revert", snapshot) is True, "the chain snapshot could not be reverted"
    assert token.call("remainingSupply") > 10_000_000 * DOTM


def test_a_mint_past_the_cap_is_refused_with_the_reason_and_later_mints_go_on(
    http: httpx.Client, webhook_secret: str, new_user, rpc: Rpc, token: Contract,
    minter_address: str, nearly_capped,
) -> None:
    # Joining (a first paid purchase) earns the 10.33 DOTM bonus, more than what is left:
    # refused, with the reason; the purchase's 0.3099 DOTM cashback fits and is minted.
    first: User = new_user()
    wallet = new_wallet()
    set_wallet(http, first, wallet)
    first_invoice = buy(http, webhook_secret, first, "performance_optimization", 300)
    view = wait_rewards(http, first, settled(2), 30, "the first rewards are neither minted nor refused")
    [refused] = view["refused"]
    assert refused["kind"] == "new_member_bonus" and refused["amount"] == "10.33", refused
    assert refused["tx_hash"] is None, refused
    assert "supply cap" in refused["reason"].lower(), refused
    assert reward_minted_logs(rpc, token, reward_id=refused["reward_id"]) == []
    [cashback] = view["minted"]
    assert cashback["source"] == first_invoice and cashback["amount"] == "0.3099", cashback
    assert view["balance_wei"] == str(SMALL_WEI), view
    assert token.call("remainingSupply") == LEFT - SMALL_WEI

    # Another member's rewards go on after the refusal, promptly.
    second: User = new_user()
    other = new_wallet()
    set_wallet(http, second, other)
    t0 = time.monotonic()
    invoice_id = buy(http, webhook_secret, second, "performance_optimization", 300)
    done = wait_rewards(http, second, settled(2), 30, "the small cashback is not minted")
    print(f"cashback minted {time.monotonic() - t0:.1f}s after the purchase, at the cap")
    [cashback] = done["minted"]
    assert cashback["kind"] == "cashback" and cashback["source"] == invoice_id, cashback
    assert cashback["amount"] == "0.3099" and cashback["amount_wei"] == str(SMALL_WEI), cashback
    assert cashback["tx_hash"], cashback
    assert [r["kind"] for r in done["refused"]] == ["new_member_bonus"], done
    assert done["balance_wei"] == str(SMALL_WEI), done
    assert token.call("balanceOf", other) == SMALL_WEI
    [log] = reward_minted_logs(rpc, token, reward_id=cashback["reward_id"])
    assert (log["to"], log["amount"], log["tx_hash"]) == (other, SMALL_WEI, cashback["tx_hash"].lower())
    assert token.call("remainingSupply") == LEFT - 2 * SMALL_WEI

    # And the first member's next purchase too: a refusal blocks nothing after it.
    buy(http, webhook_secret, first, "performance_optimization", 300)
    after = wait_rewards(http, first, settled(3), 30, "the first member's cashback is not minted")
    assert [r["amount"] for r in after["minted"]] == ["0.3099", "0.3099"], after
    assert [r["reward_id"] for r in after["refused"]] == [refused["reward_id"]], after
    assert token.call("balanceOf", wallet) == 2 * SMALL_WEI

    # Nothing stuck behind the refusals: the minter has no transaction waiting.
    latest = rpc("eth_getTransactionCount", minter_address, "latest")
    assert rpc("eth_getTransactionCount", minter_address, "pending") == latest
