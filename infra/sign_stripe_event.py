#!/usr/bin/env python3
"""Re-sign a sample webhook event (events/stripe-*.json) with the current time, as Stripe would.

The committed samples carry a signature from 2026-11-25, which the webhook refuses as stale
(300 s tolerance). To see the accepted path locally:

    python3 infra/sign_stripe_event.py events/stripe-invoice-paid.json > /tmp/paid.json
    .venv/bin/cargo-lambda lambda invoke stripe-webhook --data-file /tmp/paid.json

The secret defaults to the local stack's (STRIPE_WEBHOOK_SECRET, else whsec_local).
"""
import hashlib
import hmac
import json
import os
import sys
import time


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        event = json.load(f)
    secret = os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_local").encode()
    t = int(time.time())
    signature = hmac.new(secret, f"{t}.{event['body']}".encode(), hashlib.sha256).hexdigest()
    event["headers"]["stripe-signature"] = f"t={t},v1={signature}"
    json.dump(event, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
