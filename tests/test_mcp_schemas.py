"""What the MCP endpoint answers is valid against the MCP specification's own JSON Schema of each
protocol revision it serves (tests/data/mcp-schema/, copied from the specification's
repository): `tools/list`, `prompts/list`, `resources/list` and a `tools/call` of a public
tool, over plain JSON-RPC as any client sends it.

And every tool's input and output schema has an object at every node: a boolean schema
(`"profile": true`, from an untyped field) is valid JSON Schema, but clients that validate tool
definitions with the TypeScript SDK's schema (the MCP Inspector 0.15 line and tools built on it)
reject the whole `tools/list` for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonschema
import pytest

SCHEMAS = Path(__file__).resolve().parent / "data" / "mcp-schema"
ACCEPT = "application/json, text/event-stream"
# The revisions with an `initialize` handshake; 2026-07-28 has none (checked apart below).
WITH_INITIALIZE = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")


def validator(revision: str, definition: str) -> jsonschema.protocols.Validator:
    root = json.loads((SCHEMAS / f"{revision}.json").read_text())
    defs = "definitions" if "definitions" in root else "$defs"
    assert definition in root[defs], (revision, definition)
    schema = dict(root, **{"$ref": f"#/{defs}/{definition}"})
    cls = jsonschema.validators.validator_for(root)
    return cls(schema)


def check(revision: str, definition: str, result: dict) -> None:
    errors = sorted(validator(revision, definition).iter_errors(result), key=str)
    assert not errors, f"{revision} {definition}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:5])


class Session:
    def __init__(self, http: httpx.Client, revision: str):
        self.http, self.revision, self.headers, self.n = http, revision, {"Accept": ACCEPT}, 0

    def call(self, method: str, params: dict | None = None) -> dict:
        self.n += 1
        body = {"jsonrpc": "2.0", "id": self.n, "method": method}
        if params is not None:
            body["params"] = params
        r = self.http.post("/mcp", json=body, headers=self.headers)
        assert r.status_code == 200, (self.revision, method, r.status_code, r.text[:300])
        answer = r.json()
        assert "result" in answer, (self.revision, method, answer)
        return answer["result"]

    def initialize(self) -> dict:
        result = self.call("initialize", {
            "protocolVersion": self.revision, "capabilities": {},
            "clientInfo": {"name": "schema-check", "version": "1"}})
        self.headers["MCP-Protocol-Version"] = result["protocolVersion"]
        return result


def object_nodes_only(schema, at: str) -> list[str]:
    """Every place below `at` where a schema node is a boolean rather than an object."""
    bad: list[str] = []
    if isinstance(schema, bool):
        return [at]
    if not isinstance(schema, dict):
        return bad
    for key in ("properties", "$defs", "definitions", "patternProperties"):
        for name, sub in (schema.get(key) or {}).items():
            bad += object_nodes_only(sub, f"{at}.{key}.{name}")
    for key in ("items", "additionalProperties", "not", "contains", "propertyNames"):
        if key in schema and not (key == "additionalProperties" and isinstance(schema[key], bool)):
            bad += object_nodes_only(schema[key], f"{at}.{key}")
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for i, sub in enumerate(schema.get(key) or []):
            bad += object_nodes_only(sub, f"{at}.{key}[{i}]")
    return bad


@pytest.mark.parametrize("revision", WITH_INITIALIZE)
def test_answers_are_valid_for_each_revision(http: httpx.Client, revision: str) -> None:
    s = Session(http, revision)
    init = s.initialize()
    assert init["protocolVersion"] == revision, init
    check(revision, "InitializeResult", init)
    tools = s.call("tools/list")
    check(revision, "ListToolsResult", tools)
    check(revision, "ListPromptsResult", s.call("prompts/list"))
    check(revision, "ListResourcesResult", s.call("resources/list"))
    for name, args in (("search_services", {"query": "vpn"}),
                       ("calculate_pricing", {"services": ["vpn_access", "basic_membership"]})):
        check(revision, "CallToolResult", s.call("tools/call", {"name": name, "arguments": args}))
    # A tool's own refusal (an unknown service): an error result, valid too.
    refused = s.call("tools/call", {"name": "get_service_details",
                                    "arguments": {"service_id": "no_such_service"}})
    assert refused.get("isError") is True, refused
    check(revision, "CallToolResult", refused)


def test_the_newest_revision_lists_valid_tools(http: httpx.Client) -> None:
    # No handshake in this revision: each request carries the version and the client's
    # capabilities in its `_meta`.
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}
    r = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list",
                                "params": {"_meta": meta}},
                  headers={"Accept": ACCEPT, "MCP-Protocol-Version": "2026-07-28",
                           "Mcp-Method": "tools/list"})
    assert r.status_code == 200, r.text[:300]
    answer = r.json()
    if "error" in answer:  # this revision needs its own discovery first: say which
        pytest.fail(f"2026-07-28 tools/list without a handshake: {answer['error']}")
    check("2026-07-28", "ListToolsResult", answer["result"])


def test_every_schema_node_of_every_tool_is_an_object(http: httpx.Client) -> None:
    s = Session(http, "2025-06-18")
    s.initialize()
    tools = s.call("tools/list")["tools"]
    assert len(tools) >= 10, [t["name"] for t in tools]
    bad = []
    for tool in tools:
        for key in ("inputSchema", "outputSchema"):
            if key in tool:
                bad += object_nodes_only(tool[key], f"{tool['name']}.{key}")
    assert not bad, f"boolean schema nodes (some clients reject the whole list): {bad}"
