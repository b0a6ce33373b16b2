"""Any body reaches the functions, as through API Gateway (a body that is not UTF-8 arrives
base64-encoded, `isBase64Encoded: true`): random bytes, NUL bytes and invalid UTF-8, with and
without a JSON Content-Type, get a 4xx with a JSON body from the function they are sent to,
never a 5xx from the local emulator, and the stack serves valid requests afterwards.

The local gateway (infra/gateway.py) builds the HTTP API's event itself and invokes the function
through cargo lambda's invoke API; cargo lambda's function URLs answered 500 for such a body
under a text or JSON Content-Type before the function saw it. The second half of this file
checks the gateway's event and answer translation on its own, against a stand-in for the invoke
API (no stack needed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261202
ENDPOINTS = ["/mcp", "/api/orders", "/webhooks/stripe", "/api/esim/activate"]
CONTENT_TYPES = [None, "application/json", "application/json; charset=utf-8", "text/plain",
                 "application/octet-stream", "application/x-www-form-urlencoded"]
MCP_ACCEPT = "application/json, text/event-stream"


def _not_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def bodies(n: int = 50) -> list[bytes]:
    """n different bodies (seeded), none of them valid UTF-8."""
    rng = random.Random(SEED)
    invalid = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf5\x80\x80\x80",
               b"\x80", b"\xbf\xbf", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3\x28"]
    out: list[bytes] = []
    while len(out) < n:
        kind = len(out) % 5
        if kind == 0:  # random bytes, short to long
            b = rng.randbytes(rng.choice([1, 2, 7, 64, 511, 4096]))
        elif kind == 1:  # NUL bytes around an invalid sequence
            b = b"\x00" * rng.randint(1, 8) + rng.choice(invalid) + b"\x00" * rng.randint(0, 8)
        elif kind == 2:  # JSON with an invalid sequence inside a string
            b = b'{"jsonrpc":"2.0","id":1,"method":"' + rng.choice(invalid) + b'","params":{}}'
        elif kind == 3:  # valid UTF-8 text broken by a truncated or overlong sequence
            text = "".join(rng.choice("abc {}\":,é€😀\x00") for _ in range(rng.randint(1, 40)))
            b = text.encode() + rng.choice(invalid) + text.encode()
        else:  # UTF-16 (BOM and NULs), as a client with the wrong encoding sends JSON
            b = json.dumps({"n": rng.random(), "s": "x" * rng.randint(0, 20)}).encode("utf-16")
        if _not_utf8(b) and b not in out:
            out.append(b)
    return out


def stripe_signature(secret: str, body: bytes) -> str:
    t = int(time.time())
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- the stack


@pytest.mark.parametrize("path", ENDPOINTS)
def test_bytes_that_are_not_utf8_get_a_4xx_json_answer(http: httpx.Client, path: str) -> None:
    wrong = []
    for i, body in enumerate(bodies()):
        headers = {}
        content_type = CONTENT_TYPES[i % len(CONTENT_TYPES)]
        if content_type:
            headers["Content-Type"] = content_type
        if path == "/mcp" and i % 2:
            headers["Accept"] = MCP_ACCEPT
        r = http.post(path, content=body, headers=headers)
        try:
            r.json()
            is_json = "json" in r.headers.get("content-type", "")
        except ValueError:
            is_json = False
        if not (400 <= r.status_code < 500 and is_json):
            wrong.append((i, content_type, body[:24], r.status_code, r.text[:160]))
    assert not wrong, f"POST {path}: {len(wrong)} of {len(bodies())} answers not a 4xx JSON: {wrong[:5]}"


def test_a_signed_binary_webhook_arrives_byte_exact(http: httpx.Client, webhook_secret: str) -> None:
    """The webhook checks its signature over the raw bytes: it can only pass if every byte
    arrived; then the body is no event (malformed, 400), which means the function saw it."""
    for body in bodies()[:10]:
        for content_type in ("application/json", None):
            headers = {"Stripe-Signature": stripe_signature(webhook_secret, body)}
            if content_type:
                headers["Content-Type"] = content_type
            r = http.post("/webhooks/stripe", content=body, headers=headers)
            assert r.status_code == 400, (body[:24], r.status_code, r.text)
            assert r.json()["type"] != "urn:dotm:problem:bad-signature", (body[:24], r.text)
    tampered = bodies()[0] + b"\x00"
    r = http.post("/webhooks/stripe", content=tampered,
                  headers={"Stripe-Signature": stripe_signature(webhook_secret, bodies()[0]),
                           "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["type"] == "urn:dotm:problem:bad-signature", r.text


def test_valid_json_still_works_after_the_bytes(http: httpx.Client) -> None:
    for body in bodies()[:5]:
        assert http.post("/mcp", content=body, headers={"Content-Type": "application/json",
                                                         "Accept": MCP_ACCEPT}).status_code < 500
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "binary-bodies", "version": "0"}}}
    r = http.post("/mcp", json=init, headers={"Accept": MCP_ACCEPT})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["serverInfo"], r.text
    r = http.post("/api/orders", json={"service_id": "global_data_10gb"})
    assert r.status_code == 401 and r.json()["status"] == 401, r.text  # the function answered
    assert http.get("/api/health").status_code == 200


# --------------------------------------------------------------------------- the gateway alone

spec = importlib.util.spec_from_file_location("gateway_under_test", ROOT / "infra" / "gateway.py")
gateway = importlib.util.module_from_spec(spec)
sys.modules["gateway_under_test"] = gateway  # dataclasses look their module up there
spec.loader.exec_module(gateway)


class Invoke(BaseHTTPRequestHandler):
    """Stands in for cargo lambda's invoke API: records each event, answers `Invoke.answer`."""

    protocol_version = "HTTP/1.1"
    seen: list[dict] = []
    answers: list[tuple[int, bytes]] = []  # queued (status, body); then a default 201 answer

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        Invoke.seen.append({"target": self.path, "event": json.loads(self.rfile.read(n))})
        if Invoke.answers:
            status, payload = Invoke.answers.pop(0)
        else:
            status, payload = 200, json.dumps({
                "statusCode": 201,
                "headers": {"content-type": "application/octet-stream", "x-one": "1",
                            "content-length": "8", gateway.SERVED_BY: "test"},
                "multiValueHeaders": {"x-two": ["a", "b"]},
                "cookies": ["a=1", "b=2; Path=/"],
                "body": base64.b64encode(b"\x00answer\xff").decode(),
                "isBase64Encoded": True,
            }).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def gw():
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Invoke)
    routes = gateway.load_routes(ROOT / "template.yaml")
    server = gateway.Gateway(("127.0.0.1", 0), routes, "127.0.0.1", upstream.server_address[1], 10)
    for s in (upstream, server):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    for s in (upstream, server):
        s.shutdown()
        s.server_close()


