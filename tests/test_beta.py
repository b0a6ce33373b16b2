"""The beta program end to end on the running stack: a person asks (`POST /api/beta-request`,
or the MCP tool `beta_program`), every admin is mailed two single-use links (approve, reject)
whose page only shows what a click would do and whose form decides, admins decide through the
API too (`/api/beta-requests`, `/api/beta-approve/{uid}`, `/api/beta-reject/{uid}`), once. An
approval gives the `beta` role and a line activated like a paid eSIM, its number in an area code
the carrier offers (the worker asks OXIO for it with `phoneNumberRequirements.preferredAreaCode`:
`preferred_area_code` in the sandbox carrier's calls). Also:
the welcome mail, `beta` and `lines` in `GET /api/me`, the OpenAPI document of every route, and
who may call what (one table).

Every test makes users of its own (no reset: the stack is shared); the admin is the first uid
in ADMIN_UIDS (`dotm-admin` under `make up` / `make test`), registered with a verified email so
that it is mailed. Requests a test leaves pending are rejected at its end, so the admins' list
stays short on a long-lived `make up` stack.

Not tested here: an expired decision link (410, "expired"). Links work for 7 days and the stack
has no clock a test can move, so an expired link cannot be made from outside (see the skipped
test at the end)."""

from __future__ import annotations

import base64
import html
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx
import pytest

from activation_support import (
    PNG_MAGIC,
    carrier_calls,
    check_window,
    line_number,
    made_calls,
    mail_to,
    one_line,
    parse_time,
    wait_until,
)
from conftest import Mcp, User, mcp_text, sandbox_token
from test_commerce import (  # noqa: F401  (admin is a fixture)
    LINE_S,
    WORKER_S,
    admin,
    me,
    order,
    pay_invoice,
    problem,
    wait_line,
)

BETA_FIELDS = {"status", "requested_at", "decided_at", "decided_by", "phone_number", "message"}
DECISION_FIELDS = {"uid", "status", "decided_at", "decided_by", "first_decision", "message"}
NANP = re.compile(r"\+1[2-9]\d\d[2-9]\d{6}")

ADMIN_MAIL = "DOTM beta request"
APPROVED_MAIL = "Your DOTM beta request was approved"
REJECTED_MAIL = "Your DOTM beta request was not approved"
ACTIVE_MAIL = "Your DOT eSIM is active"
WELCOME_MAIL = "Welcome to DOTM"
QUIET_S = 3.0  # how long to wait for a mail or line that must NOT come

# "Nobody serves this": the routers' fallback (urn:dotm:problem:no-such-route; before the beta
# program it was `not-found` with "no resource at <path>"), and the local gateway (as API
# Gateway) for a path that template.yaml does not route ("No route for ...").
NO_ROUTE = {"urn:dotm:problem:no-such-route": "",
            "urn:dotm:problem:not-found": "no resource at",
            "about:blank": "No route for"}


# --------------------------------------------------------------------------- helpers


def fresh_user(sandbox: httpx.Client, email: str | None = None) -> User:
    """A user no test has seen (for module fixtures, where `new_user` cannot be used)."""
    uid = f"t{uuid.uuid4().hex}"
    email = email or f"{uid}@example.test"
    return User(uid, email, sandbox_token(sandbox, uid=uid, email=email))


def check_beta(body: dict[str, Any]) -> dict[str, Any]:
    """The shape of POST /api/beta-request, GET /api/beta-status and the MCP tool's answer."""
    assert BETA_FIELDS <= set(body), body
    status = body["status"]
    assert status in ("none", "pending", "approved", "rejected"), body
    assert isinstance(body["message"], str) and body["message"], body
    if status == "none":
        assert body["requested_at"] is None, body
    else:
        parse_time(body["requested_at"])
    if status in ("approved", "rejected"):
        parse_time(body["decided_at"])
        assert isinstance(body["decided_by"], str) and body["decided_by"], body
    else:
        assert body["decided_at"] is None and body["decided_by"] is None, body
    if status != "approved":
        assert body["phone_number"] is None, body
    elif body["phone_number"] is not None:
        check_number(body["phone_number"])
    return body


