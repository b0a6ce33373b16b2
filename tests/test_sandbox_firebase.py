"""The provider sandbox's Firebase contract: the signing keys where the verifier fetches them and
ID tokens with Firebase's claims (and the broken ones the negative tests need), and the sign-in
page of the OAuth flow (OAUTH_SIGNIN_URL) that a test completes as a browser would.

Runs against the sandbox of the running stack: DOTM_SANDBOX_URL, FIREBASE_PROJECT_ID and
FIREBASE_JWKS_URL (exported by infra/scripts/providers.sh).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from html.parser import HTMLParser

import httpx
import jwt
import pytest

JWKS_PATH = "/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"


def _env(name: str) -> str:
    v = os.environ.get(name)
    if not v:
        pytest.fail(f"{name} is not set: run under `make test`, or source "
                    "infra/scripts/providers.sh, call providers_start and export its variables")
    return v


@pytest.fixture(scope="module")
def sandbox() -> str:
    url = _env("DOTM_SANDBOX_URL").rstrip("/")
    try:
        httpx.get(f"{url}/__sandbox/health", timeout=5).raise_for_status()
    except httpx.HTTPError as e:
        pytest.fail(f"no provider sandbox at {url}: {e}")
    return url


@pytest.fixture(scope="module")
def project() -> str:
    return _env("FIREBASE_PROJECT_ID")


def jwks(sandbox: str) -> dict:
    r = httpx.get(f"{sandbox}{JWKS_PATH}")
    assert r.status_code == 200
    return {k["kid"]: k for k in r.json()["keys"]}


def token(sandbox: str, **body) -> str:
    body.setdefault("uid", f"uid-{uuid.uuid4().hex[:10]}")
    r = httpx.post(f"{sandbox}/__sandbox/firebase/token", json=body)
    assert r.status_code == 200, r.text
    return r.json()["id_token"]


def verify(sandbox: str, tok: str, project: str) -> dict:
    """As a correct verifier does: RS256 only, key by kid from the JWKS, iss/aud/exp checked."""
    kid = jwt.get_unverified_header(tok)["kid"]
    keys = jwks(sandbox)
    if kid not in keys:
        raise jwt.InvalidTokenError(f"unknown kid {kid}")
    key = jwt.PyJWK(keys[kid]).key
    return jwt.decode(tok, key, algorithms=["RS256"], audience=project,
                      issuer=f"https://securetoken.google.com/{project}",
                      options={"require": ["exp", "iat", "sub", "aud", "iss"]})


def _segments(tok: str) -> tuple[dict, dict, bytes]:
    h, p, s = tok.split(".")
    dec = lambda x: base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))  # noqa: E731
    return json.loads(dec(h)), json.loads(dec(p)), dec(s) if s else b""


def test_jwks_where_the_verifier_fetches_it(sandbox):
    assert _env("FIREBASE_JWKS_URL") == f"{sandbox}{JWKS_PATH}"
    r = httpx.get(f"{sandbox}{JWKS_PATH}")
    assert r.status_code == 200
    cc = r.headers["cache-control"]
    assert "public" in cc
    m = re.search(r"max-age=(\d+)", cc)
    assert m and int(m.group(1)) > 0, cc
    keys = r.json()["keys"]
    assert keys
    for k in keys:
        assert (k["kty"], k["alg"], k["use"]) == ("RSA", "RS256", "sig")
        assert k["kid"] and k["n"] and k["e"] == "AQAB"
        assert "d" not in k, "private parts never leave the sandbox"


def test_token_has_firebase_claims_and_verifies(sandbox, project):
    uid, mail = f"uid-{uuid.uuid4().hex[:10]}", f"fb-{uuid.uuid4().hex[:8]}@example.com"
    before = int(time.time())
    tok = token(sandbox, uid=uid, email=mail, ttl_seconds=600)
    header, _, _ = _segments(tok)
    assert header["alg"] == "RS256" and header["typ"] == "JWT" and header["kid"] in jwks(sandbox)
    claims = verify(sandbox, tok, project)
    assert claims["iss"] == f"https://securetoken.google.com/{project}"
    assert claims["aud"] == project
    assert claims["sub"] == claims["user_id"] == uid
    assert claims["email"] == mail and claims["email_verified"] is True
    assert claims["firebase"]["sign_in_provider"] == "password"
    assert claims["firebase"]["identities"] == {"email": [mail]}
    assert before - 2 <= claims["iat"] <= time.time() + 2
    assert claims["exp"] - claims["iat"] == 600
    assert claims["auth_time"] <= claims["iat"]
    default = verify(sandbox, token(sandbox, uid=uid, email=mail), project)
    assert default["exp"] - default["iat"] == 3600


def test_bad_requests_are_400(sandbox):
    for body in ({}, {"uid": 5}, {"uid": "u", "alg": "ES256"}, {"uid": "u", "ttl_seconds": "x"}):
        r = httpx.post(f"{sandbox}/__sandbox/firebase/token", json=body)
        assert r.status_code == 400, body


@pytest.mark.parametrize("claims, error", [
    ({"aud": "someone-else"}, jwt.InvalidAudienceError),
    ({"iss": "https://securetoken.google.com/someone-else"}, jwt.InvalidIssuerError),
    ({"exp": 1_000_000_000, "iat": 999_999_000}, jwt.ExpiredSignatureError),
])
def test_claim_overrides_make_tokens_a_verifier_rejects(sandbox, project, claims, error):
    tok = token(sandbox, email="neg@example.com", claims=claims)
    _, payload, _ = _segments(tok)
    for k, v in claims.items():
        assert payload[k] == v
    with pytest.raises(error):
        verify(sandbox, tok, project)


def test_foreign_key_under_the_real_kid_has_a_bad_signature(sandbox, project):
    tok = token(sandbox, email="neg@example.com", sign_with="foreign")
    assert jwt.get_unverified_header(tok)["kid"] in jwks(sandbox)
    with pytest.raises(jwt.InvalidSignatureError):
        verify(sandbox, tok, project)


def test_unknown_kid(sandbox, project):
    tok = token(sandbox, email="neg@example.com", kid="not-a-published-kid")
    assert jwt.get_unverified_header(tok)["kid"] == "not-a-published-kid"
    with pytest.raises(jwt.InvalidTokenError, match="unknown kid"):
        verify(sandbox, tok, project)


def test_alg_none_is_unsigned(sandbox, project):
    tok = token(sandbox, email="neg@example.com", alg="none")
    header, payload, sig = _segments(tok)
    assert header["alg"] == "none" and sig == b"" and tok.endswith(".")
    assert payload["aud"] == project
    with pytest.raises(jwt.InvalidTokenError):
        verify(sandbox, tok, project)


def test_hs256_is_signed_with_the_public_key_pem(sandbox, project):
    """The key-confusion attack: HMAC keyed with the RSA public key's PEM."""
    tok = token(sandbox, email="neg@example.com", alg="HS256")
    header, _, sig = _segments(tok)
    assert header["alg"] == "HS256"
    keys = httpx.get(f"{sandbox}/__sandbox/firebase/keys").json()["keys"]
    pem = next(k["public_pem"] for k in keys if k["kid"] == header["kid"])
    signing_input = tok.rsplit(".", 1)[0].encode()
    assert hmac.compare_digest(sig, hmac.new(pem.encode(), signing_input, hashlib.sha256).digest())
    with pytest.raises(jwt.InvalidTokenError):
        verify(sandbox, tok, project)


