"""The provider sandbox's mailbox (Resend's `POST /emails`): what DOTM's mailer relies on and what the
activation tests read back (issue 5). Runs against a sandbox of its own (fault injection and reset
change shared state); one test checks the stack's sandbox with the stack's key."""

from __future__ import annotations

import base64
import os
import struct
import uuid
import zlib

import httpx
import pytest

from private_sandbox import PrivateSandbox

KEY = "re_test_private"


@pytest.fixture(scope="module")
def sbx():
    s = PrivateSandbox("--resend-key", KEY)
    yield s
    s.close()


@pytest.fixture
def resend(sbx):
    with httpx.Client(base_url=sbx.url, timeout=30,
                      headers={"Authorization": f"Bearer {KEY}"}) as c:
        c.delete("/__sandbox/mail/faults").raise_for_status()
        yield c


def address() -> str:
    return f"m{uuid.uuid4().hex[:12]}@example.test"


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"\x00\xff"  # one row, filter byte + one white grey pixel
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def messages(c: httpx.Client, to: str | None = None) -> list[dict]:
    r = c.get("/__sandbox/mail/messages", params={"to": to} if to else None)
    r.raise_for_status()
    return r.json()["messages"]


def email(to, **extra) -> dict:
    return {"from": "DOTM <esim@dotm.local>", "to": to, "subject": "Your DOTM eSIM is active",
            "html": "<p>+15005550006</p>", "text": "+15005550006", **extra}


def test_send_captures_the_message_with_decoded_attachments(resend):
    to = address()
    png = tiny_png()
    r = resend.post("/emails", json=email([to], attachments=[
        {"filename": "esim-qr.png", "content": base64.b64encode(png).decode(),
         "content_type": "image/png"},
        {"filename": "readme.txt", "content": base64.b64encode(b"hello").decode()},
    ]))
    assert r.status_code == 200, r.text
    mid = r.json()["id"]
    assert str(uuid.UUID(mid)) == mid

    [m] = messages(resend, to)
    assert m["id"] == mid and m["to"] == [to] and m["from"] == "DOTM <esim@dotm.local>"
    assert m["subject"] == "Your DOTM eSIM is active"
    assert m["html"] == "<p>+15005550006</p>" and m["text"] == "+15005550006"
    qr, txt = m["attachments"]
    assert qr["filename"] == "esim-qr.png" and qr["content_type"] == "image/png"
    assert qr["size"] == len(png) and base64.b64decode(qr["content"]) == png
    assert txt["content_type"] == "text/plain" and txt["size"] == 5  # guessed from the name

    got = resend.get(f"/emails/{mid}")
    assert got.status_code == 200 and got.json()["object"] == "email"
    assert got.json()["to"] == [to]


def test_to_may_be_a_string_and_the_filter_ignores_case_and_display_names(resend):
    to = address()
    assert resend.post("/emails", json=email(f"Pat <{to}>")).status_code == 200
    assert len(messages(resend, to.upper())) == 1
    assert messages(resend, address()) == []


def test_missing_fields_are_422_in_resends_shape(resend):
    to = address()
    for drop, field in (("from", "from"), ("to", "to"), ("subject", "subject")):
        body = email([to])
        del body[drop]
        r = resend.post("/emails", json=body)
        assert r.status_code == 422, r.text
        err = r.json()
        assert err == {"statusCode": 422, "name": "missing_required_field",
                       "message": f"Missing `{field}` field."}
    r = resend.post("/emails", json={k: v for k, v in email([to]).items() if k not in ("html", "text")})
    assert r.status_code == 422 and r.json()["name"] == "missing_required_field"
    r = resend.post("/emails", json=email(["not-an-address"]))
    assert r.status_code == 422 and r.json()["name"] == "validation_error"
    r = resend.post("/emails", json=email([to], attachments=[{"filename": "a.png", "content": "%%%"}]))
    assert r.status_code == 422 and "base64" in r.json()["message"]
    assert messages(resend, to) == []


def test_auth_missing_is_401_and_wrong_is_403(sbx):
    r = httpx.post(f"{sbx.url}/emails", json=email([address()]))
    assert r.status_code == 401 and r.json()["name"] == "missing_api_key"
    r = httpx.post(f"{sbx.url}/emails", json=email([address()]),
                   headers={"Authorization": "Bearer re_wrong"})
    assert r.status_code == 403 and r.json()["name"] == "invalid_api_key"


def test_idempotency_key_answers_the_same_id_and_sends_once(resend):
    to, key = address(), f"activation-email/{uuid.uuid4()}"
    body = email([to])
    a = resend.post("/emails", json=body, headers={"Idempotency-Key": key})
    b = resend.post("/emails", json=body, headers={"Idempotency-Key": key})
    assert a.status_code == b.status_code == 200
    assert a.json()["id"] == b.json()["id"]
    assert len(messages(resend, to)) == 1
    other = resend.post("/emails", json=email([to], subject="Another"), headers={"Idempotency-Key": key})
    assert other.status_code == 409 and other.json()["name"] == "invalid_idempotent_request"
    assert len(messages(resend, to)) == 1


