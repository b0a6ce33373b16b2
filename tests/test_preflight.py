"""`make stripe-setup` and `make preflight` against the test stack, as an operator runs them:

- the stack registered its webhook endpoint at start (stripe-setup), for exactly the event types
  the webhook handles: each one, signed and sent with an empty object, reaches a handler (400
  malformed-event), while another type is acknowledged and ignored (200);
- stripe-setup makes a missing endpoint (printing its secret once) and brings one registered
  for too few events in step;
- preflight passes on the stack, and fails naming the setting for a bad Stripe key, an endpoint
  without every handled event, a sender domain Resend has not verified, a wrong chain id.

Runs the binaries `make test` builds, with the stack's environment (its keys, its sandbox).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from test_payments import stripe_signature

TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or Path.home() / ".cache" / "dotm-target")
PREFLIGHT = TARGET / "debug" / "preflight"
SETUP = TARGET / "debug" / "stripe-setup"


def run(binary: Path, *args: str, **env: str) -> tuple[int, str]:
    assert binary.exists(), f"{binary}: make test builds it"
    full = {**os.environ, "STRIPE_MODE": "test", **env}
    out = subprocess.run([str(binary), *args], env=full, capture_output=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    return out.returncode, (out.stdout + out.stderr).decode(errors="replace")


def row(output: str, provider: str, check: str) -> str:
    [line] = [ln for ln in output.splitlines()
              if ln.split()[:1 + len(check.split())] == [provider, *check.split()]]
    return line


def status(output: str, provider: str, check: str) -> str:
    """The result column of a check's row: ok, unchecked, warn or FAIL."""
    return row(output, provider, check).split()[1 + len(check.split())]


@pytest.fixture(scope="module")
def stack_webhook(base_url: str) -> str:
    return f"{base_url}/webhooks/stripe"


@pytest.fixture(scope="module")
def endpoints(sandbox_url: str):
    with httpx.Client(base_url=f"{sandbox_url}/v1", timeout=30,
                      headers={"Authorization": f"Bearer {os.environ['STRIPE_SECRET_KEY']}"}) as c:
        yield c


def endpoint_for(endpoints: httpx.Client, url: str) -> dict:
    [found] = [e for e in endpoints.get("/webhook_endpoints", params={"limit": 100}).json()["data"]
               if e["url"] == url]
    return found


def test_the_registered_events_are_exactly_the_handled_ones(
        endpoints, stack_webhook, http: httpx.Client, webhook_secret: str) -> None:
    registered = endpoint_for(endpoints, stack_webhook)
    assert registered["status"] == "enabled" and registered["api_version"] == "2026-09-30.endive"
    events = registered["enabled_events"]
    assert "invoice.paid" in events and "invoice_payment.paid" in events, events
    for kind in events + ["charge.dispute.closed", "customer.created"]:
        body = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": kind, "created": 1,
                           "data": {"object": {}}}).encode()
        r = http.post("/webhooks/stripe", content=body, headers={
            "Content-Type": "application/json",
            "Stripe-Signature": stripe_signature(webhook_secret, body, int(time.time()))})
        if kind in events:
            assert r.status_code == 400 and "malformed" in r.text, (kind, r.status_code, r.text)
        else:
            assert r.status_code == 200, (kind, r.status_code, r.text)


def test_stripe_setup_makes_a_missing_endpoint_and_completes_a_short_one(endpoints,
                                                                       stack_webhook) -> None:
    url = f"https://hooks-{uuid.uuid4().hex[:8]}.dotm.example/webhooks/stripe"
    code, out = run(SETUP, "--url", url)
    assert code == 0 and "created we_" in out, out
    assert "whsec_" in out, "a new endpoint's secret is shown once"
    made = endpoint_for(endpoints, url)
    stack = endpoint_for(endpoints, stack_webhook)
    assert sorted(made["enabled_events"]) == sorted(stack["enabled_events"])

    code, out = run(SETUP, "--url", url)
    assert code == 0 and "already receives" in out, out

    short = endpoints.post(f"/webhook_endpoints/{made['id']}",
                           data={"enabled_events[0]": "invoice.paid"})
    assert short.status_code == 200, short.text
    code, out = run(PREFLIGHT, STRIPE_WEBHOOK_URL=url)
    assert code == 1, out
    line = row(out, "stripe", "webhook endpoint")
    assert status(out, "stripe", "webhook endpoint") == "FAIL", line
    assert f"STRIPE_WEBHOOK_URL {url}" in line, line
    assert "charge.refunded" in line and "invoice_payment.paid" in line, line

    code, out = run(SETUP, "--url", url)
    assert code == 0 and "updated" in out and "unchanged" in out, out
    assert sorted(endpoint_for(endpoints, url)["enabled_events"]) == \
        sorted(stack["enabled_events"])
    code, out = run(PREFLIGHT, STRIPE_WEBHOOK_URL=url)
    assert status(out, "stripe", "webhook endpoint") == "ok", out


def test_preflight_passes_on_the_stack(stack_webhook) -> None:
    code, out = run(PREFLIGHT, STRIPE_WEBHOOK_URL=stack_webhook)
    assert code == 0, out
    assert "preflight passed" in out, out
    for provider, check in (("stripe", "key accepted"), ("stripe", "webhook endpoint"),
                            ("resend", "sender domain"), ("oxio", "credentials"),
                            ("firebase", "signing keys"), ("chain", "chain id"),
                            ("chain", "token"), ("chain", "minter gas")):
        assert status(out, provider, check) == "ok", (provider, check, out)
    assert status(out, "oxio", "brand") == "unchecked", out  # OXIO cannot be asked: said so
    assert os.environ["STRIPE_SECRET_KEY"] not in out, "no key in the output"


@pytest.mark.parametrize("setting, value, provider, check, says", [
    ("STRIPE_SECRET_KEY", "sk_test_not_this_account", "stripe", "key accepted",
     "STRIPE_SECRET_KEY: Stripe refused it"),
    ("STRIPE_MODE", "live", "stripe", "key mode", "STRIPE_SECRET_KEY is a test key; STRIPE_MODE expects live"),
    ("MAIL_FROM", "DOTM <esim@dotm.example>", "resend", "sender domain",
     "MAIL_FROM: dotm.example is not a domain of this Resend account"),
    ("CHAIN_ID", "1", "chain", "chain id", "CHAIN_RPC_URL serves chain 31337 but CHAIN_ID is 1"),
    ("RESEND_API_KEY", "re_not_ours", "resend", "key accepted", "RESEND_API_KEY: Resend refused it"),
])
def test_preflight_fails_naming_the_setting(stack_webhook, setting, value, provider, check,
                                            says) -> None:
    code, out = run(PREFLIGHT, STRIPE_WEBHOOK_URL=stack_webhook, **{setting: value})
    assert code == 1, out
    line = row(out, provider, check)
    assert status(out, provider, check) == "FAIL" and says in line, line
    assert "preflight FAILED" in out, out
