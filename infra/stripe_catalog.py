"""Keeps Stripe's Products and Prices in step with DOTM's catalog: for every yearly or monthly
service, a Product `dotm_<service id>` and an active recurring Price in USD whose lookup key is
the service id. Missing ones are created; a Price whose amount or interval differs from the
catalog is never edited (Stripe cannot, and old subscriptions keep theirs): a new Price takes
the lookup key over (`transfer_lookup_key`). Running it twice creates nothing the second time.

The `mcp` function's adapter applies the same rules on first use, so this is the ahead-of-time
step for an account (a deploy step or `make stripe-catalog`), not a requirement.

    python3 infra/stripe_catalog.py --catalog http://127.0.0.1:3000/mcp/api \\
        --stripe https://api.stripe.com   # key from STRIPE_SECRET_KEY
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

INTERVALS = {"monthly": "month", "yearly": "year"}


def call(stripe: str, key: str, method: str, path: str, params: list[tuple[str, str]] | None = None,
         idempotency_key: str | None = None) -> dict | None:
    data = urllib.parse.urlencode(params or [])
    url = f"{stripe.rstrip('/')}/v1/{path}"
    body = None
    if method == "GET" and data:
        url += "?" + data
    elif method == "POST":
        body = data.encode()
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Authorization": f"Bearer {key}"})
    if idempotency_key:
        req.add_header("Idempotency-Key", idempotency_key)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        if e.code == 404 and method == "GET":
            return None
        detail = e.read(500).decode("utf-8", "replace")
        raise SystemExit(f"stripe {method} {path}: HTTP {e.code}: {detail}") from None


def sync(catalog: dict, stripe: str, key: str) -> list[str]:
    """What was done, one line per change."""
    done = []
    for sid, service in sorted(catalog["services"].items()):
        interval = INTERVALS.get(service["billing"])
        if interval is None:
            continue
        cents = int(service["price_cents"])
        found = call(stripe, key, "GET", "prices",
                     [("lookup_keys[]", sid), ("active", "true")]) or {"data": []}
        if any(p.get("unit_amount") == cents and p.get("currency") == "usd"
               and (p.get("recurring") or {}).get("interval") == interval
               for p in found["data"]):
            continue
        # Keyed by what it replaces too: after A -> B -> A a replay must not answer the first A.
        replaces = found["data"][0]["id"] if found["data"] else "none"
        product = f"dotm_{sid}"
        if call(stripe, key, "GET", f"products/{product}") is None:
            call(stripe, key, "POST", "products",
                 [("id", product), ("name", f"DOTM {service['name']}"),
                  ("description", service["description"]), ("metadata[service_id]", sid)],
                 idempotency_key=f"dotm-product-{sid}")
            done.append(f"product {product} created")
        price = call(stripe, key, "POST", "prices",
                     [("product", product), ("unit_amount", str(cents)), ("currency", "usd"),
                      ("recurring[interval]", interval), ("lookup_key", sid),
                      ("transfer_lookup_key", "true"),
                      ("nickname", f"{service['name']} ({service['billing']})")],
                     idempotency_key=f"dotm-price-{sid}-{cents}-{interval}-{replaces}")
        done.append(f"price {price['id']} for {sid}: {cents} cents per {interval}")
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--catalog", required=True, help="the catalog endpoint (GET /mcp/api)")
    ap.add_argument("--stripe", default="https://api.stripe.com", help="Stripe's API base")
    args = ap.parse_args()
    key = os.environ.get("STRIPE_SECRET_KEY")
    if not key:
        print("STRIPE_SECRET_KEY is not set", file=sys.stderr)
        return 2
    with urllib.request.urlopen(args.catalog, timeout=20) as resp:
        catalog = json.loads(resp.read())
    for line in sync(catalog, args.stripe, key) or ["Stripe's catalog is in step: nothing to do"]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
