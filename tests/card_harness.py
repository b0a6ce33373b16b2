"""Renders the MCP Apps install card (functions/mcp/src/card.html) in headless Chromium.

Two ways, both with the card's HTML unmodified:

* `render_card` writes a host page that embeds the card the way an MCP Apps host (2026-01-26)
  does: `<iframe sandbox="allow-scripts" srcdoc=...>`, JSON-RPC 2.0 over postMessage. The host
  answers `ui/initialize`, and after `ui/notifications/initialized` sends
  `ui/notifications/tool-input` and `ui/notifications/tool-result` with the given CallToolResult;
  `tools/call` from the card (the queued card refreshes itself) gets the same result back, a
  given other result, or a JSON-RPC error. Chromium screenshots that page.

* `inspect_card` checks what the card shows. The DOM of a sandboxed iframe is out of reach of
  `--dump-dom` (it serialises the top-level document only), so the card is loaded as the top-level
  document with a small host shim injected before its script: at top level `window.parent` is
  `window`, so the shim replaces `window.postMessage` with the same host as above and delivers the
  host's messages as real `message` events. From the card's first `ui/notifications/size-changed`
  on, after every message the card sends, the shim writes `document.body.innerText`
  (layout-aware: text in `hidden` sections and closed `<details>` is not in it), the visible
  sections, buttons and images (with their decoded and drawn sizes) and the messages the card sent
  into a JSON `<script>` element, which `--dump-dom` returns.
  `iframe_protocol` loads the real sandboxed-iframe host page and returns the messages the card
  sent there (the host page's own DOM is dumpable), so the handshake is checked in the sandbox too.

Chromium: $CHROMIUM, else `chromium` (Debian's package, infra/scripts/chromium.sh installs it),
`chromium-browser`, `google-chrome` on PATH.

    python tests/card_harness.py --card functions/mcp/src/card.html --result result.json --out docs/card.png
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = "2026-01-26"
HOST_INFO = {"name": "dotm-card-harness", "version": "1"}
# Virtual time: timers run as fast as Chromium can execute them, so a 5 s budget covers the
# card's start-up and one 3 s refresh of a queued card, but not its 15 s one.
VIRTUAL_TIME_BUDGET_MS = 5000
TIMEOUT_S = 90


# --------------------------------------------------------------------------- Chromium


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or None."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_version(chromium: str | None = None) -> str:
    chromium = chromium or _require_chromium()
    out = subprocess.run([chromium, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def _require_chromium() -> str:
    path = find_chromium()
    if not path:
        raise FileNotFoundError(
            "no chromium found (set CHROMIUM, or run infra/scripts/chromium.sh to install Debian's chromium)"
        )
    return path


def chromium_command(
    chromium: str,
    profile: Path,
    url: str,
    *,
    width: int,
    height: int,
    theme: str = "light",
    scale: float = 1,
    screenshot: Path | None = None,
) -> list[str]:
    """The headless Chromium command line: a screenshot of `url` if `screenshot`, else --dump-dom.

    --window-size is the size of the screenshot. (New headless clamps the window to >= 500 px wide
    and takes the toolbar off its height while the page runs, then emulates exactly WxH for the
    capture; the host page sizes the card by the viewport, so it lays out again at WxH.)
    """
    cmd = [
        chromium,
        "--headless=new",
        "--no-sandbox",  # root in containers and CI
        "--disable-gpu",
        "--disable-dev-shm-usage",  # a small /dev/shm in containers
        "--hide-scrollbars",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--mute-audio",
        # Chromium puts a sandboxed iframe in a process of its own, and --virtual-time-budget does
        # not wait for that process: the capture (or dump) then races the card's start-up. In one
        # process the sandbox still holds (opaque origin, scripts only), and the run is deterministic.
        "--disable-features=IsolateSandboxedIframes",
        f"--user-data-dir={profile}",
        f"--force-device-scale-factor={scale:g}",
        # prefers-color-scheme: 1 light, 0 dark (the card follows it; the host context says it too)
        f"--blink-settings=preferredColorScheme={0 if theme == 'dark' else 1}",
        f"--window-size={width},{height}",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
    ]
    cmd.append(f"--screenshot={screenshot}" if screenshot else "--dump-dom")
    cmd.append(url)
    return cmd


def _run(cmd: list[str]) -> str:
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS="disabled:")
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"chromium did not finish in {TIMEOUT_S}s: {' '.join(cmd)}") from e
    if out.returncode != 0:
        tail = "\n".join(out.stderr.splitlines()[-20:])
        raise RuntimeError(f"chromium exited {out.returncode}: {' '.join(cmd)}\n{tail}")
    return out.stdout


# --------------------------------------------------------------------------- host pages

# The host side of the MCP Apps protocol, shared by the iframe host page and the top-level shim.
# post(msg) delivers a message to the card; host.handle(msg) takes one from it.
HOST_JS = r"""
function dotmHost(post, config, hooks) {
  const sent = [];
  let delivered = false;
  const reply = (id, body) => post(Object.assign({ jsonrpc: "2.0", id }, body));
  function deliver() {
    post({ jsonrpc: "2.0", method: "ui/notifications/tool-input", params: { arguments: config.toolArguments } });
    post({ jsonrpc: "2.0", method: "ui/notifications/tool-result", params: config.result });
  }
  function handle(m) {
    if (!m || m.jsonrpc !== "2.0" || typeof m.method !== "string") return;
    sent.push({ method: m.method, params: m.params === undefined ? null : m.params });
    if (m.id !== undefined && m.id !== null) {
      switch (m.method) {
        case "ui/initialize":
          reply(m.id, { result: {
            protocolVersion: config.protocolVersion,
            hostInfo: config.hostInfo,
            hostCapabilities: {},
            hostContext: { theme: config.theme }
          } });
          break;
        case "tools/call":
          if (config.toolsCall === "error") {
            reply(m.id, { error: { code: -32603, message: "the card harness has no server to call" } });
          } else {
            reply(m.id, { result: config.toolsCall === "same" ? config.result : config.toolsCall });
          }
          break;
        case "ui/open-link":
          reply(m.id, { result: {} });
          break;
        default:
          reply(m.id, { error: { code: -32601, message: "Method not found: " + m.method } });
      }
    } else if (m.method === "ui/notifications/initialized" && !delivered) {
      delivered = true;
      deliver();
    }
    if (hooks && hooks.onMessage) hooks.onMessage(m);
  }
  return { sent, handle };
}
"""

HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>DOTM card harness</title>
<style>
  /* The host's colour scheme matches the card's: where they differ Chromium paints the iframe's
     canvas opaque (the card's transparent background shows the browser's default instead). */
  :root {{ color-scheme: {theme}; }}
  html, body {{ margin: 0; height: 100%; background: {background}; }}
  body {{ padding: 12px; box-sizing: border-box; }}
  /* Sized by the viewport, not by the card's size-changed height: new headless lays the page out
     at another width while it runs than the one it captures (see chromium_command). */
  iframe {{ display: block; width: 100%; height: 100%; border: 0; background: transparent; }}
</style>
</head>
<body>
<iframe id="card" title="install card" sandbox="allow-scripts" srcdoc="{srcdoc}"></iframe>
<script id="dotm-host-log" type="application/json">[]</script>
<script>
{host_js}
(() => {{
  const config = {config};
  const frame = document.getElementById("card");
  const log = document.getElementById("dotm-host-log");
  const host = dotmHost((msg) => frame.contentWindow.postMessage(msg, "*"), config, {{
    onMessage() {{ log.textContent = JSON.stringify(host.sent).replace(/</g, "\\\\u003c"); }}
  }});
  window.addEventListener("message", (event) => {{
    if (event.source === frame.contentWindow) host.handle(event.data);
  }});
}})();
</script>
</body>
</html>
"""

