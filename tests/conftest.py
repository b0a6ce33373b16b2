"""End-to-end tests: they drive a running local stack as a client would.

`make test` starts a stack of its own and passes its address in DOTM_BASE_URL; run by hand,
they use the `make up` stack (http://127.0.0.1:3000) unless DOTM_BASE_URL says otherwise.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("DOTM_BASE_URL", "http://127.0.0.1:3000").rstrip("/")
    try:
        httpx.get(f"{url}/api/health", timeout=10)
    except httpx.HTTPError as e:
        pytest.fail(f"no DOTM stack at {url} ({e}); start one with `make up` or set DOTM_BASE_URL")
    return url


@pytest.fixture(scope="session")
def mcp_url(base_url: str) -> str:
    return f"{base_url}/mcp"


@pytest.fixture(scope="session")
def http(base_url: str):
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def node_bin() -> Path:
    """node_modules/.bin with the Node 22 that the MCP Inspector needs (from the `node` package)."""
    bin_dir = ROOT / "node_modules" / ".bin"
    if not (bin_dir / "mcp-inspector").exists() or not (bin_dir / "node").exists():
        pytest.fail("node_modules is missing the MCP Inspector or Node 22: run infra/scripts/bootstrap.sh")
    assert shutil.which("node", path=str(bin_dir)), "node_modules/.bin/node is not executable"
    return bin_dir
