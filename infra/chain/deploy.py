#!/usr/bin/env python3
"""Deploys the DOTM token from the committed artifact (infra/contracts/DOTM.json) and grants the
minter role; prints what the functions need as shell `export` lines (shell-quoted) on stdout.

Local chain (infra/scripts/chain.sh does this):
    deploy.py --rpc-url http://127.0.0.1:8545 --chain-id 31337 --unlocked-deployer --new-minter
  owner = anvil's first dev account (unlocked); a fresh random minter key is made, funded with
  anvil_setBalance and exported as DOTM_MINTER_PRIVATE_KEY (it is never written to a file).

Testnet / mainnet (the owner key comes from an environment variable, never from argv):
    DEPLOYER_PRIVATE_KEY=0x... deploy.py --rpc-url https://... --chain-id 11155111 \\
        --deployer-key-env DEPLOYER_PRIVATE_KEY --minter 0xYourMinterAddress
  --chain-id must match the node's, so a mainnet RPC URL cannot be used by mistake.

Exports: CHAIN_RPC_URL CHAIN_ID DOTM_TOKEN_ADDRESS DOTM_OWNER_ADDRESS DOTM_MINTER_ADDRESS and,
with --new-minter, DOTM_MINTER_PRIVATE_KEY. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eth_utils import to_checksum_address  # noqa: E402

from ethrpc import ARTIFACT, Rpc, account, deploy, load_artifact, new_account  # noqa: E402

MINTER_FUNDS_WEI = 1000 * 10**18  # anvil only: gas money for the minter


def log(msg: str) -> None:
    print(f"deploy: {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rpc-url", required=True)
    p.add_argument("--chain-id", type=int, required=True,
                   help="the chain id the node must report (31337 for anvil)")
    p.add_argument("--artifact", type=Path, default=ARTIFACT)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--deployer-key-env", metavar="NAME",
                     help="environment variable holding the owner's private key (0x-hex)")
    who.add_argument("--unlocked-deployer", action="store_true",
                     help="anvil: deploy from the node's first unlocked account")
    p.add_argument("--minter", action="append", default=[], metavar="ADDRESS",
                   help="grant the minter role to this address (repeatable)")
    p.add_argument("--new-minter", action="store_true",
                   help="anvil: make a random minter key, fund it, grant it the role, export it")
    p.add_argument("--wait", type=float, default=30.0,
                   help="seconds to wait for the node to answer eth_chainId")
    p.add_argument("--receipt-timeout", type=float, default=300.0,
                   help="seconds to wait for each transaction to be mined")
    a = p.parse_args(argv)

    t0 = time.monotonic()
    rpc = Rpc(a.rpc_url)
    chain_id = rpc.wait_ready(a.wait)
    if chain_id != a.chain_id:
        raise SystemExit(f"deploy: {a.rpc_url} is chain {chain_id}, not --chain-id {a.chain_id}")

    if a.unlocked_deployer:
        deployer = to_checksum_address(rpc("eth_accounts")[0])
        owner = deployer
    else:
        key = os.environ.get(a.deployer_key_env)
        if not key:
            raise SystemExit(f"deploy: ${a.deployer_key_env} is not set")
        deployer = account(key)
        owner = deployer.address

    token = deploy(rpc, deployer, load_artifact(a.artifact), a.receipt_timeout)
    log(f"DOTM at {token.address} (owner {owner}, chain {chain_id})")

    minters = list(a.minter)
    minter_key = None
    if a.new_minter:
        m = new_account()
        minter_key = "0x" + m.key.hex()
        rpc("anvil_setBalance", m.address, hex(MINTER_FUNDS_WEI))
        minters.append(m.address)
    for m in minters:
        token.transact(deployer, "setMinter", m, True, timeout=a.receipt_timeout)
        if not token.call("isMinter", m):
            raise SystemExit(f"deploy: setMinter({m}) did not take")
        log(f"minter {m}")
    log(f"done in {time.monotonic() - t0:.2f}s")

    exports = {
        "CHAIN_RPC_URL": a.rpc_url,
        "CHAIN_ID": str(chain_id),
        "DOTM_TOKEN_ADDRESS": token.address,
        "DOTM_OWNER_ADDRESS": owner,
        "DOTM_MINTER_ADDRESS": minters[0] if minters else "",
    }
    if minter_key:
        exports["DOTM_MINTER_PRIVATE_KEY"] = minter_key
    for k, v in exports.items():
        print(f"export {k}={shlex.quote(v)}")


if __name__ == "__main__":
    main()
