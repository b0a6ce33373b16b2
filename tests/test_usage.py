"""After activation (issue 14): data used and left from `esim_usage` (MCP) and
`GET /api/esim/usage`, asked of the carrier at most once per refresh window per line; the
low-data emails at 75 % and 90 %, once each, with a one-tap top-up; and the activation email
as a mail client receives it (the QR inline, referenced by `cid:`)."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import time
from pathlib import Path

import httpx

from activation_support import aws, mail_to, wait_until
from conftest import Mcp, User
from test_in_chat import active_user

# The stack's refresh window (USAGE_REFRESH_SECONDS; 60 in production, shorter in `make test`).
REFRESH_S = int(os.environ.get("USAGE_REFRESH_SECONDS", "60"))


def usage(mcp: Mcp, user: User) -> dict:
    result = mcp.call("esim_usage", {}, token=user.token)
    assert not result.is_error, result.content
    return result.structured_content


def line_of(http: httpx.Client, user: User) -> dict:
    return http.get("/api/user-phone-numbers", headers=user.auth).json()["phone_numbers"][0]


def usage_calls(sandbox: httpx.Client, iccid: str) -> int:
    """Usage readings the carrier served for the line (OXIO has no usage API: in the local stack
    the sandbox's line services serve them, and record every call in `line-calls`)."""
    calls = sandbox.get("/__sandbox/carrier/line-calls", params={"iccid": iccid}).json()["data"]
    path = f"/__sandbox/carrier/line-services/{iccid}/usage"
    return sum(1 for c in calls if c["method"] == "GET" and c["path"] == path)


def consume(sandbox: httpx.Client, iccid: str, percent: float) -> dict:
    r = sandbox.post(f"/__sandbox/carrier/lines/{iccid}/consume", json={"percent": percent})
    assert r.status_code == 200, r.text
    return r.json()


def fresh_reading(mcp: Mcp, user: User, used_mb: int) -> dict:
    """Waits out the refresh window, then asks until the reading shows `used_mb`."""
    time.sleep(REFRESH_S + 0.5)
    return wait_until(lambda: (u := usage(mcp, user))["data_used_mb"] == used_mb and u,
                      30 + REFRESH_S, f"a reading with {used_mb} MB used")


def low_data_mails(sandbox: httpx.Client, user: User, percent: int) -> list[dict]:
    return [m for m in mail_to(sandbox, user.email) if f"{percent}%" in (m["subject"] or "")]


def test_usage_is_read_once_per_window_and_low_data_is_mailed_once_per_threshold(
        base_url, http, sandbox, mcp, new_user):
    assert REFRESH_S <= 10, "make test runs the stack with a short USAGE_REFRESH_SECONDS"
    user = active_user(base_url, http, sandbox, new_user)
    iccid = line_of(http, user)["iccid"]

    started = time.monotonic()
    first = usage(mcp, user)
    assert first["status"] == "active" and first["iccid"] == iccid, first
    assert (first["data_total_mb"], first["data_used_mb"], first["data_remaining_mb"]) == (1024, 0, 1024)
    assert first["used_percent"] == 0 and first["valid_until"] and first["as_of"]
    # Asked again at once, by the assistant and by the app: the same reading, no new carrier call.
    again = usage(mcp, user)
    api = http.get("/api/esim/usage", headers=user.auth)
    assert api.status_code == 200 and api.json()["data_used_mb"] == 0, api.text
    assert again["cached"] is True and api.json()["cached"] is True
    assert usage_calls(sandbox, iccid) == 1

    consume(sandbox, iccid, 76)  # 779 MB of 1024
    reading = fresh_reading(mcp, user, 779)
    assert reading["used_percent"] == 76 and reading["data_remaining_mb"] == 245, reading
    [notice] = wait_until(lambda: low_data_mails(sandbox, user, 75), 30, "the 75 % email")
    assert not low_data_mails(sandbox, user, 90)
    assert "245 MB" in notice["text"] and "245 MB" in notice["html"]

    consume(sandbox, iccid, 15)  # + 154 MB: 933 of 1024, 91 %
    fresh_reading(mcp, user, 933)
    wait_until(lambda: low_data_mails(sandbox, user, 90), 30, "the 90 % email")
    time.sleep(REFRESH_S + 0.5)
    usage(mcp, user)
    time.sleep(2)
    assert len(low_data_mails(sandbox, user, 75)) == 1 and len(low_data_mails(sandbox, user, 90)) == 1
    # At most one carrier call per window per line, however often the test asked.
    calls, windows = usage_calls(sandbox, iccid), (time.monotonic() - started) / REFRESH_S
    assert 4 <= calls <= windows + 1, (calls, windows)

    # The one-tap top-up: the link shows a button (following it orders nothing), the button
    # orders 10 GB and forwards to its invoice; tapping twice is one order.
    link = re.search(r"http://\S+/pay/[A-Za-z0-9_-]{43}", notice["text"]).group(0)
    page = http.get(link)
    assert page.status_code == 200 and "Order 10 GB" in page.text
    assert http.get("/api/orders", headers=user.auth).json()["orders"] == []
    for _ in range(2):
        tapped = http.post(link, follow_redirects=False)
        assert tapped.status_code == 303 and "/__sandbox/stripe/hosted/" in tapped.headers["location"]
    orders = http.get("/api/orders", headers=user.auth).json()["orders"]
    assert len(orders) == 1 and [i["service_id"] for i in orders[0]["items"]] == ["global_data_10gb"]


def test_usage_before_a_line_says_so(mcp, new_user):
    answer = usage(mcp, new_user())
    assert answer["status"] == "no_line" and "activate_esim" in answer["message"]


def test_the_activation_email_shows_the_qr_inline_with_install_steps(base_url, http, sandbox,
                                                                     new_user):
    user = active_user(base_url, http, sandbox, new_user)
    line = line_of(http, user)
    msg = wait_until(lambda: [m for m in mail_to(sandbox, user.email)
                              if (m["subject"] or "").startswith("Your DOT eSIM is active")],
                     60, "the activation email")[0]
    raw = sandbox.get(f"/__sandbox/mail/messages/{msg['id']}/mime")
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("message/rfc822")
    parsed = email.message_from_bytes(raw.content, policy=email.policy.default)
    html_part = parsed.get_body(("html",))
    text_part = parsed.get_body(("plain",))
    html, text = html_part.get_content(), text_part.get_content()
    cids = re.findall(r'src="cid:([^"]+)"', html)
    assert cids == ["esim-qr"], cids
    related = [p for p in parsed.walk() if p.get("Content-ID") == "<esim-qr>"]
    assert len(related) == 1, [p.get_content_type() for p in parsed.walk()]
    qr = related[0]
    assert qr.get_content_type() == "image/png" and qr.get_content_disposition() == "inline"
    assert qr.get_content().startswith(b"\x89PNG\r\n\x1a\n")
    # The part sits in the same multipart/related as the HTML that references it.
    parents = [p for p in parsed.walk() if p.get_content_type() == "multipart/related"]
    assert parents and qr in list(parents[0].iter_parts()) and html_part in list(parents[0].iter_parts())
    lpa = line["lpa_code"]
    ios = f"https://esimsetup.apple.com/esim_qrcode_provisioning?carddata={lpa}"
    for body in (html, text):
        assert lpa in body and ios in body and line["phone_number"] in body
        assert "Android" in body and "SM-DP+" in body
    assert 'name="viewport"' in html and "max-width:520px" in html
    assert "data:image" not in html


def test_the_scheduled_sweep_warns_a_person_who_never_asks(base_url, http, sandbox, new_user):
    user = active_user(base_url, http, sandbox, new_user)
    iccid = line_of(http, user)["iccid"]
    consume(sandbox, iccid, 80)
    # What the template's UsageSweepSchedule puts on the activation queue every 15 minutes.
    template = (Path(__file__).resolve().parent.parent / "template.yaml").read_text()
    assert "'{\"usage_sweep\":{\"base_url\":\"${Base}\"}}'" in template
    aws("sqs").send_message(QueueUrl=os.environ["ACTIVATION_QUEUE_URL"],
                            MessageBody=json.dumps({"usage_sweep": {"base_url": base_url}}))
    [notice] = wait_until(lambda: low_data_mails(sandbox, user, 75), 90, "the 75 % email")
    assert "80%" in notice["text"] and f"{base_url}/pay/" in notice["text"]
    assert usage_calls(sandbox, iccid) == 1