def check_number(number: str) -> None:
    assert NANP.fullmatch(number), number
    area, exchange = number[2:5], number[5:8]
    assert area[1:] != "11" and exchange[1:] != "11", number


def ask(http: httpx.Client, user: User) -> httpx.Response:
    return http.post("/api/beta-request", headers=user.auth, json={})


def ask_ok(http: httpx.Client, user: User, status: int) -> dict[str, Any]:
    r = ask(http, user)
    assert r.status_code == status, (status, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    return check_beta(r.json())


def beta_status(http: httpx.Client, user: User) -> dict[str, Any]:
    r = http.get("/api/beta-status", headers=user.auth)
    assert r.status_code == 200, (r.status_code, r.text)
    return check_beta(r.json())


def decide(http: httpx.Client, who: User, uid: str, verb: str) -> httpx.Response:
    return http.post(f"/api/beta-{verb}/{uid}", headers=who.auth)


def decide_ok(http: httpx.Client, admin: User, uid: str, verb: str, *, first: bool,
              status: str) -> dict[str, Any]:
    r = decide(http, admin, uid, verb)
    assert r.status_code == 200, (verb, r.status_code, r.text)
    body = r.json()
    assert DECISION_FIELDS <= set(body), body
    assert body["uid"] == uid and body["status"] == status, (verb, body)
    assert body["first_decision"] is first, (verb, body)
    parse_time(body["decided_at"])
    assert isinstance(body["decided_by"], str) and body["decided_by"], body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def tidy(http: httpx.Client, admin: User, user: User) -> None:
    """Rejects a request a test left pending (no check: the test is over)."""
    decide(http, admin, user.uid, "reject")


def pending_requests(http: httpx.Client, admin: User) -> list[dict[str, Any]]:
    r = http.get("/api/beta-requests", headers=admin.auth)
    assert r.status_code == 200, (r.status_code, r.text)
    requests = r.json()["requests"]
    for q in requests:
        assert {"uid", "email", "status", "requested_at"} <= set(q), q
        assert q["status"] == "pending", q
    return requests


def register(http: httpx.Client, user: User) -> None:
    r = http.post("/api/me", headers=user.auth)
    assert r.status_code in (200, 201), (r.status_code, r.text)


def check_parts(m: dict[str, Any]) -> None:
    """Every transactional mail has a text and an HTML part."""
    assert (m.get("text") or "").strip(), ("no text part", m["subject"])
    assert (m.get("html") or "").strip(), ("no html part", m["subject"])


def mails(sandbox: httpx.Client, email: str, subject: str) -> list[dict[str, Any]]:
    return [m for m in mail_to(sandbox, email) if (m["subject"] or "").startswith(subject)]


def wait_mail(sandbox: httpx.Client, email: str, subject: str,
              timeout: float = WORKER_S) -> dict[str, Any]:
    [m] = wait_until(lambda: mails(sandbox, email, subject), timeout,
                     f"the mail {subject!r} to {email}")
    check_parts(m)
    return m


def admin_mails(sandbox: httpx.Client, admin: User, requester: User) -> list[dict[str, Any]]:
    return [m for m in mails(sandbox, admin.email, ADMIN_MAIL) if requester.email in m["subject"]]


def wait_admin_mail(sandbox: httpx.Client, admin: User, requester: User) -> dict[str, Any]:
    [m] = wait_until(lambda: admin_mails(sandbox, admin, requester), WORKER_S,
                     f"the admin's mail about {requester.email}")
    check_parts(m)
    return m


@dataclass
class Links:
    approve: str
    reject: str

    @property
    def approve_token(self) -> str:
        return token_of(self.approve)

    @property
    def reject_token(self) -> str:
        return token_of(self.reject)


def token_of(url: str) -> str:
    [token] = parse_qs(urlparse(url).query)["token"]
    assert token, url
    return token


def links_of(m: dict[str, Any], base_url: str) -> Links:
    """The two links of the admins' mail: "Approve: <url>" / "Reject: <url>" lines in the text,
    the same URLs as hrefs in the HTML."""
    text = m["text"]
    approve = re.findall(r"^\s*Approve:\s*(\S+)\s*$", text, re.M)
    reject = re.findall(r"^\s*Reject:\s*(\S+)\s*$", text, re.M)
    assert len(approve) == 1 and len(reject) == 1, text
    links = Links(approve[0], reject[0])
    prefix = f"{base_url}/api/beta-decision?token="
    for url in (links.approve, links.reject):
        assert url.startswith(prefix), (url, prefix)
    assert links.approve_token != links.reject_token, links
    hrefs = {html.unescape(h) for h in re.findall(r"""href\s*=\s*["']([^"']*)["']""", m["html"])}
    assert {links.approve, links.reject} <= hrefs, (links, hrefs)
    return links


def tampered(token: str) -> str:
    """The token with one character (in its middle) changed."""
    i = len(token) // 2
    return token[:i] + ("B" if token[i] == "A" else "A") + token[i + 1:]


@dataclass
class Form:
    action: str = ""
    method: str = "get"
    fields: dict[str, str] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)
    submits: list[tuple[str | None, str]] = field(default_factory=list)


class Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif not self.forms:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "submit":
                self.forms[-1].submits.append((a.get("name") or None, a.get("value", "")))
            elif a.get("name"):
                self.forms[-1].fields[a["name"]] = a.get("value", "")
                if kind == "hidden":
                    self.forms[-1].hidden.add(a["name"])
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            self.forms[-1].submits.append((a.get("name") or None, a.get("value", "")))


def page(r: httpx.Response, status: int, *needles: str) -> str:
    """An HTML page with that status that says each needle (case-insensitive)."""
    assert r.status_code == status, (status, r.status_code, r.text[:2000])
    assert r.headers["content-type"].startswith("text/html"), r.headers
    text = html.unescape(r.text)
    for needle in needles:
        assert needle.lower() in text.lower(), (needle, r.text[:2000])
    return r.text


def open_link(url: str) -> httpx.Response:
    """What a browser (or a mail scanner) does with the link: a plain GET, no sign-in."""
    return httpx.get(url, timeout=30, follow_redirects=False)


def confirmation_form(body: str, token: str) -> Form:
    p = Forms()
    p.feed(body)
    assert len(p.forms) == 1, body
    form = p.forms[0]
    assert form.method == "post" and form.action == "/api/beta-decision", form
    assert "token" in form.hidden and form.fields["token"] == token, form
    assert form.submits, ("no submit button", body)
    return form


def submit(base_url: str, form: Form) -> httpx.Response:
    """Posts the form as a browser does (form-encoded, the submit button's name if it has one)."""
    data = dict(form.fields)
    name, value = form.submits[0]
    if name:
        data[name] = value
    return httpx.post(urljoin(f"{base_url}/", form.action), data=data, timeout=30,
                      follow_redirects=False)


def post_token(base_url: str, token: str) -> httpx.Response:
    return httpx.post(f"{base_url}/api/beta-decision", data={"token": token}, timeout=30,
                      follow_redirects=False)


def has_role(http: httpx.Client, user: User, role: str) -> bool:
    return role in me(http, user)["roles"]


def offered_area_codes(sandbox: httpx.Client) -> set[str]:
    """The area codes the (sandbox) carrier has numbers in, asked as OXIO is asked."""
    creds = f"{os.environ.get('OXIO_API_KEY', 'oxio_test_local')}:" \
            f"{os.environ.get('OXIO_AUTH_TOKEN', 'oxio_token_local')}"
    r = sandbox.get("/v3/phone-numbers/available-area-codes", params={"countryCode": "US"},
                    headers={"Authorization": "Basic " + base64.b64encode(creds.encode()).decode()})
    assert r.status_code == 200, r.text
    codes = {a["areaCode"] for a in r.json()["areaCodes"]}
    assert codes, r.text
    return codes


