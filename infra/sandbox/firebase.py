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
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from common import BadRequest, Request, Response, json_response

JWKS_PATH = "/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"


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

    def handle_sandbox(self, req: Request, parts: list[str]) -> Response:
        try:
            match parts:
                case ["token"] if req.method == "POST":
                    return json_response(200, self.token(req.json()))
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
