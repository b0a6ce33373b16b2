"""The stack's chain as the functions see it: the DOTM deployment that chain_start made
(infra/scripts/chain.sh) and the minter key in MinterSecret.

Reads what `make test` exports: CHAIN_RPC_URL, CHAIN_ID, DOTM_TOKEN_ADDRESS, DOTM_OWNER_ADDRESS,
DOTM_MINTER_ADDRESS, DOTM_MINTER_PRIVATE_KEY, and AWS_ENDPOINT_URL + MINTER_SECRET_ID (moto).
Read-only: nothing here mints on the shared token.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "infra" / "chain"))
from ethrpc import Abi, Contract, Rpc, account, load_artifact  # noqa: E402


def env(name: str) -> str:
    value = os.environ.get(name)
    assert value, f"{name} is not set (run under `make test`, or export what `make up` set)"
    return value


@pytest.fixture(scope="module")
def rpc() -> Rpc:
    return Rpc(env("CHAIN_RPC_URL"))


@pytest.fixture(scope="module")
def token(rpc: Rpc) -> Contract:
    return Contract(rpc, env("DOTM_TOKEN_ADDRESS"), Abi(load_artifact()["abi"]))


def test_the_chain_is_the_local_anvil(rpc: Rpc) -> None:
    assert rpc.chain_id() == int(env("CHAIN_ID")) == 31337
    assert env("CHAIN_RPC_URL").startswith("http://127.0.0.1:")


def test_the_token_is_the_committed_artifact(rpc: Rpc, token: Contract) -> None:
    code = rpc("eth_getCode", token.address, "latest")
    assert code.lower() == load_artifact()["deployedBytecode"].lower()
    assert token.call("symbol") == "DOTM"
    assert token.call("owner").lower() == env("DOTM_OWNER_ADDRESS").lower()


def test_the_minter_key_is_fresh_funded_and_a_minter(rpc: Rpc, token: Contract) -> None:
    key = env("DOTM_MINTER_PRIVATE_KEY")
    assert key.startswith("0x") and len(key) == 66
    minter = account(key)
    assert minter.address == env("DOTM_MINTER_ADDRESS")
    assert token.call("isMinter", minter.address) is True
    assert rpc.balance(minter.address) > 10**18  # gas money
    # Not one of anvil's well-known dev accounts, and not the owner.
    dev = {a.lower() for a in rpc("eth_accounts")}
    assert minter.address.lower() not in dev
    assert token.call("isMinter", env("DOTM_OWNER_ADDRESS")) is False


def test_the_minter_secret_carries_the_minter_key_and_nothing_else() -> None:
    sm = boto3.client("secretsmanager", endpoint_url=env("AWS_ENDPOINT_URL"),
                      region_name=os.environ.get("AWS_REGION", "us-east-1"),
                      aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                      aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
    secret = json.loads(sm.get_secret_value(SecretId=env("MINTER_SECRET_ID"))["SecretString"])
    assert secret == {"minter_private_key": env("DOTM_MINTER_PRIVATE_KEY")}
    # The minter key is in no other secret (the functions that do not mint cannot read it).
    for var in ("STRIPE_API_SECRET_ID", "STRIPE_WEBHOOK_SECRET_ID", "FULFILMENT_SECRET_ID"):
        other = json.loads(sm.get_secret_value(SecretId=env(var))["SecretString"])
        assert "minter_private_key" not in other, var
