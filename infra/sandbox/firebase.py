"""Firebase Authentication's side of ID tokens: the signing keys (JWKS) and the tokens.

Keys are RSA-2048, generated when the sandbox starts and kept in memory only. The JWKS is served
where Google serves it (`/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com`) with
`Cache-Control: public, max-age=<n>`.

Tokens carry Firebase's claims: iss `https://securetoken.google.com/<project>`, aud `<project>`,
sub = user_id = uid, iat, exp, auth_time, email, email_verified (default true; a request may
say false), firebase{identities, sign_in_provider ("password", or "anonymous" for an anonymous
sign-in, which has no email)}; header {alg: RS256, kid, typ: JWT}. For negative tests a token request may
override claims, kid and alg (HS256 signed with the public key's PEM — the key-confusion attack —
or "none", unsigned) or sign with a foreign key under the real kid.

The sign-in page of the OAuth flow (the API's OAUTH_SIGNIN_URL) is stood in for by
`/__sandbox/firebase/signin`, which a test completes headlessly as a browser would:

    GET  /__sandbox/firebase/signin?continue=<url>&request=<opaque>
         an HTML page with one <form method="post" action="/__sandbox/firebase/signin">:
         hidden `continue` and `request`, text inputs `uid` and `email`, a select
         `email_verified` ("true" | "false", default "true"), a submit button
    POST /__sandbox/firebase/signin  (form: continue, request, uid, email?, email_verified?)
         issues an ID token as POST /__sandbox/firebase/token does for {uid, email,
         email_verified} and answers an HTML page with one <form method="post"
         action="<continue>"> holding hidden `id_token` and `request`, submitted on load by a
         script (a browser goes on by itself; a test reads the form and POSTs it)

Both answer 400 (JSON) when `continue` (an absolute http(s) URL) or `request` is missing, the
POST also when `uid` is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from common import BadRequest, Request, Response, html_response, json_response
from formdata import FormError
from formdata import parse as parse_form

JWKS_PATH = "/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
SIGNIN_PATH = "/__sandbox/firebase/signin"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class SigningKey:
    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(20)
        self.created = time.time()

    def jwk(self) -> dict:
        pub = self.private.public_key().public_numbers()
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                "n": _uint(pub.n), "e": _uint(pub.e)}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())


class Firebase:
    def __init__(self, project: str, max_age: int = 3600):
        self.project = project
        self.max_age = max_age
        self.lock = threading.Lock()
        self.keys: list[SigningKey] = [SigningKey()]
        self.current = self.keys[0]
        self.foreign = SigningKey()  # never published
        self.jwks_fetches: list[float] = []

    def reset(self) -> None:
        with self.lock:
            self.jwks_fetches = []

    def jwks(self) -> Response:
        with self.lock:
            self.jwks_fetches.append(time.time())
            body = {"keys": [k.jwk() for k in self.keys]}
        resp = json_response(200, body)
        resp.headers["Cache-Control"] = f"public, max-age={self.max_age}, must-revalidate, no-transform"
        resp.headers["Expires"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                time.gmtime(time.time() + self.max_age))
        return resp

    def rotate(self, retire_old: bool = False) -> dict:
        with self.lock:
            k = SigningKey()
            self.keys = [k] if retire_old else [*self.keys, k]
            self.current = k
            return {"kid": k.kid, "kids": [x.kid for x in self.keys]}

    def token(self, body: dict) -> dict:
        uid = body.get("uid")
        if not isinstance(uid, str):
            raise BadRequest("uid (string) is required")
        email = body.get("email")
        if email is not None and not isinstance(email, str):
            raise BadRequest("email must be a string")
        ttl = body.get("ttl_seconds", 3600)
        if not isinstance(ttl, int) or isinstance(ttl, bool):
            raise BadRequest("ttl_seconds must be an integer")
        alg = body.get("alg", "RS256")
        if alg not in ("RS256", "HS256", "none"):
            raise BadRequest("alg must be RS256, HS256 or none")
        sign_with = body.get("sign_with")
        if sign_with not in (None, "foreign"):
            raise BadRequest('sign_with must be "foreign" if given')
        extra = body.get("claims") or {}
        if not isinstance(extra, dict):
            raise BadRequest("claims must be an object")

        with self.lock:
            key = self.current
        now = int(time.time())
        iat = int(body.get("iat", now))
        identities: dict = {"email": [email]} if email else {}
        claims = {
            "iss": f"https://securetoken.google.com/{self.project}",
            "aud": self.project,
            "auth_time": iat,
            "user_id": uid,
            "sub": uid,
            "iat": iat,
            "exp": iat + ttl,
        }
        anonymous = bool(body.get("anonymous", False))
        if anonymous and email is not None:
            raise BadRequest("an anonymous sign-in has no email")
        if email is not None:
            claims["email"] = email
            claims["email_verified"] = bool(body.get("email_verified", True))
        claims["firebase"] = {"identities": identities,
                              "sign_in_provider": "anonymous" if anonymous else "password"}
        for k, v in extra.items():
            if v is None:
                claims.pop(k, None)  # null removes a claim (e.g. sub)
            else:
                claims[k] = v
        header = {"alg": alg, "kid": body.get("kid", key.kid), "typ": "JWT"}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + b64url(json.dumps(claims, separators=(",", ":")).encode())).encode()
        if alg == "none":
            sig = b""
        elif alg == "HS256":
            sig = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
        else:
            sig = (self.foreign if sign_with == "foreign" else key).sign(signing_input)
        return {"id_token": signing_input.decode() + "." + b64url(sig), "kid": header["kid"],
                "claims": claims, "header": header}

    # ---- the sign-in page of the OAuth flow -------------------------------------------------

    @staticmethod
    def _continue_url(value) -> str:
        if not isinstance(value, str) or not value:
            raise BadRequest("continue (the URL to send the person back to) is required")
        if not value.startswith(("http://", "https://")):
            raise BadRequest("continue must be an absolute http(s) URL")
        return value

    def signin_page(self, req: Request) -> Response:
        cont = self._continue_url(req.q("continue"))
        request = req.q("request")
        if not request:
            raise BadRequest("request (the authorization request to hand back) is required")
        e = lambda v: html.escape(v, quote=True)  # noqa: E731
        page = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in (Firebase sandbox)</title></head>
<body>
<h1>Sign in</h1>
<p>Firebase sandbox ({e(self.project)}): choose who signs in.</p>
<form method="post" action="{SIGNIN_PATH}">
  <input type="hidden" name="continue" value="{e(cont)}">
  <input type="hidden" name="request" value="{e(request)}">
  <label>uid <input type="text" name="uid" value="uid-{secrets.token_hex(5)}" required></label>
  <label>email <input type="text" name="email" value=""></label>
  <label>email verified
    <select name="email_verified">
      <option value="true" selected>true</option>
      <option value="false">false</option>
    </select>
  </label>
  <button type="submit">Sign in</button>
</form>
</body>
</html>
"""
        resp = html_response(200, page)
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def signin(self, req: Request) -> Response:
        try:
            form = parse_form(req.body.decode("utf-8", "replace"))
        except FormError as err:
            raise BadRequest(str(err)) from None
        field = lambda k: form.get(k) if isinstance(form.get(k), str) else None  # noqa: E731
        cont = self._continue_url(field("continue"))
        request = field("request")
        if not request:
            raise BadRequest("request (the authorization request to hand back) is required")
        uid = field("uid")
        if not uid:
            raise BadRequest("uid is required")
        verified = (field("email_verified") or "true").lower()
        if verified not in ("true", "false"):
            raise BadRequest('email_verified must be "true" or "false"')
        body: dict = {"uid": uid, "email_verified": verified == "true"}
        if field("email"):
            body["email"] = field("email")
        id_token = self.token(body)["id_token"]
        e = lambda v: html.escape(v, quote=True)  # noqa: E731
        page = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Signing in (Firebase sandbox)</title></head>
