"""Sign-in from an AI assistant (issue 11): the official Python MCP SDK's OAuth client
(`OAuthClientProvider`) discovers DOTM's authorization server from the 401, registers itself
(RFC 7591), sends the person through the Firebase sign-in (the sandbox's stand-in) and the
consent page as a browser would, exchanges the code (PKCE S256), refreshes, and calls
`activate_esim` as that person; the MCP Inspector CLI works with the issued bearer. Then every
bad input the authorization server must refuse, with the RFC 6749 error that names it."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT = "http://127.0.0.1:45123/callback"


class Forms(HTMLParser):
    """The forms of a page: action, method and the inputs' names and values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                               "fields": {}, "buttons": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1]["buttons"][a["name"]] = a.get("value", "")


def form_of(html: str) -> dict[str, Any]:
    p = Forms()
    p.feed(html)
    assert len(p.forms) == 1, html
    return p.forms[0]


def browse(authorize_url: str, uid: str, email: str, decision: str = "approve") -> httpx.Response:
    """What a person's browser does from the authorization URL: our sign-in page, the Firebase
    sign-in (sandbox), back to us, the consent page, the decision. Answers the final redirect."""
    with httpx.Client(timeout=30, follow_redirects=False) as b:
        page = b.get(authorize_url)
        assert page.status_code == 200, page.text
        signin = form_of(page.text)
        assert signin["method"] == "get", signin
        page = b.get(signin["action"], params=signin["fields"])
        assert page.status_code == 200, page.text
        form = form_of(page.text)
        fields = dict(form["fields"], uid=uid, email=email, email_verified="true")
        page = b.post(urljoin(signin["action"], form["action"]), data=fields)
        assert page.status_code == 200, page.text
        back = form_of(page.text)  # auto-posted in a browser
        page = b.post(back["action"], data=back["fields"])
        assert page.status_code == 200, page.text
        assert "Allow" in page.text and email in page.text, page.text
        consent = form_of(page.text)
        return b.post(urljoin(back["action"], consent["action"]), data=dict(consent["fields"], decision=decision))


