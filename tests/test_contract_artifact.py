"""The committed DOTM artifact (infra/contracts/DOTM.json) is what solc makes of DOTM.sol.

Recompiles with solc-js from node_modules (npm `solc`, the exact release of the pragma; no
network) through infra/contracts/compile.js and compares bytecode, ABI and settings with the
committed file, so a changed source or compiler setting without a new artifact fails here.
Also pins the ABI that the Rust ledger adapter (`sol!` over the artifact) relies on.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "infra" / "contracts"
ARTIFACT = CONTRACTS / "DOTM.json"


def _node() -> str:
    local = ROOT / "node_modules" / ".bin" / "node"
    node = str(local) if local.exists() else shutil.which("node")
    if not node or not (ROOT / "node_modules" / "solc").is_dir():
        pytest.fail("node_modules has no solc: run infra/scripts/bootstrap.sh")
    return node


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(ARTIFACT.read_text())


@pytest.fixture(scope="module")
def fresh() -> dict:
    r = subprocess.run([_node(), str(CONTRACTS / "compile.js"), "--stdout"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_bytecode_matches_a_fresh_compile(committed: dict, fresh: dict) -> None:
    hint = "infra/contracts/DOTM.json is stale: run `node infra/contracts/compile.js` and commit it"
    assert fresh["bytecode"] == committed["bytecode"], hint
    assert fresh["deployedBytecode"] == committed["deployedBytecode"], hint
    assert fresh["abi"] == committed["abi"], hint
    assert fresh["compiler"] == committed["compiler"], hint
    assert fresh == committed, hint


def test_artifact_is_byte_identical_to_compile_output(fresh: dict) -> None:
    # compile.js writes exactly what --stdout prints: no hand edits, no reformatting.
    assert ARTIFACT.read_text() == json.dumps(fresh, indent=2) + "\n"


def test_compiler_is_the_pragma_release(committed: dict) -> None:
    pragma = re.search(r"pragma solidity (\d+\.\d+\.\d+);", (CONTRACTS / "DOTM.sol").read_text())
    assert pragma, "DOTM.sol must pin an exact compiler version"
    assert committed["compiler"]["version"].startswith(pragma.group(1) + "+commit.")
    pkg = json.loads((ROOT / "package.json").read_text())
    assert pkg["devDependencies"]["solc"] == pragma.group(1)
    settings = committed["compiler"]["settings"]
    assert settings["optimizer"] == {"enabled": True, "runs": 200}
    assert settings["evmVersion"] == "cancun"


def test_artifact_has_what_alloy_and_deployers_read(committed: dict) -> None:
    assert committed["contractName"] == "DOTM"
    for key in ("bytecode", "deployedBytecode"):
        code = committed[key]
        assert re.fullmatch(r"0x([0-9a-f]{2})+", code), f"{key} is not linked 0x-hex"
    # The deployed code ends with solc's CBOR metadata trailer (ipfs hash + solc version).
    runtime = bytes.fromhex(committed["deployedBytecode"][2:])
    trailer_len = int.from_bytes(runtime[-2:], "big")
    trailer = runtime[-2 - trailer_len:-2]
    assert b"ipfs" in trailer and b"solc" in trailer


def _sig(item: dict) -> str:
    return f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"


def test_abi_keeps_the_ledger_interface(committed: dict) -> None:
    abi = committed["abi"]
    functions = {_sig(i): [o["type"] for o in i["outputs"]] for i in abi if i["type"] == "function"}
    errors = {_sig(i) for i in abi if i["type"] == "error"}
    events = {_sig(i): [p["name"] for p in i["inputs"] if p["indexed"]]
              for i in abi if i["type"] == "event"}
    assert functions["mintReward(address,uint256,bytes32)"] == []
    assert functions["balanceOf(address)"] == ["uint256"]
    assert functions["totalSupply()"] == ["uint256"]
    assert functions["remainingSupply()"] == ["uint256"]
    assert functions["MAX_SUPPLY()"] == ["uint256"]
    assert functions["rewardPaid(bytes32)"] == ["bool"]
    assert functions["isMinter(address)"] == ["bool"]
    assert functions["setMinter(address,bool)"] == []
    assert functions["decimals()"] == ["uint8"]
    for f in ("transfer(address,uint256)", "approve(address,uint256)",
              "transferFrom(address,address,uint256)"):
        assert functions[f] == ["bool"]
    assert {"OverMaxSupply(uint256,uint256)", "NotMinter(address)", "NotOwner(address)",
            "RewardAlreadyPaid(bytes32)", "ZeroAddress()"} <= errors
    assert events["RewardMinted(bytes32,address,uint256)"] == ["rewardId", "to"]
    assert events["Transfer(address,address,uint256)"] == ["from", "to"]
    assert events["Approval(address,address,uint256)"] == ["owner", "spender"]
