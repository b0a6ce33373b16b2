"""The part of Resend's API that DOTM's mailer uses, and a mailbox that tests read.

    POST /emails    Authorization: Bearer <resend key>, Idempotency-Key?: <key>
         {from, to: "a@x" | [..], subject, html?, text?, cc?, bcc?, reply_to?, headers?, tags?,
          attachments?: [{filename, content (base64), content_type?, content_id?}]}
      -> 200 {"id": "<uuid>"}
         `content_id` (as at Resend) makes the attachment an inline image that the html refers
         to as `cid:<content_id>`: a non-empty string of at most 100 characters without `<`, `>`
         or whitespace (otherwise a 422 validation_error naming `attachments[i].content_id`).
    GET  /emails/{id}
    GET  /domains   the account's sending domains: {"object": "list", "has_more": false,
                    "data": [{id, name, status, created_at, region}]} (status `verified` for
                    the sandbox's --resend-domains)

As at Resend: a `from` on a domain that is not verified on the account is a 403
validation_error ("The x domain is not verified. ..."), nothing sent. errors are `{"statusCode", "message", "name"}` (401 missing_api_key, 403
invalid_api_key, 422 missing_required_field / validation_error); the same Idempotency-Key with
the same body answers the same id and sends nothing; with another body it is a 409
invalid_idempotent_request. Test endpoints (under /__sandbox/mail/):

    GET  messages[?to=]   captured messages (newest last), each with its `id` (the one POST
                          /emails answered), attachments with filename, content_type,
                          content_id (null when none), size (decoded bytes) and content (base64)
    GET  messages/{id}/mime
                          the message as a provider delivers it, `message/rfc822` (CRLF lines):
                          From, To, Cc, Reply-To, Subject, Date, Message-ID, MIME-Version (and
                          the message's own `headers`), then the body:
                            multipart/mixed                  only with non-inline attachments
                              multipart/alternative          only with both text and html
                                text/plain
                                multipart/related            only with inline attachments
                                  text/html
                                  <inline parts>             Content-ID: <content_id>,
                                                             Content-Disposition: inline
                              <attachments>                  Content-Disposition: attachment
                          every attachment base64 with its content_type and filename (a
                          content_id attachment of a text-only message is an inline part of the
                          mixed part). Unknown id: 404 {"error"}.
    GET  calls            every POST /emails: at, status, idempotency_key, replayed, fault
    POST faults {fail_next: N, status: 500, delay_ms: 0}   the next N sends fail (nothing sent)
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import email.utils
import hashlib
import hmac
import json
import mimetypes
import re
import threading
import time
import uuid
from email.message import EmailMessage, MIMEPart

from common import BadRequest, Request, Response, json_response

ERROR_NAMES = {400: "validation_error", 401: "missing_api_key", 403: "invalid_api_key",
               404: "not_found", 409: "invalid_idempotent_request", 422: "validation_error",
               429: "rate_limit_exceeded", 500: "internal_server_error",
               502: "application_error", 503: "application_error"}


def _error(status: int, name: str, message: str) -> Response:
    return json_response(status, {"statusCode": status, "message": message, "name": name})


class Invalid(Exception):
    def __init__(self, name: str, message: str, status: int = 422):
        super().__init__(message)
        self.name, self.status = name, status


def _addresses(v, field: str, required: bool) -> list[str]:
    if v is None or v == "" or v == []:
        if required:
            raise Invalid("missing_required_field", f"Missing `{field}` field.")
        return []
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise Invalid("validation_error", f"Invalid `{field}` field: a string or a list of strings.")
    if len(items) > 50:
        raise Invalid("validation_error", f"Invalid `{field}` field: at most 50 recipients.")
    for a in items:
        addr = re.search(r"<([^<>]+)>\s*$", a)
        addr = addr.group(1) if addr else a.strip()
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", addr):
            raise Invalid("validation_error",
                          f"Invalid `{field}` field. The email address needs to follow the "
                          "`email@example.com` or `Name <email@example.com>` format.")
    return items


def _content_id(v, i: int) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not v or len(v) > 100 or re.search(r"[<>\s]", v):
        raise Invalid("validation_error",
                      f"Invalid `attachments[{i}].content_id` field: a non-empty string of at "
                      "most 100 characters without `<`, `>` or whitespace.")
    return v


def _leaf(data: bytes, content_type: str, filename: str, disposition: str,
          content_id: str | None = None) -> MIMEPart:
    """One attachment as a MIME part: its type, base64, a filename, maybe a Content-ID."""
    maintype, _, subtype = content_type.split(";")[0].strip().lower().partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9!#$&^_.+-]*", maintype or "-") \
            or not re.fullmatch(r"[a-z0-9][a-z0-9!#$&^_.+-]*", subtype or "-") \
            or maintype == "multipart":
        maintype, subtype = "application", "octet-stream"
    part = MIMEPart(policy=email.policy.default)
    part.set_content(data, maintype, subtype, cte="base64", disposition=disposition,
                     filename=filename, cid=f"<{content_id}>" if content_id else None)
    return part


def _text(content: str, subtype: str) -> MIMEPart:
    part = MIMEPart(policy=email.policy.default)
    part.set_content(content, subtype=subtype, charset="utf-8")
    return part


def _multipart(subtype: str, parts: list[MIMEPart]) -> MIMEPart:
    out = MIMEPart(policy=email.policy.default)
    out["Content-Type"] = f"multipart/{subtype}"
    for p in parts:
        out.attach(p)
    return out


STANDARD_HEADERS = {"from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id",
                    "mime-version", "content-type", "content-transfer-encoding",
                    "content-disposition", "content-id"}


def render_mime(msg: dict) -> bytes:
    """The message as it reaches the recipient's mailbox (RFC 5322, CRLF line ends)."""
    inline, attached = [], []
    for a in msg["attachments"]:
        data = base64.b64decode(a["content"])
        if a.get("content_id") and msg["html"]:
            inline.append(_leaf(data, a["content_type"], a["filename"], "inline",
                                a["content_id"]))
        elif a.get("content_id"):  # nothing refers to it: still inline, beside the text
            attached.append(_leaf(data, a["content_type"], a["filename"], "inline",
                                  a["content_id"]))
        else:
            attached.append(_leaf(data, a["content_type"], a["filename"], "attachment"))
    html = None
    if msg["html"]:
        html = _text(msg["html"], "html")
        if inline:
            html = _multipart("related", [html, *inline])
    if msg["text"] and html is not None:
        body = _multipart("alternative", [_text(msg["text"], "plain"), html])
    elif html is not None:
        body = html
    else:
        body = _text(msg["text"] or "", "plain")
    if attached:
        body = _multipart("mixed", [body, *attached])

    out = EmailMessage(policy=email.policy.default)
    out["From"] = msg["from"]
    out["To"] = ", ".join(msg["to"])
    if msg["cc"]:
        out["Cc"] = ", ".join(msg["cc"])
    if msg["reply_to"]:
        out["Reply-To"] = ", ".join(msg["reply_to"])
    out["Subject"] = msg["subject"]
    out["Date"] = email.utils.formatdate(msg["received_at"], usegmt=True)
    out["Message-ID"] = f"<{msg['id']}@sandbox.resend.local>"
    out["MIME-Version"] = "1.0"
    headers = msg.get("headers")
    for name, value in (headers.items() if isinstance(headers, dict) else ()):
        if isinstance(name, str) and isinstance(value, str) \
                and re.fullmatch(r"[!-9;-~]+", name) and name.lower() not in STANDARD_HEADERS \
                and not re.search(r"[\r\n]", value):
            out[name] = value
    for name, value in body.items():  # Content-Type, Content-Transfer-Encoding, ...
        out[name] = value
    out.set_payload(body.get_payload())
    return out.as_bytes(policy=email.policy.SMTP)