def test_faults_fail_the_next_sends_and_send_nothing(resend):
    to = address()
    r = resend.post("/__sandbox/mail/faults", json={"fail_next": 2, "status": 503})
    assert r.status_code == 200, r.text
    key = str(uuid.uuid4())
    for _ in range(2):
        r = resend.post("/emails", json=email([to]), headers={"Idempotency-Key": key})
        assert r.status_code == 503 and r.json()["statusCode"] == 503 and r.json()["name"]
    assert messages(resend, to) == []
    r = resend.post("/emails", json=email([to]), headers={"Idempotency-Key": key})
    assert r.status_code == 200  # a failed send did not take the key
    assert len(messages(resend, to)) == 1
    calls = resend.get("/__sandbox/mail/calls").json()["calls"]
    mine = [c for c in calls if c["idempotency_key"] == key]
    assert [(c["status"], c["fault"]) for c in mine] == [(503, True), (503, True), (200, False)]


# ---- inline images (content_id) and the delivered message (/mime) ----------------------------

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def mime(c: httpx.Client, mid: str):
    import email
    import email.policy
    r = c.get(f"/__sandbox/mail/messages/{mid}/mime")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("message/rfc822")
    return email.message_from_bytes(r.content, policy=email.policy.default)


def test_content_id_is_accepted_stored_and_listed(resend):
    to, png = address(), tiny_png()
    r = resend.post("/emails", json=email([to], attachments=[
        {"filename": "esim-qr.png", "content": b64(png), "content_type": "image/png",
         "content_id": "esim-qr"},
        {"filename": "readme.txt", "content": b64(b"hello")},
        {"filename": "x.png", "content": b64(png), "content_id": "c" * 100},
    ]))
    assert r.status_code == 200, r.text
    [m] = messages(resend, to)
    assert m["id"] == r.json()["id"]
    assert [a["content_id"] for a in m["attachments"]] == ["esim-qr", None, "c" * 100]
    got = resend.get(f"/emails/{m['id']}").json()
    assert got["attachments"][0]["content_id"] == "esim-qr"


@pytest.mark.parametrize("cid", ["", "a b", "qr\n", "\tqr", "<qr>", "qr>", "q<r", "x" * 101, 7,
                                 ["qr"], True])
def test_a_bad_content_id_is_422_naming_the_field(resend, cid):
    to = address()
    r = resend.post("/emails", json=email([to], attachments=[
        {"filename": "ok.txt", "content": b64(b"ok")},
        {"filename": "qr.png", "content": b64(tiny_png()), "content_id": cid}]))
    assert r.status_code == 422, (cid, r.text)
    err = r.json()
    assert err["statusCode"] == 422 and err["name"] == "validation_error", err
    assert "`attachments[1].content_id`" in err["message"], err
    assert messages(resend, to) == []


def test_mime_renders_inline_images_as_related_parts_and_files_as_attachments(resend):
    to, png, pdf = address(), tiny_png(), b"%PDF-1.4 not really\n"
    html = '<p>Scan this</p><img src="cid:esim-qr" alt="QR">'
    r = resend.post("/emails", json=email([to], html=html, text="Scan the QR code.",
                                          subject="Your eSIM \u2013 75% used", attachments=[
        {"filename": "esim-qr.png", "content": b64(png), "content_type": "image/png",
         "content_id": "esim-qr"},
        {"filename": "terms.pdf", "content": b64(pdf), "content_type": "application/pdf"},
    ]))
    assert r.status_code == 200, r.text
    mid = r.json()["id"]
    m = mime(resend, mid)
    assert m["From"] == "DOTM <esim@dotm.local>" and m["To"] == to
    assert m["Subject"] == "Your eSIM \u2013 75% used"
    assert m["Date"].datetime is not None and mid in m["Message-ID"]
    assert m["Message-ID"].startswith("<") and m["Message-ID"].endswith(">")
    assert m["MIME-Version"] == "1.0"

    # multipart/mixed [ multipart/alternative [ text/plain, multipart/related [ html, png ] ], pdf ]
    assert m.get_content_type() == "multipart/mixed"
    alt, attached = m.get_payload()
    assert alt.get_content_type() == "multipart/alternative"
    plain, related = alt.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content().strip() == "Scan the QR code."
    assert related.get_content_type() == "multipart/related"
    html_part, *inline = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert "cid:esim-qr" in html_part.get_content()
    [img] = [p for p in inline if p["Content-ID"] == "<esim-qr>"]
    assert img.get_content_type() == "image/png"
    assert img.get_content_disposition() == "inline" and img.get_filename() == "esim-qr.png"
    assert img["Content-Transfer-Encoding"] == "base64"
    assert img.get_content() == png
    assert m.get_body(("html",)) is html_part and m.get_body(("plain",)) is plain

    assert attached.get_content_type() == "application/pdf"
    assert attached.get_content_disposition() == "attachment"
    assert attached.get_filename() == "terms.pdf" and attached["Content-ID"] is None
    assert attached["Content-Transfer-Encoding"] == "base64"
    assert attached.get_content() == pdf
    assert [a.get_filename() for a in m.iter_attachments()] == ["terms.pdf"]


