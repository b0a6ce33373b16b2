"""infra/gateway.py on its own (no stack needed): it routes exactly what template.yaml
declares, turns each request into the HTTP API's event and invokes the function through cargo
lambda's invoke API (played here by a recording upstream), byte-exact both ways.
tests/test_binary_bodies.py checks the event and the answer translation in detail."""

from __future__ import annotations

import base64
import importlib.util
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent

spec = importlib.util.spec_from_file_location("gateway", ROOT / "infra" / "gateway.py")
gateway = importlib.util.module_from_spec(spec)
sys.modules["gateway"] = gateway  # dataclasses look their module up there
spec.loader.exec_module(gateway)


@pytest.fixture(scope="module")
def routes():
    return gateway.load_routes(ROOT / "template.yaml")


def route_for(routes, method: str, path: str) -> str | None:
    r = next((r for r in routes if r.matches(method, path)), None)
    return r.binary if r else None


@pytest.mark.parametrize(
    ("method", "path", "binary"),
    [
        ("GET", "/api/health", "api"),
        ("POST", "/api/esim/activate", "api"),
        ("GET", "/mcp", "mcp"),
        ("POST", "/mcp", "mcp"),
        ("POST", "/mcp/v2/messages", "mcp"),
        ("GET", "/mcp/api", "mcp"),
        ("GET", "/mcp/service/global_data_10gb", "mcp"),
        ("POST", "/webhooks/stripe", "stripe-webhook"),
        ("GET", "/.well-known/oauth-authorization-server", "api"),
        ("POST", "/.well-known/oauth-authorization-server", None),
        ("GET", "/.well-known/oauth-authorization-server/mcp", None),
        ("GET", "/oauth/authorize", "api"),
        ("POST", "/oauth/token", "api"),
        ("POST", "/oauth/register", "api"),
        ("GET", "/oauth", None),
        ("GET", "/.well-known/oauth-protected-resource", "mcp"),
        ("GET", "/.well-known/oauth-protected-resource/mcp", "mcp"),
        ("POST", "/.well-known/oauth-protected-resource/mcp", None),
        ("GET", "/.well-known/openid-configuration", None),
        ("GET", "/webhooks/stripe", None),
        ("POST", "/webhooks/stripe/x", None),
        ("GET", "/api", None),
        ("GET", "/api/", None),
        ("GET", "/mcpx", None),
        ("GET", "/", None),
    ],
)
def test_template_routes(routes, method: str, path: str, binary: str | None) -> None:
    assert route_for(routes, method, path) == binary


def test_every_function_with_an_http_event_is_routed(routes) -> None:
    assert {r.binary for r in routes} == {"api", "mcp", "stripe-webhook"}
    assert {r.path for r in routes} >= {
        "/api/{proxy+}", "/mcp", "/mcp/{proxy+}", "/webhooks/stripe",
        "/.well-known/oauth-authorization-server", "/oauth/{proxy+}",
        "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/{proxy+}",
    }


def test_exact_route_wins_over_greedy(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        """
Resources:
  A:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: a}}
    Properties:
      Events:
        Any: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/x/{proxy+}", Method: ANY}}
  B:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: b}}
    Properties:
      Events:
        Hook: {Type: HttpApi, Properties: {Path: /x/hook, Method: post}}
        Queue: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}
"""
    )
    rs = gateway.load_routes(template)
    assert route_for(rs, "POST", "/x/hook") == "b"
    assert route_for(rs, "GET", "/x/hook") == "a"
    assert route_for(rs, "GET", "/x/y/z") == "a"


# --------------------------------------------------------------------------- forwarding


class Upstream(BaseHTTPRequestHandler):
    """Stands in for cargo lambda's invoke API: records each invocation's event, answers with
    a binary body and two cookies, as a function's payload format 2.0 answer."""

    protocol_version = "HTTP/1.1"
    seen: list[dict] = []

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        event = json.loads(self.rfile.read(n))
        body = event.get("body")
        Upstream.seen.append({
            "method": event["requestContext"]["http"]["method"],
            "target": self.path,
            "path": event["rawPath"] + ("?" + event["rawQueryString"] if event["rawQueryString"] else ""),
            "headers": event["headers"],
            "body": None if body is None
            else base64.b64decode(body) if event["isBase64Encoded"] else body.encode(),
        })
        payload = json.dumps({
            "statusCode": 201,
            "headers": {"content-type": "application/octet-stream"},
            "cookies": ["a=1", "b=2"],
            "body": base64.b64encode(b"\x00answer\xff").decode(),
            "isBase64Encoded": True,
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gw(routes):
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server = gateway.Gateway(("127.0.0.1", 0), routes, "127.0.0.1", upstream.server_address[1], 10)
    for s in (upstream, server):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    for s in (upstream, server):
        s.shutdown()
        s.server_close()


def test_forwards_byte_exact_to_the_function(gw: str) -> None:
    Upstream.seen.clear()
    body = b"\x00\x01 binary \xff\r\n"
    r = httpx.post(
        f"{gw}/mcp/v2/messages?x=1&y=%20z&y=2",
        content=body,
        headers=[("X-Dup", "1"), ("X-Dup", "2"), ("Content-Type", "application/json")],
    )
    assert r.status_code == 201
    assert r.content == b"\x00answer\xff"
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]
    [seen] = Upstream.seen
    assert seen["method"] == "POST"
    assert seen["target"] == "/2015-03-31/functions/mcp/invocations"
    assert seen["path"] == "/mcp/v2/messages?x=1&y=%20z&y=2"
    assert seen["body"] == body
    headers = seen["headers"]
    assert headers["host"] == gw.removeprefix("http://")  # the function sees the gateway's Host
    assert headers["x-dup"] == "1,2"  # as API Gateway joins a repeated header


def test_head_and_delete_pass_through(gw: str) -> None:
    Upstream.seen.clear()
    assert httpx.head(f"{gw}/api/health").status_code == 201
    assert httpx.delete(f"{gw}/api/x/y").status_code == 201
    assert [(s["method"], s["target"], s["path"]) for s in Upstream.seen] == [
        ("HEAD", "/2015-03-31/functions/api/invocations", "/api/health"),
        ("DELETE", "/2015-03-31/functions/api/invocations", "/api/x/y"),
    ]


def test_unknown_path_is_404_problem_json(gw: str) -> None:
    Upstream.seen.clear()
    r = httpx.get(f"{gw}/nope")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404
    assert Upstream.seen == []


def test_unreachable_function_is_502(routes) -> None:
    server = gateway.Gateway(("127.0.0.1", 0), routes, "127.0.0.1", free_port(), 5)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = httpx.get(f"http://127.0.0.1:{server.server_address[1]}/api/health")
        assert r.status_code == 502
        assert r.headers["content-type"] == "application/problem+json"
    finally:
        server.shutdown()
        server.server_close()
