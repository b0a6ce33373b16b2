"""Clients in another language than ours: the official TypeScript SDK client
(@modelcontextprotocol/sdk 1.x: lists the tools, calls a public and a signed-in tool) and the
MCP Inspector CLI of the 0.15 line (still in use; it validates `tools/list` with the SDK's
schema of its day and rejects the whole list over one schema node it does not accept). The
current Inspector is tests/test_mcp_clients.py's."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSPECTOR_015 = ROOT / "node_modules" / "mcp-inspector-0.15" / "cli" / "build" / "cli.js"
PUBLIC_TOOLS = {"calculate_pricing", "search_services", "get_service_details", "compare_memberships"}
SIGNED_IN = {"activate_esim", "my_account", "buy_services", "beta_program"}


def node(node_bin: Path, tmp_path: Path, *args: str) -> dict[str, Any]:
    env = dict(os.environ, HOME=str(tmp_path), CI="true")
    env["PATH"] = f"{node_bin}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run([str(node_bin / "node"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    # One JSON document on stdout (pretty-printed by the Inspector); warnings go to stderr.
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def test_the_typescript_sdk_lists_and_calls_public_and_signed_in_tools(
        node_bin: Path, tmp_path: Path, mcp_url: str, new_user) -> None:
    user = new_user()
    out = node(node_bin, tmp_path, "tests/ts_sdk_client.mjs", mcp_url, user.token)
    assert out["server"]["name"], out
    assert PUBLIC_TOOLS | SIGNED_IN <= set(out["tools"]), out["tools"]
    assert out["search"]["isError"] is False, out["search"]
    ids = [r["id"] for r in out["search"]["structured"]["results"]]
    assert "vpn_access" in ids, ids
    account = out["account"]
    assert account["isError"] is False, account
    assert account["structured"]["profile"]["uid"] == user.uid, account
    assert account["structured"]["orders"] == [], account


def test_the_inspector_0_15_lists_every_tool_and_calls_one(
        node_bin: Path, tmp_path: Path, mcp_url: str) -> None:
    assert INSPECTOR_015.exists(), f"{INSPECTOR_015}: infra/scripts/bootstrap.sh installs it"
    listed = node(node_bin, tmp_path, str(INSPECTOR_015), "--cli", mcp_url, "--transport", "http",
                  "--method", "tools/list")
    assert PUBLIC_TOOLS | SIGNED_IN <= {t["name"] for t in listed["tools"]}, listed
    called = node(node_bin, tmp_path, str(INSPECTOR_015), "--cli", mcp_url, "--transport", "http",
                  "--method", "tools/call", "--tool-name", "search_services",
                  "--tool-arg", "query=vpn")
    assert called.get("isError") in (None, False), called
    assert "vpn_access" in json.dumps(called), called