SHIM = """<script>
{host_js}
(() => {{
  // Top level: the card's window.parent is this window. Its postMessage goes to the host; the
  // host's messages reach the card as real message events through the original postMessage.
  const config = {config};
  const realPost = window.postMessage.bind(window);
  let timers = [], rendered = false;
  function snapshot() {{
    const visible = (el) => el.getClientRects().length > 0;
    const state = {{
      text: document.body ? document.body.innerText : "",
      sections: [...document.querySelectorAll("section")].filter(visible).map((s) => s.id),
      images: [...document.images].filter(visible).map((img) => ({{
        id: img.id, alt: img.alt, src: img.src.slice(0, 40), complete: img.complete,
        naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
        width: img.getBoundingClientRect().width, height: img.getBoundingClientRect().height
      }})),
      buttons: [...document.querySelectorAll("button")].filter(visible).map((b) => b.innerText),
      sent: host.sent
    }};
    let out = document.getElementById("dotm-harness");
    if (!out) {{
      out = document.createElement("script");
      out.type = "application/json";
      out.id = "dotm-harness";
      document.documentElement.appendChild(out);
    }}
    out.textContent = JSON.stringify(state).replace(/</g, "\\\\u003c");
  }}
  const host = dotmHost((msg) => realPost(msg, "*"), config, {{
    onMessage(m) {{
      // From the card's first render on, after every message it sends (a refresh's tools/call
      // too), and again a little later: a data: image decodes asynchronously.
      if (m.method === "ui/notifications/size-changed") rendered = true;
      if (!rendered) return;
      timers.forEach(clearTimeout);
      timers = [0, 100, 500, 1000].map((ms) => setTimeout(snapshot, ms));
    }}
  }});
  window.postMessage = (msg) => host.handle(msg);
}})();
</script>
"""


