# Common settings for the scripts in infra/scripts (sourced, not run).
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"

# One target dir shared by every checkout and by CI, so a build is reused.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dotm-target}"
# CI builds a fresh clone every run, at a new path: the workspace's crates are compiled from
# scratch and their incremental caches are never read again (they piled up, 3.4 GB). Without
# them a cold build of dotm takes 76 s instead of 110 s on 2 cores. Locally, incremental stays.
if [[ "${CI:-}" == true ]]; then
  export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi

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

# --- signals -----------------------------------------------------------------
# bash runs a trap only once the command in the foreground has returned, and a step such as
# `cargo build` or a Python wait loop can take minutes; a signal meant for the script waits that
# long, and if the sender gives up and kills it, whatever it started stays behind.
#
#   run_supervised CMD...   runs CMD in a session of its own and only waits for it, so INT, TERM
#       and HUP reach this shell at once. The first one goes on as TERM to CMD's process group
#       (CMD's shell and the command it runs in the foreground, not the services it started in
#       sessions of their own: CMD stops those from its EXIT trap); further ones are ignored
#       while CMD stops. When CMD has finished it exits 128+signal (INT 130, TERM 143, HUP 129),
#       or with CMD's status if no signal came.
#   exit_on_signals         INT, TERM and HUP make this shell exit 130, 143 and 129 (running its
#       EXIT trap); once one came, the others are ignored, so a second Ctrl-C or a terminal
#       closing while the stack stops cannot cut the EXIT trap short.

run_supervised() {
  _SUP_SIGNAL=0 _SUP_COUNT=0 _SUP_PID=""
  trap '_supervised_signal 2' INT
  trap '_supervised_signal 15' TERM
  trap '_supervised_signal 1' HUP
  # A command sent to the background by a non-interactive shell starts with INT and QUIT
  # ignored, and so would everything it starts (a `make up` started by a test could then never be
  # stopped with Ctrl-C): give them their default back.
  setsid env --default-signal=INT,QUIT "$@" &
  _SUP_PID=$!
  # A signal between the trap and $!: pass it on now.
  if (( _SUP_SIGNAL )); then kill -TERM -- "-$_SUP_PID" 2>/dev/null || true; fi
  local seen status
  while :; do
    seen=$_SUP_COUNT
    status=0
    wait "$_SUP_PID" || status=$?
    # `wait` also returns when a trapped signal comes; then CMD is still stopping.
    (( _SUP_COUNT != seen )) || break
  done
  trap - INT TERM HUP
  if (( _SUP_SIGNAL )); then
    exit $((128 + _SUP_SIGNAL))
  fi
  exit "$status"
}

_supervised_signal() {
  _SUP_COUNT=$((_SUP_COUNT + 1))
  (( _SUP_SIGNAL == 0 )) || return 0
  _SUP_SIGNAL=$1
  if [[ -n "$_SUP_PID" ]]; then
    log "SIG$(kill -l "$1"): stopping"
    kill -TERM -- "-$_SUP_PID" 2>/dev/null || true
  fi
}

exit_on_signals() {
  trap '_exit_on_signal 130' INT
  trap '_exit_on_signal 143' TERM
  trap '_exit_on_signal 129' HUP
}

_exit_on_signal() {
  trap '' INT TERM HUP
  exit "$1"
}
