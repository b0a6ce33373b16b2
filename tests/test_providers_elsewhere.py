"""`make up` pointed at other providers, as an operator trying Stripe test mode, a Resend
account, OXIO staging and Sepolia from a laptop would: with STRIPE_API_BASE, MAIL_API_BASE,
CARRIER_API_BASE and CHAIN_RPC_URL (and their keys) in its environment, the stack invoices,
mails, makes its lines and mints there, not at its own sandbox and anvil.

The other Stripe, Resend and OXIO are a provider sandbox of this test's own (infra/sandbox,
strict) with other keys, another webhook secret, another verified mail domain, another brand and
other plans: a stack that sent the local defaults would be refused there (401 / 403 / 400). The
other chain is an anvil of this test's own with its own DOTM deployment and minter key. A person
signs in (Firebase stays local), sets a wallet, gets the $1 invoice from the other Stripe, pays
it there (its signed invoice.paid reaches the stack), and the eSIM turns active with the other
carrier's line, the receipt comes from the other mailbox and the cashback is minted on the other
chain.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from private_sandbox import PrivateSandbox, free_port
from test_shutdown import clean_up, start_make_up, tail, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "infra" / "chain"))
from ethrpc import Abi, Contract, Rpc, load_artifact, new_account  # noqa: E402

ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
KEY, TOKEN = "oxio_key_elsewhere", "oxio_token_elsewhere"
BRAND = "0b7e8a52-3c1d-4e6f-9a80-5e1f2d3c4b5a"
PLANS = ("elsewhere-esim", "elsewhere-beta", "elsewhere-booster")
STRIPE_KEY, WEBHOOK_SECRET = "sk_test_elsewhere", "whsec_elsewhere"
RESEND_KEY, SENDER = "re_elsewhere", "DOTM <esim@mail.elsewhere.example>"


@pytest.fixture
def elsewhere():
    sandbox = PrivateSandbox("--oxio-key", KEY, "--oxio-token", TOKEN, "--oxio-brand", BRAND,
                             "--oxio-plans", ",".join(PLANS), "--oxio-area-codes", "303",
                             "--stripe-key", STRIPE_KEY, "--webhook-secret", WEBHOOK_SECRET,
                             "--resend-key", RESEND_KEY, "--resend-domains",
                             "mail.elsewhere.example")
    try:
        yield sandbox
    finally:
        sandbox.close()


@pytest.fixture
def chain(tmp_path: Path):
    """An anvil of its own with DOTM deployed: the exports deploy.py prints."""
    assert ANVIL.exists(), f"{ANVIL}: infra/scripts/bootstrap.sh installs it"
    port = free_port()
    log = open(tmp_path / "anvil.log", "wb")
    anvil = subprocess.Popen([str(ANVIL), "--host", "127.0.0.1", "--port", str(port),
                              "--chain-id", "31337", "--accounts", "2", "--quiet"],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        out = subprocess.run(
            [sys.executable, str(ROOT / "infra" / "chain" / "deploy.py"), "--rpc-url",
             f"http://127.0.0.1:{port}", "--chain-id", "31337", "--unlocked-deployer",
             "--new-minter", "--wait", "30"], capture_output=True, timeout=120, check=True)
        exports = dict(line.removeprefix("export ").split("=", 1)
                       for line in out.stdout.decode().splitlines() if line.startswith("export "))
        yield {k: shlex.split(v)[0] for k, v in exports.items()}
    finally:
        anvil.terminate()
        anvil.wait(10)
        log.close()


def test_make_up_uses_the_providers_it_is_given(elsewhere, chain, tmp_path: Path) -> None:
    make, ports, marker, logdir, log = start_make_up(
        tmp_path, "DOTM_ELSEWHERE_TEST",
        CARRIER_API_BASE=elsewhere.url, OXIO_API_KEY=KEY, OXIO_AUTH_TOKEN=TOKEN,
        OXIO_BRAND_ID=BRAND, OXIO_ESIM_PLAN_ID=PLANS[0], OXIO_BETA_PLAN_ID=PLANS[1],
        OXIO_BOOSTER_PLAN_ID=PLANS[2],
        STRIPE_API_BASE=f"{elsewhere.url}/", STRIPE_SECRET_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        MAIL_API_BASE=elsewhere.url, RESEND_API_KEY=RESEND_KEY, MAIL_FROM=SENDER,
        CHAIN_RPC_URL=chain["CHAIN_RPC_URL"], CHAIN_ID="31337",
        DOTM_TOKEN_ADDRESS=chain["DOTM_TOKEN_ADDRESS"],
        DOTM_MINTER_PRIVATE_KEY=chain["DOTM_MINTER_PRIVATE_KEY"],
    )
    port, sandbox_port, chain_port = ports[0], ports[2], ports[4]
    try:
        wait_healthy(make, port, log)
        said = log.read_text()
        assert f"carrier: {elsewhere.url} (line services: none)" in said, tail(log)
        assert f"stripe: {elsewhere.url}/" in said and f"mail: {elsewhere.url}" in said, tail(log)
        assert f"chain: {chain['CHAIN_RPC_URL']} (chain 31337" in said, tail(log)
        assert "stripe listen --forward-to" in said, "no endpoint registered at a remote Stripe"
        assert STRIPE_KEY not in said and RESEND_KEY not in said, "no key in the log"
        local = httpx.Client(base_url=f"http://127.0.0.1:{sandbox_port}", timeout=30)
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        other = httpx.Client(base_url=elsewhere.url, timeout=30)

        uid = f"t{uuid.uuid4().hex}"
        email = f"{uid}@example.test"
        r = local.post("/__sandbox/firebase/token", json={"uid": uid, "email": email})
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['id_token']}"}
        wallet = new_account().address
        r = api.put("/api/wallet", headers=auth, json={"wallet": wallet})
        assert r.status_code == 200, r.text
        r = api.post("/api/esim/activate", headers=auth, json={})
        assert r.status_code == 200, r.text
        invoice = r.json()
        assert invoice["status"] == "payment_required", invoice
        # The invoice is the other Stripe's; the stack's own sandbox made none.
        made = other.get("/__sandbox/stripe/invoices", params={"customer_email": email})
        assert [i["id"] for i in made.json()["data"]] == [invoice["invoice_id"]], made.text
        mine = local.get("/__sandbox/stripe/invoices", params={"customer_email": email})
        assert mine.json()["data"] == [], mine.text
        r = other.post(f"/__sandbox/stripe/invoices/{invoice['invoice_id']}/pay",
                       json={"webhook_url": f"http://127.0.0.1:{port}/webhooks/stripe"})
        assert r.status_code == 200 and r.json()["delivery"]["status"] == 200, r.text

        deadline = time.monotonic() + 120
        while True:
            answer = api.post("/api/esim/activate", headers=auth, json={}).json()
            if answer["status"] in ("active", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer["status"] == "active", (answer, tail(logdir / "lambda.log", 40))

        # The line is the other carrier's, made once, for this person's end user there.
        lines = other.get("/__sandbox/carrier/lines", params={"email": email}).json()["lines"]
        assert len(lines) == 1, lines
        line = lines[0]
        assert answer["phone_number"] == line["phoneNumbers"][0]["phoneNumber"]
        assert answer["phone_number"].startswith("+1303"), answer
        assert answer["iccid"] == line["sim"]["iccid"]
        assert answer["lpa_code"] == line["sim"]["activationCode"]
        calls = other.get("/__sandbox/carrier/calls", params={"email": email}).json()["calls"]
        assert [c["status"] for c in calls] == [201], calls
        assert calls[0]["plan_id"] == PLANS[0], calls
        # OXIO shows no usage readings (line services "none"): the answer says so.
        usage = api.get("/api/esim/usage", headers=auth)
        assert usage.status_code == 200, usage.text
        assert usage.json()["status"] == "unsupported", usage.json()
        assert "not available from our carrier" in usage.json()["message"]
        assert local.get("/__sandbox/carrier/calls",
                         params={"email": email}).json()["calls"] == []

        # The mail came from the other Resend, from the sender verified there.
        deadline = time.monotonic() + 60
        while True:
            got = other.get("/__sandbox/mail/messages", params={"to": email}).json()["messages"]
            if got or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert got and all(m["from"] == SENDER for m in got), got
        assert local.get("/__sandbox/mail/messages", params={"to": email}).json()["messages"] == []

        # The cashback was minted on the other chain, by the minter key given.
        rpc = Rpc(chain["CHAIN_RPC_URL"])
        token = Contract(rpc, chain["DOTM_TOKEN_ADDRESS"], Abi(load_artifact()["abi"]))
        deadline = time.monotonic() + 60
        while token.call("balanceOf", wallet) == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert token.call("balanceOf", wallet) > 0, tail(logdir / "lambda.log", 40)
        with pytest.raises(httpx.ConnectError):  # no anvil of the stack's own
            httpx.post(f"http://127.0.0.1:{chain_port}", json={}, timeout=2)
    finally:
        clean_up(make, ports, marker, logdir)