<body>
<form method="post" action="{e(cont)}">
  <input type="hidden" name="id_token" value="{e(id_token)}">
  <input type="hidden" name="request" value="{e(request)}">
  <noscript><button type="submit">Continue</button></noscript>
</form>
<script>document.forms[0].submit();</script>
</body>
</html>
"""
        resp = html_response(200, page)
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def handle_sandbox(self, req: Request, parts: list[str]) -> Response:
        try:
            match parts:
                case ["token"] if req.method == "POST":
                    return json_response(200, self.token(req.json()))
                case ["signin"] if req.method == "GET":
                    return self.signin_page(req)
                case ["signin"] if req.method == "POST":
                    return self.signin(req)
                case ["rotate"] if req.method == "POST":
                    body = req.json()
                    return json_response(200, self.rotate(bool(body.get("retire_old", False))))
                case ["keys"] if req.method == "GET":
                    with self.lock:
                        return json_response(200, {
                            "current": self.current.kid,
                            "keys": [{"kid": k.kid, "public_pem": k.public_pem().decode()}
                                     for k in self.keys],
                            "jwks_fetches": list(self.jwks_fetches)})
        except BadRequest as e:
            return json_response(400, {"error": str(e)})
        return json_response(404, {"error": f"no sandbox endpoint {req.method} {req.path}"})