def _bare(addr: str) -> str:
    m = re.search(r"<([^<>]+)>\s*$", addr)
    return (m.group(1) if m else addr).strip().lower()


class Mailbox:
    def __init__(self, api_key: str, log=print, domains: tuple[str, ...] = ("dotm.local",)):
        self.api_key = api_key
        self.log = log
        self.domains = [{"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, d)), "name": d.lower(),
                         "status": "verified", "created_at": "2026-01-01T00:00:00.000000+00:00",
                         "region": "us-east-1"} for d in domains]
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.messages: list[dict] = []
            self.by_id: dict[str, dict] = {}
            self.idem: dict[str, dict] = {}  # key -> {fingerprint, id}
            self.calls: list[dict] = []
            self.faults: list[dict] = []

    def _auth(self, req: Request) -> Response | None:
        auth = req.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not key:
            return _error(401, "missing_api_key", "Missing API key in the authorization header. "
                          "Include the following header in the request: "
                          "Authorization: Bearer YOUR_API_KEY")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return _error(403, "invalid_api_key", "API key is invalid")
        return None

    def handle_api(self, req: Request) -> Response:
        denied = self._auth(req)
        if denied is not None:
            return denied
        parts = req.path.strip("/").split("/")
        match parts:
            case ["emails"] if req.method == "POST":
                return self.send(req)
            case ["domains"] if req.method == "GET":
                return json_response(200, {"object": "list", "has_more": False,
                                           "data": list(self.domains)})
            case ["emails", mid] if req.method == "GET":
                with self.lock:
                    msg = self.by_id.get(mid)
                if msg is None:
                    return _error(404, "not_found", "Email not found")
                return json_response(200, {"object": "email", **self._view(msg, content=False)})
        return _error(404, "not_found", f"The requested endpoint does not exist: {req.path}")

    def send(self, req: Request) -> Response:
        call = {"at": req.received_at or time.time(), "status": None,
                "idempotency_key": req.headers.get("idempotency-key"), "replayed": False,
                "fault": False, "id": None}
        with self.lock:
            self.calls.append(call)
            fault = None
            if self.faults:
                fault = self.faults[0]
                fault["left"] -= 1
                if fault["left"] <= 0:
                    self.faults.pop(0)
        resp = self._send(req, call, fault)
        call["status"] = resp.status
        return resp

    def _send(self, req: Request, call: dict, fault: dict | None) -> Response:
        if fault is not None:
            call["fault"] = True
            if fault.get("delay_ms"):
                time.sleep(fault["delay_ms"] / 1000)
            st = fault.get("status")
            if st is not None and not 200 <= st < 300:
                return _error(st, ERROR_NAMES.get(st, "application_error"),
                              f"Sandbox fault: HTTP {st} (injected).")
        try:
            body = json.loads(req.body or b"null")
        except ValueError:
            return _error(422, "validation_error", "Invalid JSON body.")
        if not isinstance(body, dict):
            return _error(422, "validation_error", "The body must be a JSON object.")
        try:
            msg = self._message(body)
        except Invalid as e:
            return _error(e.status, e.name, str(e))
        domain = _bare(msg["from"]).rpartition("@")[2]
        if not any(d["name"] == domain and d["status"] == "verified" for d in self.domains):
            return _error(403, "validation_error",
                          f"The {domain} domain is not verified. Please, add and verify your "
                          "domain on https://resend.com/domains")
        key = call["idempotency_key"]
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.lock:
            if key:
                saved = self.idem.get(key)
                if saved is not None:
                    if saved["fingerprint"] != fingerprint:
                        return _error(409, "invalid_idempotent_request",
                                      "Same idempotency key used with a different request "
                                      "payload. Change your idempotency key or payload.")
                    call["replayed"], call["id"] = True, saved["id"]
                    return json_response(200, {"id": saved["id"]})
            msg["id"] = str(uuid.uuid4())
            msg["idempotency_key"] = key
            msg["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            msg["received_at"] = call["at"]
            self.messages.append(msg)
            self.by_id[msg["id"]] = msg
            if key:
                self.idem[key] = {"fingerprint": fingerprint, "id": msg["id"]}
            call["id"] = msg["id"]
        self.log(json.dumps({"mail": msg["id"], "to": msg["to"], "subject": msg["subject"],
                             "attachments": [a["filename"] for a in msg["attachments"]]}))
        return json_response(200, {"id": msg["id"]})

    @staticmethod
    def _message(body: dict) -> dict:
        sender = body.get("from")
        if not sender:
            raise Invalid("missing_required_field", "Missing `from` field.")
        _addresses(sender, "from", True)
        if not isinstance(sender, str):
            raise Invalid("validation_error", "Invalid `from` field: a string.")
        to = _addresses(body.get("to"), "to", True)
        subject = body.get("subject")
        if not subject:
            raise Invalid("missing_required_field", "Missing `subject` field.")
        if not isinstance(subject, str):
            raise Invalid("validation_error", "Invalid `subject` field: a string.")
        html, text = body.get("html"), body.get("text")
        for name, v in (("html", html), ("text", text)):
            if v is not None and not isinstance(v, str):
                raise Invalid("validation_error", f"Invalid `{name}` field: a string.")
        if not html and not text:
            raise Invalid("missing_required_field", "Missing `html` or `text` field.")
        attachments = []
        raw = body.get("attachments") or []
        if not isinstance(raw, list):
            raise Invalid("validation_error", "Invalid `attachments` field: a list.")
        for i, a in enumerate(raw):
            if not isinstance(a, dict):
                raise Invalid("validation_error", f"Invalid `attachments[{i}]`: an object.")
            filename, content = a.get("filename"), a.get("content")
            if not filename or not isinstance(filename, str):
                raise Invalid("missing_required_field", f"Missing `attachments[{i}].filename` field.")
            if a.get("path") and content is None:
                raise Invalid("validation_error",
                              "The sandbox does not fetch attachment `path` URLs; send `content`.")
            if not content or not isinstance(content, str):
                raise Invalid("missing_required_field", f"Missing `attachments[{i}].content` field.")
            try:
                data = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise Invalid("validation_error",
                              f"Invalid `attachments[{i}].content`: not base64.") from None
            ctype = a.get("content_type") or mimetypes.guess_type(filename)[0] \
                or "application/octet-stream"
            attachments.append({"filename": filename, "content_type": ctype, "size": len(data),
                                "content": base64.b64encode(data).decode(),
                                "content_id": _content_id(a.get("content_id"), i)})
        return {"from": sender, "to": to,
                "cc": _addresses(body.get("cc"), "cc", False),
                "bcc": _addresses(body.get("bcc"), "bcc", False),
                "reply_to": _addresses(body.get("reply_to"), "reply_to", False),
                "subject": subject, "html": html, "text": text,
                "headers": body.get("headers") or {}, "tags": body.get("tags") or [],
                "attachments": attachments}

    @staticmethod
    def _view(msg: dict, content: bool = True) -> dict:
        out = dict(msg)
        if not content:
            out["attachments"] = [{k: v for k, v in a.items() if k != "content"}
                                  for a in msg["attachments"]]
        return out

    def handle_sandbox(self, req: Request, parts: list[str]) -> Response:
        try:
            match parts:
                case ["messages"] if req.method == "GET":
                    to = req.q("to")
                    with self.lock:
                        msgs = [self._view(m) for m in self.messages
                                if to is None or _bare(to) in {_bare(x) for x in m["to"]}]
                    return json_response(200, {"messages": msgs})
                case ["messages", mid, "mime"] if req.method == "GET":
                    with self.lock:
                        msg = self.by_id.get(mid)
                        raw = render_mime(msg) if msg is not None else None
                    if raw is None:
                        return json_response(404, {"error": f"no message {mid}"})
                    return Response(200, raw, "message/rfc822")
                case ["calls"] if req.method == "GET":
                    with self.lock:
                        return json_response(200, {"calls": [dict(c) for c in self.calls]})
                case ["faults"] if req.method == "POST":
                    body = req.json()
                    n = body.get("fail_next", 1)
                    status = body.get("status", 500)
                    delay_ms = body.get("delay_ms", 0)
                    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                        raise BadRequest("`fail_next` must be a non-negative integer")
                    if status is not None and (not isinstance(status, int)
                                               or not 100 <= status <= 599):
                        raise BadRequest("`status` must be an HTTP status (100-599) or null")
                    if not isinstance(delay_ms, (int, float)) or delay_ms < 0:
                        raise BadRequest("`delay_ms` must be a non-negative number")
                    with self.lock:
                        if n:
                            self.faults.append({"left": n, "status": status,
                                                "delay_ms": delay_ms})
                        return json_response(200, {"faults": [dict(f) for f in self.faults]})
                case ["faults"] if req.method == "DELETE":
                    with self.lock:
                        self.faults = []
                    return json_response(200, {"faults": []})
        except BadRequest as e:
            return json_response(400, {"error": str(e)})
        return json_response(404, {"error": f"no endpoint {req.method} {req.path}"})