def check_approved_line(http: httpx.Client, sandbox: httpx.Client, user: User) -> dict[str, Any]:
    """After an approval: the role, and one active line whose number is in the area code DOTM
    asked the carrier for (one the carrier offers); the person's mails (approval, then the eSIM
    with its QR code)."""
    line = wait_line(http, user, LINE_S)
    number = line["phone_number"]
    check_number(number)

    def numbered() -> dict[str, Any] | None:
        s = beta_status(http, user)
        return s if s["phone_number"] else None

    def counted() -> dict[str, Any] | None:
        p = me(http, user)
        return p if p["lines"] == 1 else None

    status = wait_until(numbered, WORKER_S, "the beta status to name the number")
    assert status["status"] == "approved" and status["phone_number"] == number, (status, line)
    assert wait_until(lambda: has_role(http, user, "beta"), WORKER_S, "the beta role")
    profile = wait_until(counted, WORKER_S, "GET /api/me to count the line")
    assert profile["beta"] == "approved", profile
    # At the carrier: the person's end user (by their email) has exactly one line, made by
    # exactly one successful line-creation call, which asked for an area code the carrier
    # offers; every call for it asked for that same area code, and the number is in it.
    carrier_line = one_line(sandbox, user.email)
    calls = carrier_calls(sandbox, user.email)
    [made] = made_calls(calls)
    area = made["preferred_area_code"]
    assert area in offered_area_codes(sandbox), (area, calls)
    assert all(c["preferred_area_code"] == area for c in calls), calls
    assert number.startswith(f"+1{area}") and len(number) == 12, (number, area)
    assert line_number(carrier_line) == number == made["phone_number"], (carrier_line, line)
    assert carrier_line["sim"]["iccid"] == line["iccid"], (carrier_line, line)
    assert {c["end_user_id"] for c in calls} == {carrier_line["endUserId"]}, calls

    wait_mail(sandbox, user.email, APPROVED_MAIL)
    active = wait_mail(sandbox, user.email, ACTIVE_MAIL)
    assert number in active["text"] and number in html.unescape(active["html"]), active["text"]
    pngs = [a for a in active["attachments"] if a["content_type"] == "image/png"]
    assert len(pngs) == 1 and base64.b64decode(pngs[0]["content"]).startswith(PNG_MAGIC), \
        active["attachments"]
    assert mails(sandbox, user.email, REJECTED_MAIL) == []
    for m in mail_to(sandbox, user.email):
        check_parts(m)
    return line


def check_rejected(http: httpx.Client, sandbox: httpx.Client, user: User) -> None:
    wait_mail(sandbox, user.email, REJECTED_MAIL)
    time.sleep(QUIET_S)  # what an approval would have queued has had time to start
    assert beta_status(http, user)["status"] == "rejected"
    profile = me(http, user)
    assert "beta" not in profile["roles"] and profile["beta"] == "rejected", profile
    assert profile["lines"] == 0, profile
    r = http.get("/api/user-phone-numbers", headers=user.auth)
    assert r.status_code == 200 and r.json()["phone_numbers"] == [], r.text
    assert mails(sandbox, user.email, APPROVED_MAIL) == []
    assert mails(sandbox, user.email, ACTIVE_MAIL) == []
    for m in mail_to(sandbox, user.email):
        check_parts(m)


@pytest.fixture(scope="module")
def registered_admin(http: httpx.Client, admin: User) -> User:
    """The admin, registered (POST /api/me) so that it has a verified email and is mailed."""
    register(http, admin)
    assert "admin" in me(http, admin)["roles"]
    return admin


# --------------------------------------------------------------------------- asking


def test_the_status_before_any_request_is_none_and_asking_for_it_writes_nothing(
        http: httpx.Client, new_user) -> None:
    user: User = new_user()
    for _ in range(2):
        status = beta_status(http, user)
        assert status["status"] == "none", status
        assert status["phone_number"] is None and status["decided_at"] is None, status
    profile = me(http, user)
    assert profile["registered"] is False, profile
    assert profile["beta"] is None and profile["lines"] == 0, profile
    assert profile["roles"] == [], profile


def test_a_request_is_made_once_listed_for_the_admins_and_answered_again(
        http: httpx.Client, sandbox: httpx.Client, new_user, registered_admin: User) -> None:
    user: User = new_user()
    first = ask_ok(http, user, 201)
    assert first["status"] == "pending", first
    again = ask_ok(http, user, 200)
    assert again == first, (first, again)
    assert beta_status(http, user) == first
    assert me(http, user)["beta"] == "pending"
    [listed] = [q for q in pending_requests(http, registered_admin) if q["uid"] == user.uid]
    assert listed["email"] == user.email and listed["requested_at"] == first["requested_at"], \
        listed
    # One mail to the admins for the one request, however often it is asked.
    wait_admin_mail(sandbox, registered_admin, user)
    time.sleep(QUIET_S)
    assert len(admin_mails(sandbox, registered_admin, user)) == 1
    tidy(http, registered_admin, user)