def test_rotate_signs_with_a_new_key_listed_beside_the_old(sandbox, project):
    old_tok = token(sandbox, email="rot@example.com")
    old_kid = jwt.get_unverified_header(old_tok)["kid"]
    r = httpx.post(f"{sandbox}/__sandbox/firebase/rotate", json={})
    assert r.status_code == 200
    new_kid = r.json()["kid"]
    assert new_kid != old_kid
    keys = jwks(sandbox)
    assert {old_kid, new_kid} <= set(keys)
    new_tok = token(sandbox, email="rot@example.com")
    assert jwt.get_unverified_header(new_tok)["kid"] == new_kid
    assert verify(sandbox, new_tok, project)["email"] == "rot@example.com"
    assert verify(sandbox, old_tok, project)["email"] == "rot@example.com"
    with pytest.raises(jwt.InvalidSignatureError):  # new tokens are not signed with the old key
        jwt.decode(new_tok, jwt.PyJWK(keys[old_kid]).key, algorithms=["RS256"],
                   audience=project)


# ------------------------------------------------------------------------------- sign-in page
# The API's /oauth/authorize sends the person to OAUTH_SIGNIN_URL?continue=<url>&request=<opaque>;
# the page signs them in and POSTs id_token and request (unchanged) to `continue`.

SIGNIN = "/__sandbox/firebase/signin"


