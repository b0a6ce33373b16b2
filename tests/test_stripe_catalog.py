"""`make stripe-catalog` (infra/stripe_catalog.py) against the sandbox's Stripe: every yearly and
monthly service gets its Product and a Price under its lookup key; a second run changes nothing;
a Price that no longer matches the catalog is left alone and a new one takes the lookup key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RECURRING = {"basic_membership": (2400, "year"), "full_membership": (6600, "year"),
             "network_security": (500, "month"), "vpn_access": (800, "month"),
             "priority_routing": (600, "month"), "network_monitoring": (400, "month"),
             "performance_optimization": (300, "month")}


def run_sync(base_url: str) -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "stripe_catalog.py"),
         "--catalog", f"{base_url}/mcp/api", "--stripe", os.environ["DOTM_SANDBOX_URL"]],
        capture_output=True, text=True, timeout=60, check=True)
    return out.stdout


def active_prices(sandbox: str, key: str) -> dict[str, list[dict]]:
    got = httpx.get(f"{sandbox}/v1/prices", params={"active": "true", "limit": 100},
                    headers={"Authorization": f"Bearer {key}"}).json()["data"]
    by_key: dict[str, list[dict]] = {}
    for p in got:
        if p.get("lookup_key"):
            by_key.setdefault(p["lookup_key"], []).append(p)
    return by_key


def test_every_recurring_service_has_its_price_and_a_second_run_changes_nothing(base_url):
    sandbox, key = os.environ["DOTM_SANDBOX_URL"], os.environ["STRIPE_SECRET_KEY"]
    auth = {"Authorization": f"Bearer {key}"}
    # A stale Price for one service, as if the catalog's price had changed since it was made.
    if httpx.get(f"{sandbox}/v1/products/dotm_vpn_access", headers=auth).status_code == 404:
        httpx.post(f"{sandbox}/v1/products", headers=auth,
                   data={"id": "dotm_vpn_access", "name": "DOTM VPN Access"}).raise_for_status()
    stale = httpx.post(f"{sandbox}/v1/prices", headers=auth, data={
        "product": "dotm_vpn_access", "unit_amount": "700", "currency": "usd",
        "recurring[interval]": "month", "lookup_key": "vpn_access",
        "transfer_lookup_key": "true"}).json()

    run_sync(base_url)
    prices = active_prices(sandbox, key)
    for sid, (cents, interval) in RECURRING.items():
        (price,) = prices[sid]  # the lookup key names one price
        assert (price["unit_amount"], price["recurring"]["interval"]) == (cents, interval), price
        assert price["product"] == f"dotm_{sid}", price
    assert prices["vpn_access"][0]["id"] != stale["id"]
    old = httpx.get(f"{sandbox}/v1/prices/{stale['id']}", headers=auth).json()
    assert old["unit_amount"] == 700, "a price is never edited in place"

    again = run_sync(base_url)
    assert "nothing to do" in again, again
    assert active_prices(sandbox, key) == prices
