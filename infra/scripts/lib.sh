# Common settings for the scripts in infra/scripts (sourced, not run).
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"

# One target dir shared by every checkout and by CI, so a build is reused.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dotm-target}"

# The project's own tools first: .venv (cargo-lambda, sam, pytest) and node_modules
# (Node 22 from the `node` package, the MCP Inspector).
export PATH="$VENV/bin:$ROOT/node_modules/.bin:$PATH"

log() {
  if [[ -t 2 ]]; then
    printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0" .sh)" "$*" >&2
  else
    printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2
  fi
}
die() { log "error: $*"; exit 1; }