class _Forms(HTMLParser):
    """The forms of a page: attributes, and the fields (name -> value) a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.scripts: list[str] = []
        self._select: str | None = None
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": a, "fields": {}, "types": {}})
        elif tag == "input" and self.forms:
            self.forms[-1]["fields"][a.get("name")] = a.get("value", "")
            self.forms[-1]["types"][a.get("name")] = a.get("type", "text")
        elif tag == "select" and self.forms:
            self._select = a.get("name")
            self.forms[-1]["types"][self._select] = "select"
            self.forms[-1]["fields"].setdefault(self._select, None)
        elif tag == "option" and self._select:
            fields = self.forms[-1]["fields"]
            if fields[self._select] is None or "selected" in a:
                fields[self._select] = a.get("value")
        elif tag == "script":
            self._in_script = True

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def _forms(page: str) -> _Forms:
    parser = _Forms()
    parser.feed(page)
    return parser


def _the_form(r: httpx.Response) -> tuple[dict, dict, dict]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html"), r.headers
    parsed = _forms(r.text)
    assert len(parsed.forms) == 1, r.text
    (form,) = parsed.forms
    return form["attrs"], form["fields"], form["types"]


# Values that must survive HTML (and URL) escaping unchanged.
CONTINUE = "http://127.0.0.1:3000/oauth/authorize/callback?x=1&y=\"<b>\"&z='q'"
REQUEST = "eyJhbGciOi.req<&>\"'payload"


def test_signin_page_is_a_form_carrying_continue_and_request(sandbox):
    r = httpx.get(f"{sandbox}{SIGNIN}", params={"continue": CONTINUE, "request": REQUEST})
    attrs, fields, types = _the_form(r)
    assert (attrs["method"].lower(), attrs["action"]) == ("post", SIGNIN)
    assert (fields["continue"], types["continue"]) == (CONTINUE, "hidden")
    assert (fields["request"], types["request"]) == (REQUEST, "hidden")
    assert types["uid"] == "text" and types["email"] == "text"
    assert fields["email_verified"] == "true"
    assert "<b>" not in r.text, "the values are escaped"


@pytest.mark.parametrize("verified", ["true", "false"])
def test_signing_in_posts_an_id_token_and_the_request_to_continue(sandbox, project, verified):
    """As a browser: load the page, fill in the form, submit it; the answer is a form for
    `continue` that a script submits on load."""
    page = httpx.get(f"{sandbox}{SIGNIN}", params={"continue": CONTINUE, "request": REQUEST})
    attrs, fields, _ = _the_form(page)
    uid, mail = f"uid-{uuid.uuid4().hex[:10]}", f"si-{uuid.uuid4().hex[:8]}@example.com"
    fields.update(uid=uid, email=mail, email_verified=verified)
    r = httpx.post(f"{sandbox}{attrs['action']}", data=fields)
    attrs, fields, types = _the_form(r)
    assert (attrs["method"].lower(), attrs["action"]) == ("post", CONTINUE)
    assert set(fields) == {"id_token", "request"}
    assert types == {"id_token": "hidden", "request": "hidden"}
    assert fields["request"] == REQUEST
    assert any("submit()" in js for js in _forms(r.text).scripts), "submitted on load"
    assert r.headers.get("cache-control") == "no-store"
    # The same ID token as POST /__sandbox/firebase/token makes.
    claims = verify(sandbox, fields["id_token"], project)
    assert claims["sub"] == claims["user_id"] == uid
    assert claims["email"] == mail
    assert claims["email_verified"] is (verified == "true")
    assert claims["firebase"]["sign_in_provider"] == "password"
    assert claims["exp"] - claims["iat"] == 3600


def test_signing_in_without_an_email(sandbox, project):
    uid = f"uid-{uuid.uuid4().hex[:10]}"
    r = httpx.post(f"{sandbox}{SIGNIN}",
                   data={"continue": CONTINUE, "request": REQUEST, "uid": uid, "email": ""})
    _, fields, _ = _the_form(r)
    claims = verify(sandbox, fields["id_token"], project)
    assert claims["sub"] == uid and "email" not in claims


def test_signin_bad_requests_are_400(sandbox):
    for params in ({"request": REQUEST}, {"continue": CONTINUE}, {},
                   {"continue": "javascript:alert(1)", "request": REQUEST}):
        r = httpx.get(f"{sandbox}{SIGNIN}", params=params)
        assert r.status_code == 400, params
        assert r.json()["error"], params
    full = {"continue": CONTINUE, "request": REQUEST, "uid": "u1", "email": "a@example.com"}
    for drop in ("uid", "continue", "request"):
        data = {k: v for k, v in full.items() if k != drop}
        r = httpx.post(f"{sandbox}{SIGNIN}", data=data)
        assert r.status_code == 400, drop
        assert r.json()["error"], drop
    r = httpx.post(f"{sandbox}{SIGNIN}", data={**full, "email_verified": "maybe"})
    assert r.status_code == 400
