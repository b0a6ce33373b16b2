"""The eSIM inside the conversation (issue 14), through the official MCP Python SDK on the
running stack: resources (the install card, catalog, pricing, terms), prompts, explicit tool
annotations, the QR as an image block or in the card's `_meta`, and the payment hand-off as a
URL elicitation (-32042, 2025-11-25) and as a multi-round-trip request (2026-07-28), each
completed by a client that pays in the sandbox and calls again; sealed `requestState` refused
when tampered, expired, replayed or another person's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client import advertise
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

import card_harness
from activation_support import aws, buyers, pay, time_for, wait_all
from conftest import User, mcp_text

CARD = "ui://dotm/install-card.html"
APP_MIME = "text/html;profile=mcp-app"
APPS = [advertise("io.modelcontextprotocol/ui", {"mimeTypes": [APP_MIME]})]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@asynccontextmanager
async def connect(mcp_url: str, token: str | None = None, *, mode: str = "auto",
                  elicit=None, apps: bool = False):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http_client:
        transport = streamable_http_client(mcp_url, http_client=http_client)
        async with Client(transport, mode=mode, elicitation_callback=elicit,
                          extensions=APPS if apps else None, read_timeout_seconds=60,
                          cache=None) as client:
            yield client


def run(fn, *args):
    return anyio.run(fn, *args)


def hosted_invoice(http: httpx.Client, pay_url: str) -> str:
    """Follows our payment page as a browser would: it forwards to the Stripe invoice."""
    assert re.fullmatch(r"http://[^/]+/pay/[A-Za-z0-9_-]{43}", pay_url), pay_url
    r = http.get(pay_url, follow_redirects=False)
    assert r.status_code == 303, (r.status_code, r.text)
    assert r.headers["referrer-policy"] == "no-referrer"
    location = r.headers["location"]
    m = re.search(r"/__sandbox/stripe/hosted/(in_[A-Za-z0-9]+)$", location)
    assert m, location
    return m.group(1)


def pay_through(http: httpx.Client, sandbox: httpx.Client, pay_url: str) -> str:
    invoice_id = hosted_invoice(http, pay_url)
    r = sandbox.post(f"/__sandbox/stripe/invoices/{invoice_id}/pay", json={})
    assert r.status_code == 200, r.text
    return invoice_id


def active_user(base_url: str, http: httpx.Client, sandbox: httpx.Client, new_user) -> User:
    b = buyers(base_url, new_user, 1)[0]
    pay(sandbox, b)
    wait_all(http, [b], "active", time_for(1))
    return b.user


# ------------------------------------------------------------------ listing: resources, prompts


def test_resources_list_the_card_and_the_documents_and_the_card_is_self_contained(mcp_url):
    async def go():
        async with connect(mcp_url) as client:
            listed = await client.list_resources()
            by_uri = {r.uri: r for r in listed.resources}
            assert set(by_uri) == {CARD, "dotm://catalog", "dotm://pricing", "dotm://terms"}
            assert by_uri[CARD].mime_type == APP_MIME
            card = await client.read_resource(CARD)
            catalog = await client.read_resource("dotm://catalog")
            pricing = await client.read_resource("dotm://pricing")
            terms = await client.read_resource("dotm://terms")
            with pytest.raises(MCPError) as missing:
                await client.read_resource("dotm://nothing")
            return card, catalog, pricing, terms, missing.value

    card, catalog, pricing, terms, missing = run(go)
    html = card.contents[0].text
    assert card.contents[0].mime_type == APP_MIME
    assert "<script" in html and "ui/initialize" in html and "refresh_install_card" in html
    # Nothing outside the card is loaded: no external script, style, image, font or fetch.
    assert not re.search(r"<(script|img|iframe|link)[^>]+(src|href)\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//|@import|fetch\(|XMLHttpRequest|WebSocket", html)
    outside = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert outside == {"https://esimsetup.apple.com/esim_qrcode_provisioning?carddata="}, outside
    assert json.loads(catalog.contents[0].text)["services"]["global_data_10gb"]["price_cents"] == 2000
    assert "| `global_data_10gb` | " in pricing.contents[0].text
    assert "Refunds" in terms.contents[0].text
    # Resource not found: -32002 before 2026-07-28, -32602 (invalid params) since (SEP-2164).
    assert missing.code == -32602 and "dotm://nothing" in missing.message


def test_prompts_are_the_two_phrases_people_use(mcp_url):
    async def go():
        async with connect(mcp_url) as client:
            listed = await client.list_prompts()
            data = await client.get_prompt("global_data_esim", {"quantity": "3"})
            dot = await client.get_prompt("dot_esim")
            errors = []
            for name, args in (("global_data_esim", {"quantity": "11"}), ("no_such", None)):
                with pytest.raises(MCPError) as e:
                    await client.get_prompt(name, args)
                errors.append(e.value)
            return listed, data, dot, errors

    listed, data, dot, errors = run(go)
    titles = {p.name: p.title for p in listed.prompts}
    assert titles == {"global_data_esim": "Global Data eSIM", "dot_esim": "DOT eSIM"}
    assert "3 x 10 GB" in data.messages[0].content.text and data.messages[0].role == "user"
    assert "activate_esim" in dot.messages[0].content.text
    assert [e.code for e in errors] == [-32602, -32602]
    assert "1 to 10" in errors[0].message and "no_such" in errors[1].message


def test_every_tool_says_all_four_hints_and_the_esim_tools_link_the_card(mcp_url):
    async def go():
        async with connect(mcp_url) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in run(go)}
    for t in tools.values():
        hints = t.annotations.model_dump(by_alias=True)
        for hint in ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"):
            assert isinstance(hints.get(hint), bool), (t.name, hint, hints)
    for name in ("activate_esim", "activation_status"):
        assert tools[name].meta["ui"]["resourceUri"] == CARD, tools[name].meta
    assert tools["refresh_install_card"].meta["ui"] == {"resourceUri": CARD, "visibility": ["app"]}
    assert tools["esim_usage"].annotations.read_only_hint is True


# ------------------------------------------------------------------ the active eSIM in the chat


def test_an_active_esim_is_an_image_block_or_the_cards_meta(base_url, http, sandbox, mcp_url,
                                                            new_user):
    user = active_user(base_url, http, sandbox, new_user)

    async def go():
        async with connect(mcp_url, user.token) as plain:
            without = await plain.call_tool("activation_status", {})
        async with connect(mcp_url, user.token, apps=True) as apps:
            with_card = await apps.call_tool("activation_status", {})
            card = (await apps.read_resource(CARD)).contents[0].text
        async with connect(mcp_url, user.token, mode="legacy", apps=True) as legacy_apps:
            legacy_card = await legacy_apps.call_tool("activate_esim", {})
        return without, with_card, legacy_card, card

    without, with_card, legacy_card, card_html = run(go)
    s = without.structured_content
    assert s["status"] == "active" and s["lpa_code"].startswith("LPA:1$"), s
    assert "qr_code" not in s
    images = [b for b in without.content if b.type == "image"]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    assert base64.b64decode(images[0].data).startswith(PNG_MAGIC)
    text = mcp_text(without)
    assert s["lpa_code"] in text and s["phone_number"] in text
    assert f"https://esimsetup.apple.com/esim_qrcode_provisioning?carddata={s['lpa_code']}" in text
    assert s["ios_install_url"].endswith(s["lpa_code"])

    for result in (with_card, legacy_card):
        c = result.structured_content
        assert c["status"] == "active" and "lpa_code" not in c and "qr_code" not in c, c
        assert s["lpa_code"] not in mcp_text(result)
        assert not [b for b in result.content if b.type == "image"]
        esim = result.meta["dotm/esim"]
        assert esim["lpa_code"] == s["lpa_code"]
        assert esim["qr_png_data_url"].startswith("data:image/png;base64,")
        assert esim["ios_install_url"] == s["ios_install_url"]
        assert esim["smdp_address"] and esim["matching_id"] and len(esim["android_steps"]) == 3
        assert esim["confirmation_code_required"] is False

    # What the chat shows: the served card, handed this very result, in headless Chromium.
    wire = with_card.model_dump(by_alias=True, mode="json", exclude_none=True)
    view = card_harness.inspect_card(card_html, wire)
    assert view.sections == ["active"], view
    assert s["phone_number"] in view.text and "Install on iPhone" in view.buttons, view.text
    [qr] = [i for i in view.images if i["id"] == "qr"]
    assert qr["complete"] and qr["naturalWidth"] > 200, qr
    out = Path(os.environ.get("DOTM_STACK_LOGDIR", "/tmp")) / "install-card.png"
    card_harness.render_card(card_html, wire, out)
    assert card_harness.png_size(out) == (420, 760)


# ------------------------------------------------------------------ the payment hand-off


def test_a_2025_11_25_client_is_asked_to_open_the_payment_page_and_retries(http, sandbox, mcp_url,
                                                                             new_user):
    user: User = new_user()

    async def never(context, params):  # declares URL elicitation; -32042 needs no callback
        raise AssertionError("a 2025-11-25 client is never sent an elicitation request")

    async def first():
        async with connect(mcp_url, user.token, mode="legacy", elicit=never) as client:
            with pytest.raises(MCPError) as e:
                await client.call_tool("activate_esim", {})
            return e.value

    e = run(first)
    assert e.code == -32042, (e.code, e.message)
    [elicitation] = e.error.data["elicitations"]
    assert elicitation["mode"] == "url" and elicitation["elicitationId"]
    assert user.email not in elicitation["url"] and user.uid not in elicitation["url"]
    # Opening the link is not paying: asked again, it is still required.
    assert hosted_invoice(http, elicitation["url"])
    assert run(first).code == -32042
    pay_through(http, sandbox, elicitation["url"])

    async def retry():
        async with connect(mcp_url, user.token, mode="legacy", elicit=never) as client:
            return await client.call_tool("activate_esim", {})

    done = run(retry)
    assert done.structured_content["status"] in ("queued", "active"), done.structured_content
    # The page now says it is paid.
    page = http.get(elicitation["url"], follow_redirects=False)
    assert page.status_code == 200 and "Paid" in page.text


def test_a_2026_07_28_client_completes_the_payment_round_and_gets_the_line(http, sandbox, mcp_url,
                                                                          new_user):
    user: User = new_user()
    asked: list[types.ElicitRequestURLParams] = []

    async def pay_it(context, params):
        asked.append(params)
        pay_through(http, sandbox, params.url)
        return types.ElicitResult(action="accept")

    async def go():
        async with connect(mcp_url, user.token, elicit=pay_it) as client:
            return await client.call_tool("activate_esim", {})

    result = run(go)
    assert len(asked) == 1 and asked[0].mode == "url", asked
    assert "$1.00" in asked[0].message
    assert result.structured_content["status"] in ("queued", "active"), result.structured_content


def test_an_order_is_paid_in_one_round_and_not_bought_twice(http, sandbox, mcp_url, new_user):
    user: User = new_user()
    asked = []

    async def pay_it(context, params):
        asked.append(params.url)
        pay_through(http, sandbox, params.url)
        return types.ElicitResult(action="accept")

    async def go():
        async with connect(mcp_url, user.token, elicit=pay_it) as client:
            return await client.call_tool("buy_services", {"items": [{"service_id": "esim_beta"}]})

    result = run(go)
    order = result.structured_content
    assert len(asked) == 1 and all(p["paid"] for p in order["payments"]), order
    listed = http.get("/api/orders", headers=user.auth).json()
    assert len(listed["orders"]) == 1, listed


def _forge(state: dict[str, Any], exp: int) -> str:
    """A requestState sealed with the stack's own key (read from the emulator's secret), as the
    server would, but already expired."""
    secret = json.loads(aws("secretsmanager").get_secret_value(
        SecretId=os.environ["MCP_STATE_SECRET_ID"])["SecretString"])
    body = json.dumps({"purpose": "mcp-payment-round", "exp": exp, "value": state},
                      separators=(",", ":")).encode()
    tag = hmac.new(secret["request_state_key"].encode(), body, hashlib.sha256).digest()
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    return f"{b64(body)}.{b64(tag)}"


def test_a_request_state_is_refused_when_tampered_expired_replayed_or_someone_elses(
        mcp_url, new_user):
    ada: User = new_user()
    eve: User = new_user()

    async def unused(context, params):
        return types.ElicitResult(action="accept")

    accept = {"payment": {"action": "accept"}}

    async def go():
        refusals = {}
        async with connect(mcp_url, ada.token, elicit=unused) as client:
            first = await client.session.call_tool("activate_esim", {}, allow_input_required=True)
            assert isinstance(first, types.InputRequiredResult), first
            assert set(first.input_requests) == {"payment"}
            state = first.request_state
            tampered = state[:-2] + ("A" if state[-2] != "A" else "B") + state[-1]
            for name, s in (("tampered", tampered), ("garbage", "not-a-state")):
                with pytest.raises(MCPError) as e:
                    await client.session.call_tool("activate_esim", {}, request_state=s,
                                                   input_responses=accept,
                                                   allow_input_required=True)
                refusals[name] = e.value
            with pytest.raises(MCPError) as e:
                await client.session.call_tool("activate_esim", {"email": "x@example.test"},
                                               request_state=state, input_responses=accept,
                                               allow_input_required=True)
            refusals["other call"] = e.value
            payload = json.loads(base64.urlsafe_b64decode(state.split(".")[0] + "=="))["value"]
            with pytest.raises(MCPError) as e:
                await client.session.call_tool("activate_esim", {},
                                               request_state=_forge(payload, int(time.time()) - 5),
                                               input_responses=accept, allow_input_required=True)
            refusals["expired"] = e.value
        async with connect(mcp_url, eve.token, elicit=unused) as other:
            with pytest.raises(MCPError) as e:
                await other.session.call_tool("activate_esim", {}, request_state=state,
                                              input_responses=accept, allow_input_required=True)
            refusals["another person"] = e.value
        async with connect(mcp_url, ada.token, elicit=unused) as client:
            # Used once (still unpaid: another round is asked), then replayed.
            again = await client.session.call_tool("activate_esim", {}, request_state=state,
                                                   input_responses=accept,
                                                   allow_input_required=True)
            assert isinstance(again, types.InputRequiredResult) and again.request_state != state
            with pytest.raises(MCPError) as e:
                await client.session.call_tool("activate_esim", {}, request_state=state,
                                               input_responses=accept, allow_input_required=True)
            refusals["replayed"] = e.value
            declined = await client.session.call_tool(
                "activate_esim", {}, request_state=again.request_state,
                input_responses={"payment": {"action": "decline"}}, allow_input_required=True)
        return refusals, declined

    refusals, declined = run(go)
    expected = {"tampered": "altered", "garbage": "altered", "other call": "another call",
                "expired": "expired", "another person": "another person",
                "replayed": "already used"}
    for name, needle in expected.items():
        e = refusals[name]
        assert e.code == -32602 and needle in e.message, (name, e.code, e.message)
    # Declining is not an error: the person gets the link to pay later.
    assert declined.structured_content["status"] == "payment_required"
    assert "/pay/" in declined.structured_content["pay_url"]


def test_the_payment_page_knows_nothing_of_an_unknown_link(http):
    for token in ("A" * 43, "x", "a%2F..%2F..", "~" * 80):
        r = http.get(f"/pay/{token}", follow_redirects=False)
        assert r.status_code == 404 and "not valid" in r.text, (token, r.status_code)