def test_a_request_needs_a_verified_email_and_no_anonymous_sign_in(
        http: httpx.Client, sandbox: httpx.Client) -> None:
    anon_uid = f"t{uuid.uuid4().hex}"
    anon = User(anon_uid, "", sandbox_token(sandbox, uid=anon_uid, anonymous=True))
    problem(ask(http, anon), 403, "anonymous")
    assert beta_status(http, anon)["status"] == "none"

    for claims in ({}, {"email_verified": False}):
        uid = f"t{uuid.uuid4().hex}"
        email = f"{uid}@example.test"
        with_email = {"email": email, **claims} if claims else {}
        user = User(uid, email, sandbox_token(sandbox, uid=uid, **with_email))
        problem(ask(http, user), 422, "no-email")
        assert beta_status(http, user)["status"] == "none", claims


# --------------------------------------------------------------------------- deciding (API)


def test_an_admin_approves_once_and_the_person_gets_the_role_and_a_line_with_that_number(
        http: httpx.Client, sandbox: httpx.Client, new_user, registered_admin: User) -> None:
    user: User = new_user()
    ask_ok(http, user, 201)

    decided = decide_ok(http, registered_admin, user.uid, "approve", first=True,
                        status="approved")
    # Deciding again, either way, changes nothing and says what was decided first.
    for verb in ("approve", "reject"):
        again = decide_ok(http, registered_admin, user.uid, verb, first=False, status="approved")
        assert again["decided_at"] == decided["decided_at"], (decided, again)
    status = beta_status(http, user)
    assert status["status"] == "approved" and status["decided_at"] == decided["decided_at"], \
        status
    assert user.uid not in {q["uid"] for q in pending_requests(http, registered_admin)}
    # asking again answers the decided request
    assert ask_ok(http, user, 200)["status"] == "approved"

    line = check_approved_line(http, sandbox, user)
    r = http.get("/api/user-phone-numbers", headers=user.auth)
    assert [n["phone_number"] for n in r.json()["phone_numbers"]] == [line["phone_number"]], \
        r.json()
    check_window(sandbox)  # the beta line went through the carrier throttle like any other


def test_an_admin_rejects_once_and_the_person_gets_no_line_and_no_role(
        http: httpx.Client, sandbox: httpx.Client, new_user, registered_admin: User) -> None:
    user: User = new_user()
    ask_ok(http, user, 201)

    # Nobody but an admin lists or decides, not even for themselves.
    other: User = new_user()
    for who in (user, other):
        problem(http.get("/api/beta-requests", headers=who.auth), 403, "admin-only")
        for verb in ("approve", "reject"):
            problem(decide(http, who, user.uid, verb), 403, "admin-only")
    assert beta_status(http, user)["status"] == "pending"

    nobody = f"t{uuid.uuid4().hex}"
    for verb in ("approve", "reject"):
        problem(decide(http, registered_admin, nobody, verb), 404, "no-such-beta-request")

    decided = decide_ok(http, registered_admin, user.uid, "reject", first=True,
                        status="rejected")
    for verb in ("reject", "approve"):
        again = decide_ok(http, registered_admin, user.uid, verb, first=False, status="rejected")
        assert again["decided_at"] == decided["decided_at"], (decided, again)
    assert user.uid not in {q["uid"] for q in pending_requests(http, registered_admin)}
    check_rejected(http, sandbox, user)


# --------------------------------------------------------------------------- deciding (mailed links)


