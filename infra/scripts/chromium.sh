#!/usr/bin/env bash
# Makes a headless Chromium available (for the install card screenshots, tests/card_harness.py)
# and prints its path on stdout. Uses $CHROMIUM if that is set and executable, else `chromium` on
# PATH, else installs Debian's `chromium` package (apt-get update once, then install without the
# recommended extras). Also makes sure at least one scalable font is installed (fonts-dejavu-core),
# so that the screenshots have readable text. Idempotent: quiet (just the path) when all is there.
# Runs as root (local containers, CI); there is no sudo.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec </dev/null

updated=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "no apt-get on this machine: install Chromium yourself and set CHROMIUM=/path/to/it"
  [[ "$(id -u)" == 0 ]] || die "installing $* needs root (apt-get); run as root or set CHROMIUM=/path/to/chromium"
  local apt_log
  apt_log="$(mktemp)"
  if [[ "$updated" == 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$apt_log" 2>&1 || {
      cat "$apt_log" >&2
      rm -f "$apt_log"
      die "apt-get update failed"
    }
    updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$apt_log" 2>&1 || {
    cat "$apt_log" >&2
    rm -f "$apt_log"
    die "apt-get install $* failed"
  }
  rm -f "$apt_log"
}

# --- Chromium -----------------------------------------------------------------
if [[ -n "${CHROMIUM:-}" ]]; then
  [[ -x "$CHROMIUM" ]] || die "CHROMIUM=$CHROMIUM is not an executable file"
  bin="$CHROMIUM"
elif bin="$(command -v chromium 2>/dev/null)"; then
  :
else
  log "apt-get install chromium (headless screenshots of the install card)"
  apt_install chromium
  bin="$(command -v chromium 2>/dev/null)" || die "apt-get installed chromium, but there is no chromium on PATH"
fi

# --- Fonts --------------------------------------------------------------------
# Without any font Chromium draws every glyph as an empty box (the card asks for system UI fonts,
# fontconfig falls back to whatever sans-serif is there).
has_fonts() {
  local dir
  for dir in /usr/share/fonts /usr/local/share/fonts; do
    [[ -d "$dir" ]] && [[ -n "$(find "$dir" \( -name '*.ttf' -o -name '*.otf' -o -name '*.ttc' \) -print -quit 2>/dev/null)" ]] && return 0
  done
  return 1
}
if ! has_fonts; then
  log "apt-get install fonts-dejavu-core (no scalable font is installed)"
  apt_install fonts-dejavu-core
fi

printf '%s\n' "$bin"