class Memory:
    """TokenStorage in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        self.first_refresh: str | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def sdk_sign_in_and_activate(mcp_url: str, uid: str, email: str) -> tuple[Memory, Any]:
    storage = Memory()
    landed: dict[str, str] = {}

    async def redirect_handler(url: str) -> None:
        done = await anyio.to_thread.run_sync(browse, url, uid, email)
        assert done.status_code in (302, 303), done.text
        landed["url"] = done.headers["location"]

    async def callback_handler() -> AuthorizationCodeResult:
        q = parse_qs(urlparse(landed["url"]).query)
        return AuthorizationCodeResult(code=q["code"][0], state=q.get("state", [None])[0])

    provider = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="DOTM e2e assistant", redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"], response_types=["code"],
            token_endpoint_auth_method="none", scope="esim"),
        storage=storage, redirect_handler=redirect_handler, callback_handler=callback_handler)

    async def call(tool: str) -> Any:
        async with httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(60)) as http_client:
            async with Client(streamable_http_client(mcp_url, http_client=http_client),
                              read_timeout_seconds=60) as client:
                return await client.call_tool(tool, {})

    async def run() -> Any:
        first = await call("activate_esim")
        # The access token runs out: the SDK refreshes it (rotating the refresh token) by itself.
        storage.first_refresh = storage.tokens.refresh_token if storage.tokens else None
        provider.context.token_expiry_time = time.time() - 1
        landed.clear()
        second = await call("activation_status")
        assert not landed, "a refresh needs no new sign-in"
        return first, second

    return storage, anyio.run(run)


def test_the_python_sdk_signs_in_by_oauth_and_activates_as_that_person(
        base_url: str, mcp_url: str, http: httpx.Client, sandbox: httpx.Client, node_bin: Path,
        tmp_path: Path) -> None:
    uid = f"t{uuid.uuid4().hex}"
    email = f"{uid}@example.test"
    storage, (result, status) = sdk_sign_in_and_activate(mcp_url, uid, email)
    assert not result.is_error, result
    assert not status.is_error and status.structured_content["status"] == "payment_required", status
    assert result.structured_content["status"] == "payment_required", result.structured_content
    invoices = sandbox.get("/__sandbox/stripe/invoices", params={"customer_email": email}).json()["data"]
    assert [i["id"] for i in invoices] == [result.structured_content["invoice_id"]]
    assert storage.client and storage.client.client_id.startswith("dotm-"), storage.client
    tokens = storage.tokens
    assert tokens and tokens.refresh_token and tokens.scope == "esim", tokens

    # The access token is for /mcp only: the API refuses it (apps use Firebase ID tokens).
    r = http.get("/api/me", headers={"Authorization": f"Bearer {tokens.access_token}"})
    assert r.status_code == 401, r.text

    # The MCP Inspector CLI with the issued bearer.
    env = {"PATH": f"{node_bin}:/usr/bin:/bin", "HOME": str(tmp_path), "CI": "true",
           "MCP_CATALOG_PATH": str(tmp_path / "mcp.json"), "MCP_CLIENT_CONFIG_PATH": str(tmp_path / "c.json")}
    proc = subprocess.run(
        [str(node_bin / "inspector"), "--cli", mcp_url, "--transport", "http", "--format", "json",
         "--quiet", "--header", f"Authorization: Bearer {tokens.access_token}",
         "--method", "tools/call", "--tool-name", "activation_status"],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    out = json.loads(proc.stdout)["result"]
    assert out["structuredContent"]["status"] == "payment_required", out

    # The SDK's refresh rotated the refresh token; the rotated one replayed revokes the sign-in.
    client_id = storage.client.client_id
    assert storage.first_refresh and storage.first_refresh != tokens.refresh_token
    first = http.post("/oauth/token", data={"grant_type": "refresh_token", "client_id": client_id,
                                            "refresh_token": tokens.refresh_token})
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store", first.text
    rotated = first.json()["refresh_token"]
    assert rotated != tokens.refresh_token
    replay = http.post("/oauth/token", data={"grant_type": "refresh_token", "client_id": client_id,
                                             "refresh_token": storage.first_refresh})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant", replay.text
    after = http.post("/oauth/token", data={"grant_type": "refresh_token", "client_id": client_id,
                                            "refresh_token": rotated})
    assert after.json()["error"] == "invalid_grant" and "revoked" in after.json()["error_description"]


# --------------------------------------------------------------------------- discovery


def test_a_signed_in_tool_without_a_token_is_a_401_that_starts_discovery(
        base_url: str, mcp_url: str, http: httpx.Client) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "activate_esim", "arguments": {}}}
    r = http.post("/mcp", json=body, headers={"Accept": "application/json, text/event-stream"})
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    assert f'resource_metadata="{base_url}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert 'scope="esim"' in challenge
    prm = http.get("/.well-known/oauth-protected-resource/mcp").json()
    assert prm["resource"] == mcp_url and prm["authorization_servers"] == [base_url], prm
    meta = http.get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == base_url and meta["code_challenge_methods_supported"] == ["S256"], meta
    assert meta["registration_endpoint"] == f"{base_url}/oauth/register", meta
    assert http.get(urlparse(meta["jwks_uri"]).path).json()["keys"][0]["alg"] == "ES256"


# --------------------------------------------------------------------------- bad input


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@pytest.fixture
def client_id(http: httpx.Client) -> str:
    r = http.post("/oauth/register", json={"client_name": "bad-input tests", "redirect_uris": [REDIRECT]})
    assert r.status_code == 201, r.text
    return r.json()["client_id"]


def authorize_url(base_url: str, mcp_url: str, client_id: str, challenge: str, **over: str) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "s1",
              "code_challenge": challenge, "code_challenge_method": "S256", "resource": mcp_url,
              "scope": "esim"}
    params.update(over)
    return str(httpx.URL(f"{base_url}/oauth/authorize", params={k: v for k, v in params.items() if v}))


def code_for(base_url: str, mcp_url: str, client_id: str, challenge: str) -> str:
    uid = f"t{uuid.uuid4().hex}"
    done = browse(authorize_url(base_url, mcp_url, client_id, challenge), uid, f"{uid}@example.test")
    assert done.status_code in (302, 303), done.text
    return parse_qs(urlparse(done.headers["location"]).query)["code"][0]


def test_registration_refuses_bad_metadata(http: httpx.Client) -> None:
    for body, error in [({}, "invalid_redirect_uri"),
                        ({"redirect_uris": ["http://evil.example/cb"]}, "invalid_redirect_uri"),
                        ({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_post"},
                         "invalid_client_metadata")]:
        r = http.post("/oauth/register", json=body)
        assert r.status_code == 400 and r.json()["error"] == error, (body, r.text)
    r = http.post("/oauth/register", content=b"not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata", r.text


def test_authorize_refuses_unknown_clients_and_redirects_on_a_page(base_url: str, mcp_url: str,
                                                                    client_id: str) -> None:
    _, challenge = pkce()
    with httpx.Client(follow_redirects=False) as b:
        for cid, over, error in [("nobody", {}, "invalid_client"),
                                 (client_id, {"redirect_uri": "https://evil.example/cb"}, "invalid_request")]:
            r = b.get(authorize_url(base_url, mcp_url, cid, challenge, **over))
            assert r.status_code == 400 and error in r.text, (over, r.status_code, r.text)
            assert "location" not in r.headers


@pytest.mark.parametrize(("over", "error"), [
    ({"code_challenge": ""}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"resource": "https://other.example/mcp"}, "invalid_target"),
    ({"resource": ""}, "invalid_target"),
    ({"scope": "admin"}, "invalid_scope"),
    ({"response_type": "token"}, "unsupported_response_type"),
])
def test_authorize_sends_other_mistakes_back_to_the_client(base_url: str, mcp_url: str, client_id: str,
                                                            over: dict, error: str) -> None:
    _, challenge = pkce()
    with httpx.Client(follow_redirects=False) as b:
        r = b.get(authorize_url(base_url, mcp_url, client_id, challenge, **over))
    assert r.status_code in (302, 303), r.text
    q = parse_qs(urlparse(r.headers["location"]).query)
    assert r.headers["location"].startswith(REDIRECT)
    assert q["error"] == [error] and q["state"] == ["s1"] and q["error_description"], q


def test_codes_are_single_use_and_need_the_right_verifier_and_resource(
        base_url: str, mcp_url: str, http: httpx.Client, client_id: str) -> None:
    verifier, challenge = pkce()
    code = code_for(base_url, mcp_url, client_id, challenge)
    form = {"grant_type": "authorization_code", "code": code, "client_id": client_id,
            "redirect_uri": REDIRECT, "code_verifier": verifier, "resource": mcp_url}
    for over, error in [({"code_verifier": pkce()[0]}, "invalid_grant"),
                        ({"code_verifier": ""}, "invalid_request"),
                        ({"resource": "https://other.example/mcp"}, "invalid_target"),
                        ({"client_id": "someone-else"}, "invalid_grant"),
                        ({"grant_type": "password"}, "unsupported_grant_type")]:
        r = http.post("/oauth/token", data=dict(form, **over))
        assert r.status_code == 400 and r.json()["error"] == error, (over, r.text)
    # Refusals wrote nothing: the code still works once, then never again.
    ok = http.post("/oauth/token", data=form)
    assert ok.status_code == 200, ok.text
    assert ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] == 900
    again = http.post("/oauth/token", data=form)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text


def test_tampered_expired_and_foreign_tokens_are_refused_by_mcp(
        base_url: str, mcp_url: str, http: httpx.Client, client_id: str) -> None:
    verifier, challenge = pkce()
    code = code_for(base_url, mcp_url, client_id, challenge)
    token = http.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": client_id,
        "redirect_uri": REDIRECT, "code_verifier": verifier}).json()["access_token"]
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    def forge(**changes: Any) -> str:
        body = base64.urlsafe_b64encode(json.dumps(dict(claims, **changes)).encode()).rstrip(b"=").decode()
        return f"{head}.{body}.{sig}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "activation_status", "arguments": {}}}
    headers = {"Accept": "application/json, text/event-stream"}
    ok = http.post("/mcp", json=body, headers=dict(headers, Authorization=f"Bearer {token}"))
    assert ok.status_code == 200, ok.text
    for bad in [forge(sub="someone-else"), forge(aud="https://other.example/mcp"), forge(exp=1),
                token[:-4] + "AAAA"]:
        r = http.post("/mcp", json=body, headers=dict(headers, Authorization=f"Bearer {bad}"))
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"], r.text


def test_a_denied_consent_sends_access_denied(base_url: str, mcp_url: str, client_id: str) -> None:
    _, challenge = pkce()
    uid = f"t{uuid.uuid4().hex}"
    done = browse(authorize_url(base_url, mcp_url, client_id, challenge), uid, f"{uid}@example.test",
                  decision="deny")
    q = parse_qs(urlparse(done.headers["location"]).query)
    assert q["error"] == ["access_denied"] and q["state"] == ["s1"], q


# --------------------------------------------------------------------------- Client ID Metadata Documents


class Documents:
    """A loopback HTTP server of client metadata documents (path -> JSON body)."""

    def __init__(self) -> None:
        import http.server
        import threading

        docs: dict[str, bytes] = {}
        self.docs = docs

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = docs.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body or b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, path: str, doc: Any) -> str:
        self.docs[path] = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return self.base + path


@pytest.fixture
def documents():
    d = Documents()
    yield d
    d.server.shutdown()


def test_a_metadata_document_client_signs_in_without_registering(
        base_url: str, mcp_url: str, http: httpx.Client, documents: Documents) -> None:
    url = documents.base + "/assistant/client.json"
    documents.serve("/assistant/client.json", {"client_id": url, "client_name": "Doc Assistant",
                                               "redirect_uris": [REDIRECT],
                                               "token_endpoint_auth_method": "none"})
    verifier, challenge = pkce()
    uid = f"t{uuid.uuid4().hex}"
    done = browse(authorize_url(base_url, mcp_url, url, challenge), uid, f"{uid}@example.test")
    code = parse_qs(urlparse(done.headers["location"]).query)["code"][0]
    r = http.post("/oauth/token", data={"grant_type": "authorization_code", "code": code, "client_id": url,
                                        "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert r.status_code == 200, r.text
    assert http.get("/.well-known/oauth-authorization-server").json()[
        "client_id_metadata_document_supported"] is True


@pytest.mark.parametrize(("doc", "why"), [
    ({"client_id": "https://someone-else.example/c.json", "redirect_uris": [REDIRECT]}, "client_id"),
    ({"redirect_uris": ["http://evil.example/cb"]}, "redirect"),
    (b"x" * 70_000, "bytes"),
    (None, "404"),
])
def test_a_bad_metadata_document_is_refused_on_a_page(base_url: str, mcp_url: str,
                                                      documents: Documents, doc: Any, why: str) -> None:
    path = f"/bad/{uuid.uuid4().hex}.json"
    url = documents.base + path
    if isinstance(doc, dict):
        doc = {"client_id": url, **doc}
    if doc is not None:
        documents.serve(path, doc)
    _, challenge = pkce()
    with httpx.Client(follow_redirects=False) as b:
        r = b.get(authorize_url(base_url, mcp_url, url, challenge))
    assert r.status_code == 400 and "invalid_client" in r.text, r.text
    assert why in r.text, r.text
