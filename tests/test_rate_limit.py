"""The public rate limit (issue 15): 100 requests a minute per client on the public endpoints
and the public MCP tools, counted in the table (every instance agrees), `429` with
`Retry-After` and `RateLimit-*` headers; another client is served meanwhile. Clients are told
apart by their address, as API Gateway reports it: here each test client binds its own loopback
address (127.0.0.x), which the local gateway passes on as the last `X-Forwarded-For` hop. The
suite's own traffic (127.0.0.1) is exempt on the test stack (PUBLIC_RATE_LIMIT_EXEMPT)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

LIMIT = 100


def client_from(base_url: str, address: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30,
                        transport=httpx.HTTPTransport(local_address=address))


def fresh_address() -> str:
    """A loopback address no other test (or earlier run within the minute) used."""
    n = uuid.uuid4().int
    return f"127.{2 + n % 250}.{n // 250 % 250}.{1 + n // 62500 % 250}"


def wait_for_a_fresh_minute(margin: float = 25) -> None:
    """Starts the burst early in a window, so all of it falls into one."""
    into = time.time() % 60
    if into > 60 - margin:
        time.sleep(60 - into + 0.5)


def test_the_101st_catalog_request_in_a_minute_is_refused_while_another_client_is_served(base_url):
    wait_for_a_fresh_minute()
    a, b = fresh_address(), fresh_address()
    with client_from(base_url, a) as one, client_from(base_url, b) as other:
        answers = [one.get("/mcp/api") for _ in range(LIMIT)]
        assert [r.status_code for r in answers] == [200] * LIMIT
        assert answers[0].headers["ratelimit-limit"] == str(LIMIT)
        assert answers[0].headers["ratelimit-policy"] == f"{LIMIT};w=60"
        assert int(answers[-1].headers["ratelimit-remaining"]) == 0
        refused = one.get("/mcp/calculate", params={"services": "vpn_access"})
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["status"] == 429 and "100 requests per 60 s" in problem["detail"]
        retry = int(refused.headers["retry-after"])
        assert 1 <= retry <= 60 and refused.headers["ratelimit-reset"] == str(retry)
        # The other client is served, and counted on its own.
        served = other.get("/mcp/api")
        assert served.status_code == 200 and served.headers["ratelimit-remaining"] == str(LIMIT - 1)
        # A client cannot claim to be someone else: an X-Forwarded-For of its own is not trusted.
        spoofed = one.get("/mcp/api", headers={"X-Forwarded-For": "203.0.113.7"})
        assert spoofed.status_code == 429


def test_public_mcp_calls_are_limited_with_a_json_rpc_error(base_url):
    wait_for_a_fresh_minute()
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "search_services", "arguments": {"query": "esim"}}}
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    with client_from(base_url, fresh_address()) as c:
        codes = [c.post("/mcp", json=call, headers=headers).status_code for _ in range(LIMIT)]
        assert codes == [200] * LIMIT
        refused = c.post("/mcp", json=call, headers=headers)
    assert refused.status_code == 429
    body = refused.json()
    assert body["id"] == 7 and body["error"]["code"] == -32029, body
    assert "rate limited" in body["error"]["message"] and refused.headers["retry-after"]


@pytest.mark.parametrize("path", ["/api/activation-stats", "/api/health"])
def test_public_api_routes_count_too(base_url, path):
    with client_from(base_url, fresh_address()) as c:
        r = c.get(path)
    assert r.status_code == 200 and int(r.headers["ratelimit-remaining"]) == LIMIT - 1, r.headers
    assert json.loads(r.text)
