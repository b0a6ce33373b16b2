"""Writes the field lists the Stripe sandbox's shape test holds it to (infra/sandbox/
stripe_fields.json), from Stripe's published fixtures: `openapi/fixtures3.json` of the public
`stripe/openapi` repository. Run again when the pinned API version moves:

    python3 infra/tools/stripe_fields.py path/to/fixtures3.json COMMIT \
        > infra/sandbox/stripe_fields.json

A field list is the fixture object's keys, nested where the fixture's value is an object
(lists of objects as "[]"); maps of free keys (metadata) and polymorphic objects hold nothing.
"""

from __future__ import annotations

import json
import sys

# The object types the sandbox emits (its API answers and the objects of its events).
TYPES = ("customer", "invoiceitem", "invoice", "line_item", "event", "product", "price", "plan",
         "subscription", "subscription_item", "refund", "charge", "dispute", "invoice_payment",
         "webhook_endpoint")
FREE = {"metadata", "data", "previous_attributes"}  # keys chosen by someone else


def shape(value):
    if isinstance(value, dict):
        return {k: (None if k in FREE else shape(v)) for k, v in sorted(value.items())}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return {"[]": shape(value[0])}
    return None


def main() -> None:
    resources = json.load(open(sys.argv[1]))["resources"]
    out = {t: shape(resources[t]) for t in TYPES}
    source = f"stripe/openapi@{sys.argv[2]} openapi/fixtures3.json"
    json.dump({"source": source, "fields": out}, sys.stdout,
              indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
