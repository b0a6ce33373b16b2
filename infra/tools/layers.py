#!/usr/bin/env python3
"""Fails when an inner layer of the workspace depends on an outer one.

Usage: layers.py [--metadata FILE]   (default: runs `cargo metadata --format-version 1`)

Reads the resolved dependency graph and, for each inner crate, walks its normal (non-dev,
non-build) dependencies transitively. `dotm-domain` (pure rules) may reach none of: the crate
`dotm` (use cases, ports, adapters), an AWS SDK crate, `alloy` (the chain client; the
`alloy-primitives` value types are allowed), `reqwest`, `hyper`, `axum`, `lambda_runtime`,
`async-stripe*`, `tokio`. Prints each path that does (crate -> ... -> forbidden) and exits 1 if
any; 0 and one line per checked crate otherwise.
"""
from __future__ import annotations

import json
import subprocess
import sys

# Inner crate -> what it must never reach (exact names, or prefixes ending with "*").
RULES = {
    "dotm-domain": ["dotm", "aws-*", "alloy", "reqwest", "hyper", "axum", "lambda_runtime",
                    "async-stripe*", "tokio"],
}


def forbidden(name: str, patterns: list[str]) -> bool:
    return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in patterns)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--metadata":
        meta = json.load(open(argv[1]))
    else:
        out = subprocess.run(["cargo", "metadata", "--format-version", "1"], capture_output=True)
        if out.returncode != 0:
            print(f"layers: cargo metadata failed:\n{out.stderr.decode()}", file=sys.stderr)
            return 1
        meta = json.loads(out.stdout)
    names = {p["id"]: p["name"] for p in meta["packages"]}
    deps = {}
    for node in meta["resolve"]["nodes"]:
        deps[node["id"]] = [d["pkg"] for d in node["deps"]
                            if any(k["kind"] is None for k in d["dep_kinds"])]
    by_name = {names[i]: i for i in deps if names[i] in RULES}
    failed = False
    for crate, patterns in RULES.items():
        if crate not in by_name:
            print(f"layers: no crate {crate} in the workspace", file=sys.stderr)
            return 1
        # Breadth first, keeping the path that reached each crate.
        start = by_name[crate]
        seen = {start: [crate]}
        queue = [start]
        bad = []
        while queue:
            cur = queue.pop(0)
            for nxt in deps.get(cur, []):
                if nxt in seen:
                    continue
                seen[nxt] = seen[cur] + [names[nxt]]
                if forbidden(names[nxt], patterns):
                    bad.append(seen[nxt])
                    continue
                queue.append(nxt)
        for path in bad:
            failed = True
            print(f"layers: {' -> '.join(path)} (an inner layer reaching an outer one)")
        if not bad:
            print(f"layers: {crate} reaches none of {', '.join(patterns)} "
                  f"({len(seen) - 1} crates checked)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