def _config(tool_result: dict, theme: str, tools_call: Any) -> str:
    if tools_call not in ("same", "error") and not isinstance(tools_call, dict):
        raise ValueError('tools_call must be "same", "error" or a CallToolResult dict')
    config = {
        "protocolVersion": PROTOCOL_VERSION,
        "hostInfo": HOST_INFO,
        "theme": theme,
        "result": tool_result,
        "toolArguments": {},
        "toolsCall": tools_call,
    }
    # Inside <script>: no "</script>" (nor "<!--") can come out of the JSON.
    return json.dumps(config).replace("<", "\\u003c")


def host_page(card_html: str, tool_result: dict, *, theme: str = "light", tools_call: Any = "same") -> str:
    """The HTML of a host page that embeds the card in a sandboxed iframe (srcdoc)."""
    return HOST_PAGE.format(
        theme="dark" if theme == "dark" else "light",
        background="#1f1f23" if theme == "dark" else "#f4f4f5",
        srcdoc=html.escape(card_html, quote=True),
        host_js=HOST_JS,
        config=_config(tool_result, theme, tools_call),
    )


def shimmed_card(card_html: str, tool_result: dict, *, theme: str = "light", tools_call: Any = "same") -> str:
    """The card's HTML with the host shim injected before anything else in <head>."""
    shim = SHIM.format(host_js=HOST_JS, config=_config(tool_result, theme, tools_call))
    head = re.search(r"<head\b[^>]*>", card_html, re.IGNORECASE)
    if head:
        return card_html[: head.end()] + "\n" + shim + card_html[head.end() :]
    return shim + card_html


# --------------------------------------------------------------------------- API


def render_card(
    card_html: str,
    tool_result: dict,
    out_png: Path,
    width: int = 420,
    height: int = 760,
    *,
    theme: str = "light",
    scale: float = 1,
    tools_call: Any = "same",
) -> Path:
    """Screenshot (PNG, width*scale x height*scale) of the card in a sandboxed iframe of a host
    page that hands it `tool_result`. `tools_call`: what the card's tools/call gets back: "same"
    (tool_result), "error" (a JSON-RPC error) or another CallToolResult."""
    chromium = _require_chromium()
    out_png = Path(out_png).resolve()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    out_png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="dotm-card-") as tmp:
        page = Path(tmp) / "host.html"
        page.write_text(host_page(card_html, tool_result, theme=theme, tools_call=tools_call), encoding="utf-8")
        _run(
            chromium_command(
                chromium, Path(tmp) / "profile", page.as_uri(),
                width=width, height=height, theme=theme, scale=scale, screenshot=out_png,
            )
        )
    if not out_png.is_file() or out_png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {out_png}")
    return out_png


@dataclass
class CardView:
    """What the card shows, as Chromium laid it out (see inspect_card)."""

    text: str  # document.body.innerText: only what is rendered
    sections: list[str]  # ids of the visible <section>s
    images: list[dict]  # visible <img>: id, alt, complete, naturalWidth/Height, width/height
    buttons: list[str]  # visible buttons' text
    sent: list[dict] = field(default_factory=list)  # {method, params} the card sent, in order

    @property
    def methods(self) -> list[str]:
        return [m["method"] for m in self.sent]