def test_mime_without_files_is_the_alternative_itself(resend):
    to, png = address(), tiny_png()
    mid = resend.post("/emails", json=email([to], html='<img src="cid:qr">', attachments=[
        {"filename": "qr.png", "content": b64(png), "content_id": "qr"}])).json()["id"]
    m = mime(resend, mid)
    assert m.get_content_type() == "multipart/alternative", "no mixed part without files"
    plain, related = m.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert [p.get_content_type() for p in related.get_payload()] == ["text/html", "image/png"]
    assert related.get_payload()[1].get_content() == png  # type guessed from the filename
    # and a message without attachments at all: text and html, nothing related
    mid = resend.post("/emails", json=email([to])).json()["id"]
    m = mime(resend, mid)
    assert [p.get_content_type() for p in m.walk()] == ["multipart/alternative", "text/plain",
                                                         "text/html"]
    assert m.get_body(("html",)).get_content().strip() == "<p>+15005550006</p>"


def test_mime_of_an_unknown_message_is_404(resend):
    r = resend.get(f"/__sandbox/mail/messages/{uuid.uuid4()}/mime")
    assert r.status_code == 404 and r.json()["error"], r.text


def test_reset_forgets_messages(resend):
    to = address()
    resend.post("/emails", json=email([to]))
    assert resend.post("/__sandbox/reset").status_code == 200
    assert messages(resend) == []


def test_the_stacks_sandbox_serves_mail_with_the_stacks_key():
    url = os.environ.get("DOTM_SANDBOX_URL")
    if not url:
        pytest.skip("DOTM_SANDBOX_URL is not set (run under `make test`)")
    key = os.environ.get("RESEND_API_KEY", "re_test_local")
    to = address()
    r = httpx.post(f"{url}/emails", json=email([to]), headers={"Authorization": f"Bearer {key}"},
                   timeout=30)
    assert r.status_code == 200, r.text
    got = httpx.get(f"{url}/__sandbox/mail/messages", params={"to": to}, timeout=30).json()
    assert [m["id"] for m in got["messages"]] == [r.json()["id"]]


def test_the_fulfilment_secret_carries_the_mail_key_the_sandbox_accepts():
    import json

    import boto3
    missing = [v for v in ("AWS_ENDPOINT_URL", "FULFILMENT_SECRET_ID") if not os.environ.get(v)]
    if missing:
        pytest.skip(f"{missing} not set (run under `make test`)")
    sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                      region_name=os.environ.get("AWS_REGION", "us-east-1"))
    value = json.loads(sm.get_secret_value(SecretId=os.environ["FULFILMENT_SECRET_ID"])["SecretString"])
    assert value["resend_api_key"] == os.environ.get("RESEND_API_KEY", "re_test_local")
    assert os.environ["MAIL_API_BASE"] == os.environ["DOTM_SANDBOX_URL"].rstrip("/")
    assert os.environ["MAIL_FROM"] == "DOTM <esim@dotm.local>"
    to = address()
    r = httpx.post(f"{os.environ['MAIL_API_BASE']}/emails", json=email([to], **{"from": os.environ["MAIL_FROM"]}),
                   headers={"Authorization": f"Bearer {value['resend_api_key']}"}, timeout=30)
    assert r.status_code == 200, r.text


def test_a_sender_on_a_domain_the_account_has_not_verified_is_refused(resend):
    listed = resend.get("/domains")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["object"] == "list" and body["has_more"] is False, body
    [domain] = body["data"]
    assert (domain["name"], domain["status"]) == ("dotm.local", "verified"), domain
    assert set(domain) == {"id", "name", "status", "created_at", "region"}, domain
    to = address()
    r = resend.post("/emails", json=email([to], **{"from": "DOTM <esim@dotm.example>"}))
    assert r.status_code == 403, r.text
    assert r.json()["name"] == "validation_error", r.json()
    assert "The dotm.example domain is not verified" in r.json()["message"], r.json()
    assert messages(resend, to) == [], "nothing sent"
    assert resend.get("/domains", headers={"Authorization": "Bearer re_wrong"}).status_code == 403