def test_the_admins_mail_has_links_whose_page_decides_nothing_and_whose_form_decides_once(
        http: httpx.Client, sandbox: httpx.Client, base_url: str, new_user,
        registered_admin: User) -> None:
    user: User = new_user()
    ask_ok(http, user, 201)
    m = wait_admin_mail(sandbox, registered_admin, user)
    assert user.email in m["text"], m["text"]
    links = links_of(m, base_url)

    # Opening a link (a person, or a mail scanner) shows what it would do and decides nothing.
    forms = {}
    for url, token, word in ((links.approve, links.approve_token, "approve"),
                             (links.reject, links.reject_token, "reject")):
        forms[word] = confirmation_form(page(open_link(url), 200, user.email, word), token)
    assert beta_status(http, user)["status"] == "pending"

    # A link changed in one character is not DOTM's: refused, nothing changes.
    bad = tampered(links.approve_token)
    page(httpx.get(f"{base_url}/api/beta-decision", params={"token": bad}, timeout=30), 400,
         "not valid")
    page(post_token(base_url, bad), 400, "not valid")
    assert beta_status(http, user)["status"] == "pending"

    # The form decides.
    page(submit(base_url, forms["approve"]), 200, "approved")
    assert beta_status(http, user)["status"] == "approved"
    # once: the same link again, and the other link, change nothing
    page(post_token(base_url, links.approve_token), 409, "already used")
    other = post_token(base_url, links.reject_token)
    assert other.status_code in (200, 409), other.text
    page(other, other.status_code, "already approved")
    assert beta_status(http, user)["status"] == "approved"

    check_approved_line(http, sandbox, user)
    assert len(admin_mails(sandbox, registered_admin, user)) == 1


def test_a_rejection_link_rejects_and_the_approval_link_then_says_so(
        http: httpx.Client, sandbox: httpx.Client, base_url: str, new_user,
        registered_admin: User) -> None:
    user: User = new_user()
    ask_ok(http, user, 201)
    links = links_of(wait_admin_mail(sandbox, registered_admin, user), base_url)
    form = confirmation_form(page(open_link(links.reject), 200, user.email), links.reject_token)
    page(submit(base_url, form), 200, "rejected")
    assert beta_status(http, user)["status"] == "rejected"
    other = post_token(base_url, links.approve_token)
    assert other.status_code in (200, 409), other.text
    page(other, other.status_code, "already rejected")
    page(post_token(base_url, links.reject_token), 409, "already used")
    check_rejected(http, sandbox, user)


def test_the_requesters_email_is_html_escaped_in_the_admins_mail_and_the_page(
        http: httpx.Client, sandbox: httpx.Client, base_url: str, registered_admin: User) -> None:
    # `&` is what an address can carry that HTML must escape (`<`, `>` and quotes are refused by
    # the mailbox, so a person with such an address could not be mailed at all).
    uid = f"t{uuid.uuid4().hex}"
    user = fresh_user(sandbox, email=f"{uid}+beta&x@example.test")
    ask_ok(http, user, 201)
    m = wait_admin_mail(sandbox, registered_admin, user)
    assert user.email in m["subject"] and user.email in m["text"], (m["subject"], m["text"])
    assert user.email not in m["html"], "the address is in the HTML unescaped"
    assert user.email in html.unescape(m["html"]), m["html"]
    assert "<script" not in m["html"].lower()
    links = links_of(m, base_url)
    r = open_link(links.approve)
    page(r, 200, user.email)  # html-unescaped, it names the address
    assert user.email not in r.text, "the address is on the page unescaped"
    tidy(http, registered_admin, user)


# An expired link (410) is covered by the use case's unit test (shared/src/app/beta.rs), where
# the clock can move: the stack's cannot.


# --------------------------------------------------------------------------- welcome mail


def test_a_new_profile_gets_one_welcome_mail(http: httpx.Client, sandbox: httpx.Client,
                                             new_user) -> None:
    user: User = new_user()
    assert http.get("/api/me", headers=user.auth).status_code == 200
    r = http.post("/api/me", headers=user.auth)
    assert r.status_code == 201, r.text
    wait_mail(sandbox, user.email, WELCOME_MAIL)
    r = http.post("/api/me", headers=user.auth)
    assert r.status_code == 200, r.text
    time.sleep(QUIET_S)
    assert len(mails(sandbox, user.email, WELCOME_MAIL)) == 1
    for m in mail_to(sandbox, user.email):
        check_parts(m)


# --------------------------------------------------------------------------- MCP


