"""Real MCP clients against the MCP server behind the local gateway.

- the official Python SDK (mcp 2.x) over Streamable HTTP: the initialize handshake
  (mode="legacy"), and mode="auto", which probes `server/discover` and speaks protocol
  revision 2026-07-28 with a server that offers it; at /mcp and at /mcp/v2/messages;
- the MCP Inspector CLI (npm @modelcontextprotocol/inspector 2.x, on the Node 22 from
  node_modules), as a developer would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

PUBLIC_TOOLS = {"calculate_pricing", "search_services", "get_service_details", "compare_memberships"}
MODERN = "2026-07-28"

# --------------------------------------------------------------------------- expectations


def check_calculate_pricing(data: dict[str, Any]) -> None:
    assert {s["id"] for s in data["services"]} == {"basic_membership", "network_security"}
    for line in data["services"]:
        assert set(line) >= {"id", "name", "category", "billing", "price", "price_cents"}
        assert round(line["price"] * 100) == line["price_cents"]
    p = data["pricing"]
    assert p["monthly_recurring"] == 7.0 and p["monthly_recurring_cents"] == 700
    assert p["annual_total"] == 84.0 and p["annual_total_cents"] == 8400
    assert p["one_time_total"] == 0 and p["one_time_total_cents"] == 0
    assert p["first_year_total"] == 84.0 and p["first_year_total_cents"] == 8400
    # 10.33 % of the $84.00 paid in the first year, at 1 DOTM = $1: 8.6772 DOTM.
    assert int(p["dotm_cashback_wei"]) == 8_677_200_000_000_000_000
    assert float(p["dotm_cashback"]) == pytest.approx(8.6772)


def check_search_global(data: dict[str, Any]) -> None:
    assert data["query"] == "Global Data eSIM"
    assert data["results"], data
    assert data["results"][0]["id"] == "global_data_10gb"
    assert data["total"] >= len(data["results"])
    for hit in data["results"]:
        assert set(hit) >= {"id", "name", "category", "price", "price_cents", "billing"}


def check_search_dot(data: dict[str, Any]) -> None:
    assert data["results"][0]["id"] == "esim_beta", data


def check_service_details(data: dict[str, Any]) -> None:
    assert data["id"] == "global_data_10gb"
    assert data["price"] == 20.0 and data["price_cents"] == 2000
    assert data["category"] == "connectivity"
    assert data["features"] and data["keywords"] and data["description"]


def check_memberships(data: dict[str, Any]) -> None:
    by_id = {m["id"]: m for m in data["memberships"]}
    assert by_id["basic_membership"]["price"] == 24.0
    assert by_id["full_membership"]["price"] == 66.0


# (tool, arguments, check of structuredContent, what the text block, written for an
# assistant to read out, must mention)
CALLS: list[tuple[str, dict[str, Any], Any, list[str]]] = [
    (
        "calculate_pricing",
        {"services": ["basic_membership", "network_security"]},
        check_calculate_pricing,
        ["basic_membership", "network_security", "$7.00", "$84.00"],
    ),
    ("search_services", {"query": "Global Data eSIM"}, check_search_global, ["global_data_10gb", "$20.00"]),
    ("search_services", {"query": "DOT eSIM"}, check_search_dot, ["esim_beta", "$1.00"]),
    ("get_service_details", {"service_id": "global_data_10gb"}, check_service_details, ["Global Data 10GB", "$20.00"]),
    ("compare_memberships", {}, check_memberships, ["basic_membership", "$24.00", "full_membership", "$66.00"]),
]

BAD_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_service_details", {"service_id": "nope"}),
    ("calculate_pricing", {"services": ["basic_membership", "nope"]}),
]


def text_of(result) -> str:
    texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
    assert texts, f"no text content in {result}"
    return "\n".join(texts)


# --------------------------------------------------------------------------- Python SDK


async def exercise_sdk(url: str, mode: str) -> str:
    """initialize/discover -> tools/list -> tools/call of every public tool; returns the version."""
    async with Client(streamable_http_client(url), mode=mode, read_timeout_seconds=30) as client:
        listed = await client.list_tools()
        tools = {t.name: t for t in listed.tools}
        assert PUBLIC_TOOLS <= set(tools), sorted(tools)
        for name in PUBLIC_TOOLS:
            tool = tools[name]
            assert tool.description, name
            assert tool.input_schema.get("type") == "object", (name, tool.input_schema)
            assert tool.output_schema and tool.output_schema.get("type") == "object", (name, tool.output_schema)
        assert "services" in tools["calculate_pricing"].input_schema.get("properties", {})
        assert "service_id" in tools["get_service_details"].input_schema.get("properties", {})

        for name, args, check, mentions in CALLS:
            result = await client.call_tool(name, args)
            assert not result.is_error, (name, args, result)
            assert isinstance(result.structured_content, dict), (name, result)
            check(result.structured_content)
            text = text_of(result)
            for word in mentions:
                assert word in text, (name, word, text)

        for name, args in BAD_CALLS:
            result = await client.call_tool(name, args)
            assert result.is_error, (name, args, result)
            assert "nope" in text_of(result), (name, text_of(result))

        return client.protocol_version


@pytest.mark.parametrize("path", ["/mcp", "/mcp/v2/messages"])
def test_python_sdk_initialize_handshake(base_url: str, path: str) -> None:
    version = anyio.run(exercise_sdk, base_url + path, "legacy")
    assert version in {"2025-06-18", "2025-11-25"}, version


@pytest.mark.parametrize("path", ["/mcp", "/mcp/v2/messages"])
def test_python_sdk_auto_mode_speaks_2026_07_28(base_url: str, path: str) -> None:
    version = anyio.run(exercise_sdk, base_url + path, "auto")
    assert version == MODERN


# --------------------------------------------------------------------------- MCP Inspector CLI


def inspector(node_bin: Path, tmp_path: Path, url: str, *args: str, expect_exit: int = 0) -> Any:
    """Runs the Inspector CLI with `--format json`; returns the `result` object it prints."""
    env = dict(os.environ)
    env["PATH"] = f"{node_bin}{os.pathsep}{env.get('PATH', '')}"
    # Keep the Inspector's catalog and client config out of $HOME.
    env["MCP_CATALOG_PATH"] = str(tmp_path / "mcp.json")
    env["MCP_CLIENT_CONFIG_PATH"] = str(tmp_path / "client.json")
    env["HOME"] = str(tmp_path)  # its OAuth storage too
    env["CI"] = "true"
    cmd = [
        str(node_bin / "inspector"),
        "--cli",
        url,
        "--transport",
        "http",
        "--format",
        "json",
        "--quiet",
        "--stored-auth-only",
        *args,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == expect_exit, f"{' '.join(cmd)}\nexit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    try:
        return json.loads(proc.stdout)["result"]
    except (json.JSONDecodeError, KeyError):
        pytest.fail(f"inspector printed no JSON result:\nstdout: {proc.stdout}\nstderr: {proc.stderr}")


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_inspector_cli_lists_tools(node_bin: Path, tmp_path: Path, mcp_url: str, era: str) -> None:
    out = inspector(node_bin, tmp_path, mcp_url, "--protocol-era", era, "--method", "tools/list")
    names = {t["name"] for t in out["tools"]}
    assert PUBLIC_TOOLS <= names, sorted(names)
    schema = next(t for t in out["tools"] if t["name"] == "calculate_pricing")["inputSchema"]
    assert schema["properties"]["services"]["type"] == "array"


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_inspector_cli_calls_calculate_pricing(node_bin: Path, tmp_path: Path, mcp_url: str, era: str) -> None:
    out = inspector(
        node_bin,
        tmp_path,
        mcp_url,
        "--protocol-era",
        era,
        "--method",
        "tools/call",
        "--tool-name",
        "calculate_pricing",
        "--tool-arg",
        'services=["basic_membership","network_security"]',
    )
    assert not out.get("isError"), out
    check_calculate_pricing(out["structuredContent"])


def test_inspector_cli_reports_tool_error(node_bin: Path, tmp_path: Path, mcp_url: str) -> None:
    out = inspector(
        node_bin,
        tmp_path,
        mcp_url,
        "--method",
        "tools/call",
        "--tool-name",
        "get_service_details",
        "--tool-args-json",
        '{"service_id": "nope"}',
        expect_exit=5,  # the Inspector's exit code for a tool result with isError: true
    )
    assert out.get("isError") is True, out
    assert "nope" in json.dumps(out["content"]), out
