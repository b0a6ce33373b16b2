"""The DOTM token contract on the local chain (anvil), driven over JSON-RPC.

Every test deploys its own DOTM from the committed artifact (owner: an unlocked anvil dev
account; minter and other holders: fresh random keys that sign their own transactions, as the
functions' minter does), so the stack's deployment is never touched. The chain is the one that
`make test` / `make up` started (CHAIN_RPC_URL, default http://127.0.0.1:8545).
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from eth_utils import keccak

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "infra" / "chain"))
from ethrpc import (  # noqa: E402
    Abi,
    Contract,
    Reverted,
    Rpc,
    TxFailed,
    deploy,
    load_artifact,
    new_account,
)

DOTM = 10**18
MAX_SUPPLY = 10_333_333 * DOTM
ZERO = "0x" + "00" * 20
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def rpc() -> Rpc:
    url = os.environ.get("CHAIN_RPC_URL", "http://127.0.0.1:8545")
    r = Rpc(url)
    try:
        chain_id = r.chain_id()
    except OSError as e:
        pytest.fail(f"no chain at {url} ({e}); start one with `make up` or set CHAIN_RPC_URL")
    assert chain_id == 31337, f"{url} is chain {chain_id}, not the local anvil"
    return r


@pytest.fixture(scope="session")
def artifact() -> dict:
    return load_artifact()


@pytest.fixture
def owner(rpc: Rpc) -> str:
    return rpc("eth_accounts")[1]  # [0] deployed the stack's token; keep its nonces to itself


@pytest.fixture
def funded(rpc: Rpc):
    """A fresh key with gas money (anvil_setBalance)."""

    def make():
        a = new_account()
        rpc("anvil_setBalance", a.address, hex(10 * DOTM))
        return a

    return make


@pytest.fixture
def token(rpc: Rpc, artifact: dict, owner: str) -> Contract:
    return deploy(rpc, owner, artifact)


@pytest.fixture
def minter(token: Contract, owner: str, funded):
    m = funded()
    token.transact(owner, "setMinter", m.address, True)
    return m


def reward_id() -> bytes:
    return secrets.token_bytes(32)


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def test_name_symbol_decimals_and_cap(token: Contract, owner: str) -> None:
    assert token.call("name") == "DOTM"
    assert token.call("symbol") == "DOTM"
    assert token.call("decimals") == 18
    assert token.call("MAX_SUPPLY") == MAX_SUPPLY
    assert token.call("totalSupply") == 0
    assert token.call("remainingSupply") == MAX_SUPPLY
    assert token.call("owner").lower() == owner.lower()


def test_minter_mints_a_reward_with_its_id_in_the_event(token: Contract, minter, funded) -> None:
    to, rid, amount = funded().address, reward_id(), 2066 * 10**15  # 2.066 DOTM
    receipt = token.transact(minter, "mintReward", to, amount, rid)
    assert token.events(receipt, "RewardMinted") == [
        {"rewardId": rid, "to": to.lower(), "amount": amount}]
    assert token.events(receipt, "Transfer") == [{"from": ZERO, "to": to.lower(), "value": amount}]
    assert token.call("balanceOf", to) == amount
    assert token.call("totalSupply") == amount
    assert token.call("remainingSupply") == MAX_SUPPLY - amount
    assert token.call("rewardPaid", rid) is True


def test_only_minters_mint(rpc: Rpc, token: Contract, minter, funded) -> None:
    stranger, rid = funded(), reward_id()
    with pytest.raises(Reverted) as e:
        token.transact(stranger, "mintReward", stranger.address, DOTM, rid)
    assert e.value.selector == selector("NotMinter(address)")
    assert e.value.error == "NotMinter"
    assert e.value.values[0].lower() == stranger.address.lower()
    # Sent anyway (fixed gas, no estimate): mined, but failed, and nothing changed.
    with pytest.raises(TxFailed):
        token.transact(stranger, "mintReward", stranger.address, DOTM, rid, gas=200_000)
    assert token.call("balanceOf", stranger.address) == 0
    assert token.call("totalSupply") == 0
    assert token.call("rewardPaid", rid) is False
    # The id is still free for the real minter.
    token.transact(minter, "mintReward", stranger.address, DOTM, rid)
    assert token.call("balanceOf", stranger.address) == DOTM


def test_a_reward_id_is_paid_once(token: Contract, minter, funded) -> None:
    to, other, rid = funded().address, funded().address, reward_id()
    token.transact(minter, "mintReward", to, 5 * DOTM, rid)
    for recipient, amount in ((to, 5 * DOTM), (other, 1)):  # same id, any recipient or amount
        with pytest.raises(Reverted) as e:
            token.transact(minter, "mintReward", recipient, amount, rid)
        assert e.value.selector == selector("RewardAlreadyPaid(bytes32)")
        assert e.value.values == (rid,)
    with pytest.raises(TxFailed):
        token.transact(minter, "mintReward", to, 5 * DOTM, rid, gas=200_000)
    assert token.call("balanceOf", to) == 5 * DOTM
    assert token.call("balanceOf", other) == 0
    assert token.call("totalSupply") == 5 * DOTM


def test_mints_past_the_cap_are_refused(token: Contract, minter, funded) -> None:
    to = funded().address
    with pytest.raises(Reverted) as e:
        token.transact(minter, "mintReward", to, MAX_SUPPLY + 1, reward_id())
    assert e.value.selector == selector("OverMaxSupply(uint256,uint256)")
    assert e.value.values == (MAX_SUPPLY + 1, MAX_SUPPLY)

    token.transact(minter, "mintReward", to, MAX_SUPPLY - 3, reward_id())
    rid = reward_id()
    with pytest.raises(Reverted) as e:
        token.transact(minter, "mintReward", to, 4, rid)
    assert e.value.values == (4, 3)
    assert token.call("rewardPaid", rid) is False  # a refused mint does not use up its id
    token.transact(minter, "mintReward", to, 3, rid)  # exactly the rest fits
    assert token.call("totalSupply") == MAX_SUPPLY
    assert token.call("remainingSupply") == 0
    with pytest.raises(Reverted) as e:
        token.transact(minter, "mintReward", to, 1, reward_id())
    assert e.value.error == "OverMaxSupply" and e.value.values == (1, 0)
    # Nothing stalls after a refusal: the minter's next transaction lands.
    token.transact(minter, "transfer", to, 0)


def test_mint_to_the_zero_address_is_refused(token: Contract, minter) -> None:
    rid = reward_id()
    with pytest.raises(Reverted) as e:
        token.transact(minter, "mintReward", ZERO, DOTM, rid)
    assert e.value.selector == selector("ZeroAddress()")
    assert token.call("rewardPaid", rid) is False


def test_only_the_owner_sets_minters(token: Contract, owner: str, minter, funded) -> None:
    stranger = funded()
    with pytest.raises(Reverted) as e:
        token.transact(stranger, "setMinter", stranger.address, True)
    assert e.value.selector == selector("NotOwner(address)")
    assert e.value.values[0].lower() == stranger.address.lower()
    with pytest.raises(Reverted) as e:  # a minter is not an owner either
        token.transact(minter, "setMinter", stranger.address, True)
    assert e.value.error == "NotOwner"
    assert token.call("isMinter", stranger.address) is False
    with pytest.raises(Reverted) as e:
        token.transact(owner, "setMinter", ZERO, True)
    assert e.value.error == "ZeroAddress"

    receipt = token.transact(owner, "setMinter", minter.address, False)
    assert token.events(receipt, "MinterChanged") == [
        {"minter": minter.address.lower(), "allowed": False}]
    with pytest.raises(Reverted) as e:
        token.transact(minter, "mintReward", minter.address, 1, reward_id())
    assert e.value.error == "NotMinter"


def test_ownership_moves_to_the_new_owner_only(token: Contract, owner: str, funded) -> None:
    new_owner, stranger = funded(), funded()
    with pytest.raises(Reverted) as e:
        token.transact(stranger, "transferOwnership", stranger.address)
    assert e.value.error == "NotOwner"
    receipt = token.transact(owner, "transferOwnership", new_owner.address)
    assert token.events(receipt, "OwnershipTransferred") == [
        {"previousOwner": owner.lower(), "newOwner": new_owner.address.lower()}]
    assert token.call("owner").lower() == new_owner.address.lower()
    with pytest.raises(Reverted) as e:
        token.transact(owner, "setMinter", stranger.address, True)
    assert e.value.error == "NotOwner"
    token.transact(new_owner, "setMinter", stranger.address, True)
    assert token.call("isMinter", stranger.address) is True


def test_transfer(token: Contract, minter, funded) -> None:
    alice, bob = funded(), funded()
    token.transact(minter, "mintReward", alice.address, 10 * DOTM, reward_id())
    receipt = token.transact(alice, "transfer", bob.address, 3 * DOTM)
    assert token.events(receipt, "Transfer") == [
        {"from": alice.address.lower(), "to": bob.address.lower(), "value": 3 * DOTM}]
    assert token.call("balanceOf", alice.address) == 7 * DOTM
    assert token.call("balanceOf", bob.address) == 3 * DOTM
    with pytest.raises(Reverted) as e:
        token.transact(alice, "transfer", bob.address, 7 * DOTM + 1)
    assert e.value.error == "InsufficientBalance"
    assert e.value.values == (alice.address.lower(), 7 * DOTM, 7 * DOTM + 1)
    with pytest.raises(Reverted) as e:
        token.transact(alice, "transfer", ZERO, 1)
    assert e.value.error == "ZeroAddress"
    assert token.call("totalSupply") == 10 * DOTM


def test_approve_and_transfer_from(token: Contract, minter, funded) -> None:
    alice, spender, carol = funded(), funded(), funded()
    token.transact(minter, "mintReward", alice.address, 10 * DOTM, reward_id())
    receipt = token.transact(alice, "approve", spender.address, 4 * DOTM)
    assert token.events(receipt, "Approval") == [
        {"owner": alice.address.lower(), "spender": spender.address.lower(), "value": 4 * DOTM}]
    assert token.call("allowance", alice.address, spender.address) == 4 * DOTM

    token.transact(spender, "transferFrom", alice.address, carol.address, 3 * DOTM)
    assert token.call("allowance", alice.address, spender.address) == 1 * DOTM
    assert token.call("balanceOf", carol.address) == 3 * DOTM
    assert token.call("balanceOf", alice.address) == 7 * DOTM
    with pytest.raises(Reverted) as e:
        token.transact(spender, "transferFrom", alice.address, carol.address, 2 * DOTM)
    assert e.value.error == "InsufficientAllowance"
    assert e.value.values == (spender.address.lower(), DOTM, 2 * DOTM)
    with pytest.raises(Reverted) as e:  # nobody else may spend alice's tokens
        token.transact(carol, "transferFrom", alice.address, carol.address, 1)
    assert e.value.error == "InsufficientAllowance"

    # An unlimited allowance is not spent down; the balance still limits.
    token.transact(alice, "approve", spender.address, 2**256 - 1)
    token.transact(spender, "transferFrom", alice.address, carol.address, 5 * DOTM)
    assert token.call("allowance", alice.address, spender.address) == 2**256 - 1
    with pytest.raises(Reverted) as e:
        token.transact(spender, "transferFrom", alice.address, carol.address, 3 * DOTM)
    assert e.value.error == "InsufficientBalance"
    with pytest.raises(Reverted) as e:
        token.transact(alice, "approve", ZERO, 1)
    assert e.value.error == "ZeroAddress"


def test_custom_error_selectors_are_the_abis(artifact: dict) -> None:
    # What the Rust adapter matches on when a mint is refused.
    abi = Abi(artifact["abi"])
    assert abi.selector("error", "NotMinter") == selector("NotMinter(address)")
    assert abi.selector("error", "RewardAlreadyPaid") == selector("RewardAlreadyPaid(bytes32)")
    assert abi.selector("error", "OverMaxSupply") == selector("OverMaxSupply(uint256,uint256)")
    assert abi.selector("function", "mintReward") == selector("mintReward(address,uint256,bytes32)")


def _deploy_script(rpc: Rpc, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "infra" / "chain" / "deploy.py"), "--rpc-url", rpc.url, *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env})


def test_deploy_script_as_on_a_testnet(rpc: Rpc, artifact: dict, funded) -> None:
    """The testnet/mainnet procedure: the owner key from an env var (signed here, not an unlocked
    account), an existing minter address; the script prints the exports and no key."""
    deployer, minter = funded(), new_account()
    key = "0x" + deployer.key.hex()
    r = _deploy_script(rpc, "--chain-id", "31337", "--deployer-key-env", "TEST_DEPLOYER_KEY",
                       "--minter", minter.address, env={"TEST_DEPLOYER_KEY": key})
    assert r.returncode == 0, r.stderr
    exports = dict(shlex.split(line)[1].split("=", 1) for line in r.stdout.splitlines())
    assert set(exports) == {"CHAIN_RPC_URL", "CHAIN_ID", "DOTM_TOKEN_ADDRESS",
                            "DOTM_OWNER_ADDRESS", "DOTM_MINTER_ADDRESS"}
    assert exports["CHAIN_ID"] == "31337"
    assert exports["DOTM_OWNER_ADDRESS"] == deployer.address
    assert exports["DOTM_MINTER_ADDRESS"] == minter.address
    assert key[2:] not in r.stdout + r.stderr
    token = Contract(rpc, exports["DOTM_TOKEN_ADDRESS"], Abi(artifact["abi"]))
    assert rpc("eth_getCode", token.address, "latest") == artifact["deployedBytecode"]
    assert token.call("owner").lower() == deployer.address.lower()
    assert token.call("isMinter", minter.address) is True


def test_deploy_script_refuses_another_chain(rpc: Rpc, funded) -> None:
    deployer = funded()
    nonce = rpc("eth_getTransactionCount", deployer.address, "latest")
    r = _deploy_script(rpc, "--chain-id", "1", "--deployer-key-env", "TEST_DEPLOYER_KEY",
                       env={"TEST_DEPLOYER_KEY": "0x" + deployer.key.hex()})
    assert r.returncode != 0
    assert "is chain 31337, not --chain-id 1" in r.stderr
    assert rpc("eth_getTransactionCount", deployer.address, "latest") == nonce  # nothing sent