def test_the_mcp_beta_program_tool_answers_what_the_api_does(
        http: httpx.Client, mcp: Mcp, new_user, registered_admin: User) -> None:
    user: User = new_user()

    def tool(args: dict[str, Any]) -> dict[str, Any]:
        result = mcp.call("beta_program", args, token=user.token)
        assert not result.is_error, mcp_text(result)
        assert mcp_text(result), result
        return check_beta(result.structured_content)

    before = tool({})
    assert before["status"] == "none" and before == beta_status(http, user), before
    asked = tool({"request": True})
    assert asked["status"] == "pending", asked
    assert asked == beta_status(http, user)
    assert tool({"request": True}) == asked, "a second request answers the first"
    assert tool({}) == asked
    assert ask_ok(http, user, 200) == asked
    tidy(http, registered_admin, user)
    assert tool({})["status"] == "rejected"


# --------------------------------------------------------------------------- OpenAPI

REQUIRED_PATHS = {
    "/api/health", "/api/me", "/api/orders", "/api/orders/{id}", "/api/subscriptions",
    "/api/beta-request", "/api/beta-status", "/api/beta-requests", "/api/beta-approve/{uid}",
    "/api/beta-reject/{uid}", "/api/openapi.json", "/oauth/token", "/mcp/api",
    "/mcp/service/{id}", "/mcp/calculate",
}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
ADMIN_PREFIXES = ("/api/admin/", "/api/beta-requests", "/api/beta-approve/", "/api/beta-reject/")


def no_route(r: httpx.Response) -> str | None:
    """Why the answer says nobody serves this method and path, or None."""
    if r.status_code == 405:
        return f"405 {r.text[:300]}"
    if r.status_code == 404:
        try:
            body = r.json()
        except ValueError:
            return None
        kind = body.get("type") if isinstance(body, dict) else None
        if kind in NO_ROUTE and NO_ROUTE[kind] in str(body.get("detail", "")):
            return f"404 {kind}: {r.text[:300]}"
    return None


