"""The install card (functions/mcp/src/card.html) as headless Chromium renders it. No stack needed.

tests/card_harness.py hosts the card the way an MCP Apps host does (sandboxed iframe, JSON-RPC
over postMessage) and screenshots it; for what the card shows it also loads the card at top level
with a host shim and reads `document.body.innerText`, the visible sections and images back through
`--dump-dom` (the DOM of a sandboxed iframe is not in a dump). The tool results here are samples in
the shape the MCP server sends; the QR is a QR-like PNG made with zlib (no QR library needed).

Needs Chromium (infra/scripts/chromium.sh, run by bootstrap.sh); without it the tests are skipped,
except under CI, where they fail. DOTM_CARD_SCREENSHOTS=dir keeps the screenshots there.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import pytest

import card_harness as harness

ROOT = Path(__file__).resolve().parent.parent
CARD = ROOT / "functions" / "mcp" / "src" / "card.html"
PHONE = "+12025550123"
LPA = "LPA:1$smdp.sandbox.oxio.local$ABCDE-FGHJK-LMNPQ-RSTUV"
WIDTH, HEIGHT = 420, 760
QR_MODULES, QR_SCALE, QR_QUIET = 29, 8, 4  # a version-3 sized code, 8 px a module, 4 modules margin
BRAND = (0x5A, 0x36, 0xE6)  # --brand in card.html: the "Install on iPhone" button


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = harness.find_chromium()
    if not path:
        reason = "no chromium (set CHROMIUM or run infra/scripts/chromium.sh)"
        if _in_ci():
            pytest.fail(f"{reason}; under CI the card screenshots must run")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def card_html() -> str:
    return CARD.read_text(encoding="utf-8")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    kept = os.environ.get("DOTM_CARD_SCREENSHOTS")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return tmp_path


# --------------------------------------------------------------------------- samples


def qr_like_png(seed: int = 7) -> bytes:
    """A greyscale PNG that looks like a QR code: three finder patterns and random modules,
    pure black on white, (29 + 2*4) modules of 8 px = 296 px square."""
    rnd = random.Random(seed)
    n = QR_MODULES
    grid = [[rnd.random() < 0.5 for _ in range(n)] for _ in range(n)]
    for ox, oy in ((0, 0), (n - 7, 0), (0, n - 7)):
        for y in range(-1, 8):
            for x in range(-1, 8):
                if 0 <= ox + x < n and 0 <= oy + y < n:
                    inside = 0 <= x < 7 and 0 <= y < 7
                    grid[oy + y][ox + x] = inside and max(abs(x - 3), abs(y - 3)) != 2
    size = (n + 2 * QR_QUIET) * QR_SCALE
    rows = []
    for y in range(size):
        my = y // QR_SCALE - QR_QUIET
        row = bytearray(b"\xff" * size)
        if 0 <= my < n:
            for x in range(size):
                mx = x // QR_SCALE - QR_QUIET
                if 0 <= mx < n and grid[my][mx]:
                    row[x] = 0
        rows.append(bytes(row))
    return harness.png_bytes(size, size, rows)


def active_result() -> dict:
    text = f"Your DOT eSIM {PHONE} is active. Scan the QR code or install it on this iPhone."
    return {
        "content": [{"type": "text", "text": text}],
        "structuredContent": {
            "status": "active",
            "purchase_id": "pur_card_test",
            "phone_number": PHONE,
            "iccid": "8901260000000000019",
            "activated_at": "2026-05-10T12:00:00Z",
            "message": text,
        },
        "_meta": {
            "dotm/esim": {
                "lpa_code": LPA,
                "qr_png_data_url": harness.png_data_url(qr_like_png()),
                "ios_install_url": "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=" + LPA,
                "smdp_address": "smdp.sandbox.oxio.local",
                "matching_id": "ABCDE-FGHJK-LMNPQ-RSTUV",
                "confirmation_code_required": False,
                "phone_number": PHONE,
                "android_steps": [
                    "Open Settings > Network & internet > SIMs.",
                    "Tap Add eSIM (or + Add SIM), then Scan QR code.",
                    "Scan the code on another screen, or enter the activation code by hand.",
                ],
            }
        },
    }


def queued_result(eta_seconds: int = 40) -> dict:
    text = f"Paid. Your eSIM is number 3 in line, ready in about {eta_seconds} s."
    return {
        "content": [{"type": "text", "text": text}],
        "structuredContent": {
            "status": "queued",
            "purchase_id": "pur_card_test",
            "position": 3,
            "eta_seconds": eta_seconds,
            "eta_ms": 1_778_414_440_000,
            "message": text,
        },
    }


# --------------------------------------------------------------------------- pixels


def _pixels(png: harness.Png):
    c = png.channels
    for y, row in enumerate(png.rows):
        for x in range(png.width):
            yield x, y, tuple(row[x * c : x * c + 3])


def _assert_not_blank(png: harness.Png) -> Counter:
    colours = Counter(p for _, _, p in _pixels(png))
    assert len(colours) > 20, f"the screenshot is (nearly) one flat colour: {colours.most_common(5)}"
    top, count = colours.most_common(1)[0]
    assert count < 0.9 * png.width * png.height, f"{count} of the pixels are {top}: a blank page?"
    return colours


# --------------------------------------------------------------------------- tests


def test_active_card_screenshot_shows_the_qr_and_the_button(chromium, card_html, shots):
    out = harness.render_card(card_html, active_result(), shots / "card-active.png", WIDTH, HEIGHT)

    assert out.is_file()
    width, height = harness.png_size(out)
    assert width >= 300 and height >= 500, (width, height)
    assert (width, height) == (WIDTH, HEIGHT)
    png = harness.read_png(out)
    colours = _assert_not_blank(png)

    # The QR's modules are the only pure black in the card (its text is #1d1f23): they must be
    # drawn as a square of about 220 * 29/37 px (the <img> is 220 px, the code has a quiet zone),
    # centred in the card, which spans the page.
    black = [(x, y) for x, y, p in _pixels(png) if p == (0, 0, 0)]
    assert len(black) > 5000, f"only {len(black)} black pixels: the QR image is not drawn"
    xs, ys = [x for x, _ in black], [y for _, y in black]
    qr_w, qr_h = max(xs) - min(xs) + 1, max(ys) - min(ys) + 1
    expected = 220 * QR_MODULES / (QR_MODULES + 2 * QR_QUIET)
    assert abs(qr_w - expected) <= 6 and abs(qr_h - expected) <= 6, (qr_w, qr_h, expected)
    assert abs((min(xs) + max(xs)) / 2 - width / 2) <= 8, "the QR is not centred"

    # The brand-coloured "Install on iPhone" button (about 358 x 45 px) below the QR.
    assert colours[BRAND] > 8000, f"{colours[BRAND]} brand-coloured pixels: no install button"
    button_ys = [y for x, y, p in _pixels(png) if p == BRAND and x == width // 2]
    assert button_ys and min(button_ys) > max(ys), "the install button is not below the QR"


def test_active_card_shows_the_number_and_the_iphone_install(chromium, card_html):
    view = harness.inspect_card(card_html, active_result(), width=WIDTH, height=HEIGHT)

    assert view.sections == ["active"], view
    assert PHONE in view.text
    assert "Install on iPhone" in view.text and view.buttons == ["Install on iPhone"]
    assert "Waiting for your eSIM details" not in view.text
    assert "confirmation code" not in view.text  # confirmation_code_required: false
    qr = [img for img in view.images if img["id"] == "qr"]
    assert qr and qr[0]["complete"] and qr[0]["naturalWidth"] == (QR_MODULES + 2 * QR_QUIET) * QR_SCALE, view.images
    assert (qr[0]["width"], qr[0]["height"]) == (220, 220), qr
    assert view.methods[:3] == ["ui/initialize", "ui/notifications/initialized", "ui/notifications/size-changed"]
    assert view.sent[0]["params"]["protocolVersion"] == harness.PROTOCOL_VERSION
    assert "tools/call" not in view.methods  # an active card does not poll


def test_handshake_in_a_sandboxed_iframe(chromium, card_html):
    sent = harness.iframe_protocol(card_html, active_result(), width=WIDTH, height=HEIGHT)

    methods = [m["method"] for m in sent]
    assert methods[:3] == ["ui/initialize", "ui/notifications/initialized", "ui/notifications/size-changed"], sent
    assert sent[0]["params"]["protocolVersion"] == harness.PROTOCOL_VERSION
    assert sent[2]["params"]["height"] > 300, sent[2]


def test_queued_card_shows_the_place_in_line(chromium, card_html, shots):
    view = harness.inspect_card(card_html, queued_result(), width=WIDTH, height=HEIGHT)

    assert view.sections == ["queued"], view
    assert "Number 3 in line" in view.text
    assert "Ready in about 1 min" in view.text  # 40 s, rounded up to a minute
    assert view.images == [] and view.buttons == []
    assert PHONE not in view.text

    out = harness.render_card(card_html, queued_result(), shots / "card-queued.png", WIDTH, HEIGHT)
    assert harness.png_size(out) == (WIDTH, HEIGHT)
    _assert_not_blank(harness.read_png(out))


@pytest.mark.parametrize("answer", ["same", "error"])
def test_queued_card_survives_its_refresh(chromium, card_html, answer):
    # eta 4 s: the card refreshes after 3 s (within the harness's 5 s of virtual time).
    view = harness.inspect_card(card_html, queued_result(eta_seconds=4), tools_call=answer)

    calls = [m for m in view.sent if m["method"] == "tools/call"]
    assert calls and calls[0]["params"]["name"] == "refresh_install_card", view.sent
    assert view.sections == ["queued"] and "Number 3 in line" in view.text, view


def test_queued_card_turns_active_when_the_refresh_says_so(chromium, card_html):
    view = harness.inspect_card(card_html, queued_result(eta_seconds=4), tools_call=active_result())

    assert "tools/call" in view.methods, view.sent
    assert view.sections == ["active"], view
    assert PHONE in view.text and "Number 3 in line" not in view.text
    assert [img["id"] for img in view.images] == ["qr"]
