"""A small Ethereum JSON-RPC client for the DOTM token: the deploy script and the contract tests.

Works against any node (anvil locally, a testnet or mainnet RPC): transactions are either signed
here with a private key (EIP-1559, `eth_sendRawTransaction`) or, on anvil only, sent from an
unlocked dev account (`eth_sendTransaction`). Every transaction waits for its receipt and a
receipt with status 0 raises `TxFailed`: a mined transaction can still have failed.

ABI encoding comes from the committed artifact (infra/contracts/DOTM.json), so a reverted call
is reported with its custom error's name and arguments (`Reverted`).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from eth_abi import decode, encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

ARTIFACT = Path(__file__).resolve().parent.parent / "contracts" / "DOTM.json"


class RpcError(Exception):
    """A JSON-RPC error answer (`code`, `message`, `data` as the node sent them)."""

    def __init__(self, method: str, error: dict):
        self.method = method
        self.code = error.get("code")
        self.message = error.get("message", "")
        self.data = error.get("data")
        super().__init__(f"{method}: {self.code} {self.message}")

    def revert_data(self) -> bytes | None:
        """The revert data of a failed call or gas estimate, if the node returned it."""
        d = self.data
        if isinstance(d, dict):
            d = d.get("data")
        if isinstance(d, str) and d.startswith("0x"):
            return bytes.fromhex(d[2:])
        return None


class Reverted(Exception):
    """A call (or the gas estimate of a transaction) reverted; `error` names the custom error."""

    def __init__(self, data: bytes, error: str | None, args: tuple):
        self.data, self.error, self.values = data, error, args
        self.selector = data[:4]
        super().__init__(f"reverted: {error or '0x' + data.hex()}{args if error else ''}")


class TxFailed(Exception):
    """A transaction was mined with status 0."""

    def __init__(self, receipt: dict):
        self.receipt = receipt
        super().__init__(f"transaction {receipt['transactionHash']} failed (status 0)")


class Rpc:
    def __init__(self, url: str, timeout: float = 30.0):
        self.url, self.timeout, self._id = url, timeout, 0

    def __call__(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method,
                           "params": list(params)}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            answer = json.loads(r.read())
        if answer.get("error"):
            raise RpcError(method, answer["error"])
        return answer["result"]

    def chain_id(self) -> int:
        return int(self("eth_chainId"), 16)

    def wait_ready(self, timeout: float) -> int:
        """Polls eth_chainId until the node answers; returns the chain id."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.chain_id()
            except (OSError, urllib.error.URLError, ValueError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def balance(self, address: str) -> int:
        return int(self("eth_getBalance", address, "latest"), 16)

    def wait_receipt(self, tx_hash: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            receipt = self("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise TimeoutError(f"no receipt for {tx_hash} after {timeout}s")
            time.sleep(0.05)


def _types(params: list[dict]) -> list[str]:
    out = []
    for p in params:
        if p["type"].startswith("tuple"):
            raise NotImplementedError("tuple parameters")  # DOTM has none
        out.append(p["type"])
    return out


def _signature(item: dict) -> str:
    return f"{item['name']}({','.join(_types(item['inputs']))})"


class Abi:
    """Encodes calls and decodes results, custom errors and events from a JSON ABI."""

    def __init__(self, abi: list[dict]):
        self.functions = {i["name"]: i for i in abi if i["type"] == "function"}
        self.constructor = next((i for i in abi if i["type"] == "constructor"), {"inputs": []})
        self.errors = {keccak(text=_signature(i))[:4]: i for i in abi if i["type"] == "error"}
        self.events = {"0x" + keccak(text=_signature(i)).hex(): i for i in abi
                       if i["type"] == "event"}

    def selector(self, kind: str, name: str) -> bytes:
        """keccak(signature)[:4] of a function or error (kind "function" / "error")."""
        items = self.functions.values() if kind == "function" else self.errors.values()
        item = next(i for i in items if i["name"] == name)
        return keccak(text=_signature(item))[:4]

    def event_topic(self, name: str) -> str:
        return next(t for t, i in self.events.items() if i["name"] == name)

    def encode_call(self, name: str, *args: Any) -> bytes:
        item = self.functions[name]
        return keccak(text=_signature(item))[:4] + encode(_types(item["inputs"]), list(args))

    def encode_deploy(self, bytecode: str, *args: Any) -> bytes:
        return bytes.fromhex(bytecode.removeprefix("0x")) + encode(
            _types(self.constructor["inputs"]), list(args))

    def decode_output(self, name: str, data: bytes) -> Any:
        values = decode(_types(self.functions[name]["outputs"]), data)
        return values[0] if len(values) == 1 else values

    def reverted(self, data: bytes) -> Reverted:
        item = self.errors.get(data[:4])
        if item is None:
            return Reverted(data, None, ())
        return Reverted(data, item["name"], tuple(decode(_types(item["inputs"]), data[4:])))

    def decode_logs(self, receipt: dict, name: str, address: str | None = None) -> list[dict]:
        """The `name` events in a receipt (from `address` if given), as {param: value}."""
        topic0 = self.event_topic(name)
        item = self.events[topic0]
        indexed = [p for p in item["inputs"] if p["indexed"]]
        plain = [p for p in item["inputs"] if not p["indexed"]]
        out = []
        for log in receipt["logs"]:
            if not log["topics"] or log["topics"][0] != topic0:
                continue
            if address and log["address"].lower() != address.lower():
                continue
            values: dict[str, Any] = {}
            for p, t in zip(indexed, log["topics"][1:], strict=True):
                values[p["name"]] = decode([p["type"]], bytes.fromhex(t[2:]))[0]
            for p, v in zip(plain, decode(_types(plain), bytes.fromhex(log["data"][2:])),
                            strict=True):
                values[p["name"]] = v
            out.append(values)
        return out


Sender = LocalAccount | str  # a key that signs here, or an unlocked account's address (anvil)


def _hex(n: int) -> str:
    return hex(n)


def send(rpc: Rpc, sender: Sender, to: str | None, data: bytes, *, abi: Abi | None = None,
         value: int = 0, gas: int | None = None, timeout: float = 60.0) -> dict:
    """Sends a transaction and returns its receipt (status 1), or raises `Reverted` (the gas
    estimate reverted: nothing was sent) or `TxFailed` (mined, status 0; only with `gas`)."""
    frm = sender.address if isinstance(sender, LocalAccount) else to_checksum_address(sender)
    tx: dict[str, Any] = {"from": frm, "data": "0x" + data.hex(), "value": _hex(value)}
    if to is not None:
        tx["to"] = to_checksum_address(to)
    if gas is None:
        try:
            estimate = int(rpc("eth_estimateGas", tx), 16)
        except RpcError as e:
            revert = e.revert_data()
            if revert is None:
                raise
            raise (abi.reverted(revert) if abi else Reverted(revert, None, ())) from None
        gas = estimate + estimate // 5  # 20 % headroom
    tx["gas"] = _hex(gas)
    if isinstance(sender, LocalAccount):
        base = int(rpc("eth_getBlockByNumber", "latest", False).get("baseFeePerGas") or "0x0", 16)
        try:
            tip = int(rpc("eth_maxPriorityFeePerGas"), 16)
        except RpcError:
            tip = 10**9
        signed = sender.sign_transaction({
            "type": 2,
            "chainId": rpc.chain_id(),
            "nonce": int(rpc("eth_getTransactionCount", frm, "pending"), 16),
            **({"to": tx["to"]} if to is not None else {}),
            "value": value,
            "data": data,
            "gas": gas,
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": 2 * base + tip,
        })
        tx_hash = rpc("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
    else:
        tx_hash = rpc("eth_sendTransaction", tx)
    receipt = rpc.wait_receipt(tx_hash, timeout)
    if int(receipt["status"], 16) != 1:
        raise TxFailed(receipt)
    return receipt


class Contract:
    """A deployed contract: `call` (eth_call) and `transact` (send + receipt) by function name."""

    def __init__(self, rpc: Rpc, address: str, abi: Abi):
        self.rpc, self.address, self.abi = rpc, to_checksum_address(address), abi

    def call(self, name: str, *args: Any, sender: str | None = None) -> Any:
        tx = {"to": self.address, "data": "0x" + self.abi.encode_call(name, *args).hex()}
        if sender:
            tx["from"] = to_checksum_address(sender)
        try:
            out = self.rpc("eth_call", tx, "latest")
        except RpcError as e:
            revert = e.revert_data()
            if revert is None:
                raise
            raise self.abi.reverted(revert) from None
        return self.abi.decode_output(name, bytes.fromhex(out[2:]))

    def transact(self, sender: Sender, name: str, *args: Any, gas: int | None = None,
                 timeout: float = 60.0) -> dict:
        return send(self.rpc, sender, self.address, self.abi.encode_call(name, *args),
                    abi=self.abi, gas=gas, timeout=timeout)

    def events(self, receipt: dict, name: str) -> list[dict]:
        return self.abi.decode_logs(receipt, name, self.address)


def load_artifact(path: Path = ARTIFACT) -> dict:
    return json.loads(Path(path).read_text())


def deploy(rpc: Rpc, sender: Sender, artifact: dict, timeout: float = 60.0) -> Contract:
    """Deploys the artifact's bytecode and checks that the code on chain is its
    deployedBytecode."""
    abi = Abi(artifact["abi"])
    receipt = send(rpc, sender, None, abi.encode_deploy(artifact["bytecode"]), abi=abi,
                   timeout=timeout)
    address = receipt["contractAddress"]
    code = rpc("eth_getCode", address, "latest")
    if code.lower() != artifact["deployedBytecode"].lower():
        raise RuntimeError(f"the code at {address} is not the artifact's deployedBytecode")
    return Contract(rpc, address, abi)


def new_account() -> LocalAccount:
    """A fresh random key (os.urandom through eth-account)."""
    return Account.create()


def account(private_key: str) -> LocalAccount:
    return Account.from_key(private_key)
