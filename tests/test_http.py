"""Plain HTTP through the local gateway: routing as template.yaml declares it, the public
catalog endpoints, and what a browser sees at /mcp."""

from __future__ import annotations

import httpx
import pytest


def test_api_health(http: httpx.Client) -> None:
    r = http.get("/api/health")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")


def test_unknown_path_is_problem_json_404(http: httpx.Client) -> None:
    for path in ("/nope", "/api", "/mcpx", "/webhooks"):
        r = http.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["status"] == 404 and body["title"]


def test_mcp_page_for_browsers(http: httpx.Client) -> None:
    r = http.get("/mcp", headers={"Accept": "text/html"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "calculate_pricing" in r.text


def test_mcp_get_event_stream_is_405(http: httpx.Client) -> None:
    r = http.get("/mcp", headers={"Accept": "text/event-stream"})
    assert r.status_code == 405


def test_catalog_json(http: httpx.Client) -> None:
    r = http.get("/mcp/api")
    assert r.status_code == 200
    data = r.json()
    assert len(data["services"]) >= 20
    assert data["services"]["global_data_10gb"]["price"] == 20.0
    assert data["categories"]


def test_catalog_service_and_calculate(http: httpx.Client) -> None:
    r = http.get("/mcp/service/dotm_metal_card")
    assert r.status_code == 200
    assert r.json()["price"] == 99.99
    r = http.get("/mcp/calculate", params={"services": "basic_membership,network_security"})
    assert r.status_code == 200
    assert r.json()["pricing"]["monthly_recurring"] == 7.0


def test_mcp_rejects_foreign_host_and_origin(base_url: str) -> None:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "0"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, timeout=30) as c:
        ok = c.post("/mcp", json=init, headers=headers)
        assert ok.status_code == 200, ok.text
        bad_host = c.post("/mcp", json=init, headers={**headers, "Host": "evil.example"})
        assert bad_host.status_code in (400, 403, 421), bad_host.status_code
        bad_origin = c.post("/mcp", json=init, headers={**headers, "Origin": "https://evil.example"})
        assert bad_origin.status_code == 403, bad_origin.status_code


@pytest.mark.parametrize(
    ("method", "path", "function"),
    [("GET", "/api/health", "api"), ("GET", "/mcp/api", "mcp"),
     ("POST", "/webhooks/stripe", "stripe-webhook")],
)
def test_each_answer_names_the_function_that_served_it(http: httpx.Client, method: str, path: str,
                                                       function: str) -> None:
    r = http.request(method, path, content=b"{}" if method == "POST" else None)
    assert r.headers.get("x-dotm-served-by") == function, (r.status_code, dict(r.headers))
