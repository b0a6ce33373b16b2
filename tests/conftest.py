"""End-to-end tests: they drive a running local stack as a client would.

`make test` starts a stack of its own and passes its address in DOTM_BASE_URL; run by hand,
they use the `make up` stack (http://127.0.0.1:3000) unless DOTM_BASE_URL says otherwise.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

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
    if not (bin_dir / "inspector").exists() or not (bin_dir / "node").exists():
        pytest.fail("node_modules is missing the MCP Inspector or Node 22: run infra/scripts/bootstrap.sh")
    assert shutil.which("node", path=str(bin_dir)), "node_modules/.bin/node is not executable"
    return bin_dir


# --------------------------------------------------------------------------- providers
# The provider sandbox (infra/sandbox) and what the stack was started with. `make test` exports
# these (infra/scripts/providers.sh); by hand the `make up` defaults apply.


@pytest.fixture(scope="session")
def sandbox_url() -> str:
    return os.environ.get("DOTM_SANDBOX_URL", "http://127.0.0.1:3001").rstrip("/")


@pytest.fixture(scope="session")
def sandbox(sandbox_url: str):
    with httpx.Client(base_url=sandbox_url, timeout=60) as client:
        try:
            client.get("/__sandbox/health").raise_for_status()
        except httpx.HTTPError as e:
            pytest.fail(f"no provider sandbox at {sandbox_url} ({e}); set DOTM_SANDBOX_URL")
        yield client


@pytest.fixture(scope="session")
def webhook_secret() -> str:
    """The Stripe webhook signing secret that the stack (and the sandbox) use."""
    return os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_local")


@dataclass(frozen=True)
class User:
    """A signed-in person: a fresh Firebase uid and email, and an ID token from the sandbox."""

    uid: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sandbox_token(sandbox: httpx.Client, **body: Any) -> str:
    """POST /__sandbox/firebase/token (uid, email, ttl_seconds, claims, kid, alg, sign_with)."""
    r = sandbox.post("/__sandbox/firebase/token", json=body)
    assert r.status_code == 200, (body, r.status_code, r.text)
    return r.json()["id_token"]


@pytest.fixture
def new_user(sandbox: httpx.Client) -> Callable[[], User]:
    """Makes a user no test has seen (unique uid and email), so tests need no reset."""

    def make() -> User:
        uid = f"t{uuid.uuid4().hex}"
        email = f"{uid}@example.test"
        return User(uid, email, sandbox_token(sandbox, uid=uid, email=email))

    return make


class Mcp:
    """The official Python SDK over Streamable HTTP; the ID token goes in the HTTP
    `Authorization` header of every MCP POST (an httpx2 client of our own, as mcp 2.x wants)."""

    def __init__(self, url: str):
        self.url = url

    async def acall(self, tool: str, arguments: dict[str, Any], token: str | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http_client:
            transport = streamable_http_client(self.url, http_client=http_client)
            async with Client(transport, read_timeout_seconds=60) as client:
                return await client.call_tool(tool, arguments)

    def call(self, tool: str, arguments: dict[str, Any], token: str | None = None):
        return anyio.run(self.acall, tool, arguments, token)


@pytest.fixture(scope="session")
def mcp(mcp_url: str) -> Mcp:
    return Mcp(mcp_url)


def mcp_text(result) -> str:
    """The text blocks of a tool result, joined."""
    return "\n".join(b.text for b in result.content if getattr(b, "type", None) == "text")