def test_the_openapi_document_is_valid_and_every_operation_in_it_is_served(
        http: httpx.Client, sandbox: httpx.Client, registered_admin: User) -> None:
    from openapi_spec_validator import validate

    r = http.get("/api/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    doc = r.json()
    assert str(doc.get("openapi", "")).startswith("3.1"), doc.get("openapi")
    validate(doc)
    paths = doc["paths"]
    missing = REQUIRED_PATHS - set(paths)
    assert not missing, sorted(missing)

    user = fresh_user(sandbox)
    unserved = []
    for path, item in sorted(paths.items()):
        url = re.sub(r"\{[^}/]+\}", "x", path)
        who = registered_admin if path.startswith(ADMIN_PREFIXES) else user
        for method in METHODS:
            if method not in item:
                continue
            body = {} if method in ("post", "put", "patch") else None
            answer = http.request(method.upper(), url, headers=who.auth, json=body)
            why = no_route(answer)
            if why:
                unserved.append(f"{method.upper()} {path}: {why}")
    assert not unserved, "\n".join(unserved)
    tidy(http, registered_admin, user)  # POST /api/beta-request made one


# --------------------------------------------------------------------------- who may call what

# Each route or tool, and what each caller gets:
#   401         no token: 401 (MCP: HTTP 401 at the transport, or a "sign-in required" tool error)
#   ok          2xx, or a 4xx about the input that is neither 401 nor 403 (and never "no route")
#   anonymous   403 urn:dotm:problem:anonymous (an anonymous sign-in can look, not ask or buy)
#   admin-only  403 urn:dotm:problem:admin-only
# An anonymous sign-in reads like anyone (its profile, empty lists, status "none"); only the
# routes that would act for a person with an email refuse it, with their own refusal.
CALLERS = ("none", "anonymous", "user", "member", "beta", "admin")
MATRIX: dict[str, tuple[str, str, str, str, str, str]] = {
    #                                   none   anonymous     user          member        beta          admin
    "GET /api/me":                      ("401", "ok",         "ok",         "ok",         "ok",         "ok"),
    "GET /api/orders":                  ("401", "ok",         "ok",         "ok",         "ok",         "ok"),
    "POST /api/orders":                 ("401", "anonymous",  "ok",         "ok",         "ok",         "ok"),
    "GET /api/subscriptions":           ("401", "ok",         "ok",         "ok",         "ok",         "ok"),
    "GET /api/account":                 ("401", "ok",         "ok",         "ok",         "ok",         "ok"),
    "GET /api/beta-status":             ("401", "ok",         "ok",         "ok",         "ok",         "ok"),
    "POST /api/beta-request":           ("401", "anonymous",  "ok",         "ok",         "ok",         "ok"),
    "GET /api/beta-requests":           ("401", "admin-only", "admin-only", "admin-only", "admin-only", "ok"),
    "POST /api/beta-approve/{uid}":     ("401", "admin-only", "admin-only", "admin-only", "admin-only", "ok"),
    "GET /api/admin/unmatched-payments": ("401", "admin-only", "admin-only", "admin-only", "admin-only", "ok"),
    "GET /api/rewards":                 ("401", "ok",         "ok",         "ok",         "ok",         "ok"),
    "MCP my_account":                   ("401", "ok",         "ok",         "ok",         "ok",         "ok"),
    "MCP beta_program":                 ("401", "ok",         "ok",         "ok",         "ok",         "ok"),
}
BODIES = {"POST /api/orders": {"items": []}, "POST /api/beta-request": {}}
CASES = [(route, caller, expected)
         for route, row in MATRIX.items() for caller, expected in zip(CALLERS, row)]


@pytest.fixture(scope="module")
def callers(http: httpx.Client, sandbox: httpx.Client, admin: User) -> dict[str, str | None]:
    """A token for each kind of caller (None: no token); member and beta are made once."""
    anon_uid = f"t{uuid.uuid4().hex}"
    member = fresh_user(sandbox)
    o = order(http, member, [{"service_id": "basic_membership"}])
    pay_invoice(sandbox, o["payments"][0]["invoice_id"])
    assert wait_until(lambda: has_role(http, member, "member"), WORKER_S, "the member role")

    beta = fresh_user(sandbox)
    ask_ok(http, beta, 201)
    decide_ok(http, admin, beta.uid, "approve", first=True, status="approved")
    assert wait_until(lambda: has_role(http, beta, "beta"), WORKER_S, "the beta role")

    return {"none": None, "anonymous": sandbox_token(sandbox, uid=anon_uid, anonymous=True),
            "user": fresh_user(sandbox).token, "member": member.token, "beta": beta.token,
            "admin": admin.token}


def mcp_case(mcp: Mcp, tool: str, token: str | None, expected: str) -> None:
    try:
        result = mcp.call(tool, {}, token=token)
    except Exception as e:  # noqa: BLE001  the SDK raises on an HTTP 401/403
        text = repr(e)
        assert expected == "401", (tool, expected, text)
        assert "401" in text or "nauthorized" in text or "sign-in required" in text, text
        return
    if expected == "401":
        assert result.is_error and "sign-in" in mcp_text(result).lower(), (tool, result)
    else:
        assert not result.is_error, (tool, mcp_text(result))
        assert isinstance(result.structured_content, dict), result


@pytest.mark.parametrize("route, caller, expected", CASES,
                         ids=[f"{route} as {caller}" for route, caller, _ in CASES])
def test_who_may_call_what(http: httpx.Client, mcp: Mcp, callers: dict[str, str | None],
                           route: str, caller: str, expected: str) -> None:
    token = callers[caller]
    kind, target = route.split(" ", 1)
    if kind == "MCP":
        mcp_case(mcp, target, token, expected)
        return
    path = target.replace("{uid}", f"t{uuid.uuid4().hex}")  # nobody's: the admin gets a 404
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = http.request(kind, path, headers=headers, json=BODIES.get(route))
    assert no_route(r) is None, (route, no_route(r))
    if expected == "401":
        assert r.status_code == 401, (route, caller, r.status_code, r.text)
    elif expected in ("anonymous", "admin-only"):
        problem(r, 403, expected)
    else:
        assert 200 <= r.status_code < 300 or (
            400 <= r.status_code < 500 and r.status_code not in (401, 403)), \
            (route, caller, r.status_code, r.text)