@pytest.fixture
def fresh():
    Invoke.seen.clear()
    Invoke.answers.clear()


def test_a_body_that_is_not_utf8_goes_base64_encoded(gw: str, fresh) -> None:
    body = b"\x00\x01 binary \xff\r\n"
    r = httpx.post(f"{gw}/mcp/v2/messages?x=1&y=%20z&y=2", content=body,
                   headers=[("X-Dup", "1"), ("X-Dup", "2"), ("Content-Type", "application/json"),
                            ("Cookie", "c=3; d=4"), ("X-Forwarded-For", "203.0.113.7")])
    assert r.status_code == 201
    assert r.content == b"\x00answer\xff"
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2; Path=/"]
    assert r.headers.get_list("x-two") == ["a", "b"] and r.headers["x-one"] == "1"
    assert r.headers["content-length"] == "8" and "date" in r.headers
    [seen] = Invoke.seen
    assert seen["target"] == "/2015-03-31/functions/mcp/invocations"
    e = seen["event"]
    assert e["version"] == "2.0" and e["routeKey"] == "ANY /mcp/{proxy+}"
    assert e["rawPath"] == "/mcp/v2/messages" and e["rawQueryString"] == "x=1&y=%20z&y=2"
    assert e["queryStringParameters"] == {"x": "1", "y": " z,2"}
    assert e["pathParameters"] == {"proxy": "v2/messages"}
    assert e["isBase64Encoded"] is True and base64.b64decode(e["body"]) == body
    h = e["headers"]
    assert h["host"] == gw.removeprefix("http://")  # the function sees the gateway's Host
    assert h["x-dup"] == "1,2" and h["content-type"] == "application/json"
    assert h["content-length"] == str(len(body))
    assert h["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"  # the connection's address last
    assert "cookie" not in h and e["cookies"] == ["c=3", "d=4"]
    ctx = e["requestContext"]
    assert ctx["stage"] == "$default" and ctx["routeKey"] == e["routeKey"]
    assert ctx["http"] == {"method": "POST", "path": "/mcp/v2/messages", "protocol": "HTTP/1.1",
                           "sourceIp": "127.0.0.1", "userAgent": r.request.headers["user-agent"]}


@pytest.mark.parametrize(("content_type", "base64_encoded"), [
    (None, False), ("application/json", False), ("text/plain; charset=utf-8", False),
    ("application/octet-stream", True), ("image/png", True),
])
def test_utf8_text_goes_as_text_other_bodies_base64(gw: str, fresh, content_type, base64_encoded) -> None:
    body = '{"text": "é€😀"}'.encode()
    headers = {"Content-Type": content_type} if content_type else {}
    assert httpx.post(f"{gw}/api/esim/activate", content=body, headers=headers).status_code == 201
    e = Invoke.seen[-1]["event"]
    assert e["isBase64Encoded"] is base64_encoded
    assert (base64.b64decode(e["body"]) if base64_encoded else e["body"].encode()) == body


def test_no_body_head_and_delete(gw: str, fresh) -> None:
    r = httpx.head(f"{gw}/api/health")
    assert r.status_code == 201 and r.content == b"" and r.headers["content-length"] == "8"
    assert httpx.delete(f"{gw}/api/x/y").status_code == 201
    [head, delete] = [s["event"] for s in Invoke.seen]
    assert head["requestContext"]["http"]["method"] == "HEAD" and "body" not in head
    assert delete["requestContext"]["http"]["method"] == "DELETE" and delete["rawPath"] == "/api/x/y"
    assert delete["pathParameters"] == {"proxy": "x/y"} and "queryStringParameters" not in delete


def test_text_answer_and_plain_json(gw: str, fresh) -> None:
    Invoke.answers += [
        (200, json.dumps({"statusCode": 404, "headers": {"content-type": "application/problem+json",
                                                         gateway.SERVED_BY: "api"},
                          "body": '{"status": 404, "title": "é"}', "isBase64Encoded": False}).encode()),
        (200, b'{"no": "statusCode"}'),  # API Gateway: the whole JSON is the body of a 200
    ]
    r = httpx.get(f"{gw}/api/nothing")
    assert r.status_code == 404 and r.json() == {"status": 404, "title": "é"}
    r = httpx.get(f"{gw}/api/nothing")
    assert r.status_code == 200 and r.json() == {"no": "statusCode"}


def test_an_emulator_failure_is_retried_once_then_passed_on(gw: str, fresh) -> None:
    Invoke.answers += [(500, b'{"errorType": "x", "errorMessage": "instance died"}')]
    assert httpx.get(f"{gw}/api/health").status_code == 201  # the retry got the function's answer
    assert len(Invoke.seen) == 2 and Invoke.seen[0]["event"] == Invoke.seen[1]["event"]
    Invoke.answers += [(500, b'{"errorType": "x"}'), (500, b'{"errorType": "y"}')]
    r = httpx.get(f"{gw}/api/health")
    assert r.status_code == 500 and r.json() == {"errorType": "y"}
    Invoke.answers += [(404, b'{"title": "Missing function"}')]
    r = httpx.get(f"{gw}/api/health")
    assert r.status_code == 404 and r.json()["title"] == "Missing function"  # not retried
    for unusable in (b'{"statusCode": "nope"}', b'{"statusCode": 200, "body": 5, "isBase64Encoded": true}',
                     b"not json", b'{"statusCode": 99}'):
        Invoke.answers += [(200, unusable), (200, unusable)]
        r = httpx.get(f"{gw}/api/health")
        assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
        assert "cannot use" in r.json()["detail"] and not Invoke.answers  # retried once
    Invoke.answers += [(200, b'{"errorType": "Init", "errorMessage": "no TABLE_NAME"}')] * 2
    r = httpx.get(f"{gw}/api/health")  # cargo lambda passes on a failed start with 200
    assert r.status_code == 500 and r.json()["errorMessage"] == "no TABLE_NAME"


def test_utf8_header_values_arrive_as_sent(gw: str, fresh) -> None:
    r = httpx.get(f"{gw}/api/health", headers={"X-Name": "Zoë 😀".encode(), "X-Raw": b"\xff"})
    assert r.status_code == 201
    h = Invoke.seen[-1]["event"]["headers"]
    assert h["x-name"] == "Zoë 😀" and h["x-raw"] == "\xff"
