"""Stripe's request encoding: application/x-www-form-urlencoded with nested keys.

`metadata[firebase_uid]=u1&expand[]=lines&price_data[unit_amount]=100&expand[0]=x` becomes
`{"metadata": {"firebase_uid": "u1"}, "expand": ["lines", "x"], "price_data": {...}}`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

_PART = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    pass


def _split(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    if not rest:
        return [head]
    tail = "[" + rest
    parts = _PART.findall(tail)
    if "".join(f"[{p}]" for p in parts) != tail:
        raise FormError(f"malformed parameter name: {key}")
    return [head, *parts]


def parse(body: str) -> dict:
    out: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True, strict_parsing=False):
        path = _split(key)
        node = out
        for i, part in enumerate(path):
            last = i == len(path) - 1
            nxt = None if last else path[i + 1]
            if isinstance(node, list):
                # "a[]" appends; "a[0]" indexes (serde_qs writes arrays so)
                if part == "" or part.isdigit():
                    idx = len(node) if part == "" else int(part)
                    while len(node) <= idx:
                        node.append(None)
                    if last:
                        node[idx] = value
                    else:
                        if node[idx] is None:
                            node[idx] = [] if (nxt == "" or (nxt or "").isdigit()) else {}
                        node = node[idx]
                    continue
                raise FormError(f"malformed parameter name: {key}")
            if last:
                node[part] = value
            else:
                if part not in node or not isinstance(node[part], (dict, list)):
                    node[part] = [] if (nxt == "" or (nxt or "").isdigit()) else {}
                node = node[part]
    return _compact(out)


def _compact(v):
    if isinstance(v, dict):
        return {k: _compact(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_compact(x) for x in v if x is not None]
    return v