def _dump(card_or_page: str, *, width: int, height: int, theme: str) -> str:
    chromium = _require_chromium()
    with tempfile.TemporaryDirectory(prefix="dotm-card-") as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(card_or_page, encoding="utf-8")
        return _run(chromium_command(chromium, Path(tmp) / "profile", page.as_uri(), width=width, height=height, theme=theme))


def inspect_card(
    card_html: str,
    tool_result: dict,
    *,
    width: int = 420,
    height: int = 760,
    theme: str = "light",
    tools_call: Any = "same",
) -> CardView:
    """The card at top level with the host shim: its rendered text, visible sections and images,
    and the messages it sent, after the last size-changed it reported."""
    dom = _dump(shimmed_card(card_html, tool_result, theme=theme, tools_call=tools_call),
                width=width, height=height, theme=theme)
    m = re.search(r'<script[^>]*id="dotm-harness"[^>]*>(.*?)</script>', dom, re.DOTALL)
    if not m:
        raise RuntimeError(
            "the card never reported ui/notifications/size-changed after the tool result "
            f"(no #dotm-harness in the dumped DOM):\n{dom[-2000:]}"
        )
    state = json.loads(m.group(1))
    return CardView(state["text"], state["sections"], state["images"], state["buttons"], state["sent"])


def iframe_protocol(
    card_html: str,
    tool_result: dict,
    *,
    width: int = 420,
    height: int = 760,
    theme: str = "light",
    tools_call: Any = "same",
) -> list[dict]:
    """The messages ({method, params}) the card sent to the host page from its sandboxed iframe."""
    dom = _dump(host_page(card_html, tool_result, theme=theme, tools_call=tools_call),
                width=width, height=height, theme=theme)
    m = re.search(r'<script id="dotm-host-log" type="application/json">(.*?)</script>', dom, re.DOTALL)
    if not m:
        raise RuntimeError(f"no host log in the DOM Chromium dumped:\n{dom[-2000:]}")
    return json.loads(m.group(1))


# --------------------------------------------------------------------------- PNG (stdlib only)


def png_bytes(width: int, height: int, rows: list[bytes], *, channels: int = 1) -> bytes:
    """An 8-bit PNG (channels 1 grey, 3 RGB, 4 RGBA) from raw rows of width*channels bytes."""
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    if len(rows) != height or any(len(r) != width * channels for r in rows):
        raise ValueError("rows do not match width, height and channels")

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def png_data_url(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@dataclass
class Png:
    width: int
    height: int
    channels: int
    rows: list[bytes]  # unfiltered, width*channels bytes each

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        c = self.channels
        return tuple(self.rows[y][x * c : x * c + c])


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk."""
    data = Path(path).read_bytes()[:24]
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", data[16:24])


def read_png(path: Path) -> Png:
    """Decodes an 8-bit, non-interlaced grey/RGB/RGBA PNG (what Chromium's screenshots are)."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path} has no IHDR")
    width, height, depth, color_type, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color_type)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour type {color_type}, interlace {interlace})")
    raw = zlib.decompress(b"".join(idat))
    stride, bpp = width * channels, channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        elif kind != 0:
            raise ValueError(f"{path}: bad PNG filter {kind} in row {y}")
        rows.append(bytes(line))
        prev = line
    return Png(width, height, channels, rows)


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshot of the MCP Apps install card in headless Chromium.")
    parser.add_argument("--card", type=Path, required=True, help="the card's HTML (functions/mcp/src/card.html)")
    parser.add_argument("--result", type=Path, required=True,
                        help="a CallToolResult as JSON ({content, structuredContent, _meta}); - for stdin")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--width", type=int, default=420)
    parser.add_argument("--height", type=int, default=760)
    parser.add_argument("--scale", type=float, default=1, help="device scale factor (2: a retina-size PNG)")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    args = parser.parse_args(argv)

    result_text = sys.stdin.read() if str(args.result) == "-" else args.result.read_text(encoding="utf-8")
    result = json.loads(result_text)
    if "result" in result and "structuredContent" not in result:
        result = result["result"]  # a whole JSON-RPC response to tools/call
    out = render_card(args.card.read_text(encoding="utf-8"), result, args.out,
                      args.width, args.height, theme=args.theme, scale=args.scale)
    width, height = png_size(out)
    print(f"{out} ({width}x{height}, {chromium_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
