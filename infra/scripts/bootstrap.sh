#!/usr/bin/env bash
# Installs everything the local stack and the tests need into the project:
#   .venv/         python3 -m venv + infra/requirements.txt (cargo-lambda, mcp, pytest, sam, ...)
#   node_modules/  npm ci of package.json/package-lock.json (MCP Inspector, Node 22)
#   chromium       headless Chromium for the install card screenshots (infra/scripts/chromium.sh:
#                  Debian's package via apt-get, as root; nothing to do when it is on PATH)
# Idempotent and fast when nothing changed: each part keeps a stamp with the hash of its inputs.
# Needs only Rust, Python 3 and Node/npm on the machine (and apt-get, as root, for Chromium).
# Works unattended (CI=true, no stdin).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
exec </dev/null

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- Python -----------------------------------------------------------------
py_key="$(hash_of infra/requirements.txt) $(python3 -c 'import sys; print(sys.version)' | head -n1)"
py_stamp="$VENV/.dotm-bootstrap"
if [[ -x "$VENV/bin/python" && -f "$py_stamp" && "$(cat "$py_stamp")" == "$py_key" ]]; then
  :
else
  log "python: installing infra/requirements.txt into .venv/"
  if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r infra/requirements.txt
  printf '%s' "$py_key" >"$py_stamp"
fi

# --- Node -------------------------------------------------------------------
node_key="$(hash_of package.json package-lock.json)"
node_stamp="$ROOT/node_modules/.dotm-bootstrap"
if [[ -f "$node_stamp" && "$(cat "$node_stamp")" == "$node_key" ]]; then
  :
else
  log "node: npm ci (MCP Inspector, Node 22)"
  # npm itself runs on the machine's Node; the engine warnings about Node >= 22 are for the
  # Inspector, which runs on the Node 22 that this install brings (node_modules/.bin/node).
  npm_log="$(mktemp)"
  npm ci --no-audit --no-fund --loglevel=error >"$npm_log" 2>&1 || {
    cat "$npm_log" >&2
    rm -f "$npm_log"
    die "npm ci failed"
  }
  rm -f "$npm_log"
  printf '%s' "$node_key" >"$node_stamp"
fi

node_version="$("$ROOT/node_modules/.bin/node" --version)"
case "$node_version" in
  v22.*) ;;
  *) die "node_modules/.bin/node is $node_version, expected v22.x" ;;
esac

# --- Chromium ---------------------------------------------------------------
# tests/test_card_screenshot.py renders the MCP install card with it. Quiet when it is installed.
# Without it (no root, no apt-get) the card tests skip, except under CI: there it is an error.
if ! "$ROOT/infra/scripts/chromium.sh" >/dev/null; then
  ci="${CI:-}"
  case "${ci,,}" in
    "" | 0 | false | no) log "warning: no headless Chromium; the install card screenshots will be skipped" ;;
    *) die "infra/scripts/chromium.sh failed" ;;
  esac
fi
