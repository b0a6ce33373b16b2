"""`make up` pointed at another carrier: with CARRIER_API_BASE, OXIO_API_KEY, OXIO_AUTH_TOKEN,
OXIO_BRAND_ID and the plan ids in its environment, the stack makes its lines there (as an
operator trying OXIO staging from a laptop would), not at its own sandbox's carrier.

The second carrier is a provider sandbox of this test's own (infra/sandbox, OXIO-shaped and
strict) with other credentials, another brand and other plans: a stack that sent the local
defaults would be refused there (401 / 400). A person signs in, gets the $1 invoice, pays it on
the stack's own sandbox (Stripe stays local), and the eSIM turns active with the second
carrier's line.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from private_sandbox import PrivateSandbox
from test_shutdown import clean_up, start_make_up, tail, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
KEY, TOKEN = "oxio_key_elsewhere", "oxio_token_elsewhere"
BRAND = "0b7e8a52-3c1d-4e6f-9a80-5e1f2d3c4b5a"
PLANS = ("elsewhere-esim", "elsewhere-beta", "elsewhere-booster")


@pytest.fixture
def elsewhere():
    sandbox = PrivateSandbox("--oxio-key", KEY, "--oxio-token", TOKEN, "--oxio-brand", BRAND,
                             "--oxio-plans", ",".join(PLANS), "--oxio-area-codes", "303")
    try:
        yield sandbox
    finally:
        sandbox.close()


def test_make_up_makes_its_lines_at_the_carrier_it_is_given(elsewhere, tmp_path: Path) -> None:
    make, ports, marker, logdir, log = start_make_up(
        tmp_path, "DOTM_ELSEWHERE_TEST",
        CARRIER_API_BASE=elsewhere.url, OXIO_API_KEY=KEY, OXIO_AUTH_TOKEN=TOKEN,
        OXIO_BRAND_ID=BRAND, OXIO_ESIM_PLAN_ID=PLANS[0], OXIO_BETA_PLAN_ID=PLANS[1],
        OXIO_BOOSTER_PLAN_ID=PLANS[2],
    )
    port, sandbox_port = ports[0], ports[2]
    try:
        wait_healthy(make, port, log)
        assert f"carrier: {elsewhere.url} (line services: none)" in log.read_text(), tail(log)
        local = httpx.Client(base_url=f"http://127.0.0.1:{sandbox_port}", timeout=30)
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        other = httpx.Client(base_url=elsewhere.url, timeout=30)

        uid = f"t{uuid.uuid4().hex}"
        email = f"{uid}@example.test"
        r = local.post("/__sandbox/firebase/token", json={"uid": uid, "email": email})
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['id_token']}"}
        r = api.post("/api/esim/activate", headers=auth, json={})
        assert r.status_code == 200, r.text
        invoice = r.json()
        assert invoice["status"] == "payment_required", invoice
        r = local.post(f"/__sandbox/stripe/invoices/{invoice['invoice_id']}/pay", json={})
        assert r.status_code == 200, r.text

        deadline = time.monotonic() + 120
        while True:
            answer = api.post("/api/esim/activate", headers=auth, json={}).json()
            if answer["status"] in ("active", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer["status"] == "active", (answer, tail(logdir / "lambda.log", 40))

        # The line is the second carrier's, made once, for this person's end user there.
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
        # The stack's own sandbox made nothing.
        mine = local.get("/__sandbox/carrier/calls", params={"email": email}).json()["calls"]
        assert mine == [], mine
    finally:
        clean_up(make, ports, marker, logdir)
