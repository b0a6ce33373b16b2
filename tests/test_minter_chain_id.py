"""The reward minter mints only on the chain CHAIN_ID names: started against the test stack's
anvil (chain 31337) with CHAIN_ID=1 (mainnet settings), it refuses to start and says which chain
the RPC serves and which one was configured; with the right CHAIN_ID it gets past that check.

Runs the built `reward-minter` binary (make test builds it) with the stack's environment; no
Lambda runtime answers on AWS_LAMBDA_RUNTIME_API, so even a good start ends there.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or Path.home() / ".cache" / "dotm-target")
BINARY = TARGET / "debug" / "reward-minter"


def start(chain_id: str) -> str:
    env = dict(os.environ, CHAIN_ID=chain_id, AWS_LAMBDA_RUNTIME_API="127.0.0.1:9")
    out = subprocess.run([str(BINARY)], env=env, capture_output=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert out.returncode != 0  # no runtime API answers here either way
    return (out.stdout + out.stderr).decode(errors="replace")


def test_a_minter_pointed_at_another_chain_refuses_to_start_and_says_why() -> None:
    assert BINARY.exists(), f"{BINARY}: make test builds it"
    assert os.environ["CHAIN_ID"] == "31337"
    said = start("1")
    assert "CHAIN_RPC_URL serves chain 31337 but CHAIN_ID is 1: refusing to mint" in said, said
    assert "chain_mismatch" in said, said  # the log line the alarm counts
    assert "refusing to mint" not in start("31337")
