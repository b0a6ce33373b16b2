# Start/stop the local stack on 127.0.0.1: the providers (moto + the provider sandbox, from
# providers.sh), `cargo lambda watch` (the functions), the SQS event source that feeds them
# queue batches (providers.sh) and infra/gateway.py (the HTTP API).
# Sourced by up.sh and test.sh after lib.sh.
#   stack_start PORT LAMBDA_PORT SANDBOX_PORT MOTO_PORT LOGDIR [WATCH_FLAGS...]
#                                         start the providers first (they export AWS_ENDPOINT_URL,
#                                         TABLE_NAME, STRIPE_API_BASE, ... which the functions
#                                         inherit), then the functions and the gateway; each part
#                                         in its own process group; extra flags go to
#                                         `cargo lambda watch` (--ignore-changes)
#   LAMBDA_CONCURRENCY (10)               instances per function that cargo lambda may run at
#                                         once, as Lambda does (one request per instance)
#   STACK_PREBUILT=1                      instances run the binaries already built (no
#                                         `cargo run`: see prebuilt/cargo); for a stack that
#                                         does not rebuild (--ignore-changes)
#   stack_wait_healthy PORT SECONDS       wait until GET /api/health answers 200
#   stack_alive                           true while every part of the stack runs
#   stack_stop                            stop every process group (idempotent)
# shellcheck shell=bash

source "$ROOT/infra/scripts/providers.sh"

STACK_PGIDS=()

port_free() {
  "$VENV/bin/python" - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no conflict
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

# Runs "$@" in a new session (its own process group), output to $log, as a child of this
# shell (so it can be reaped); its pid, which is also its process group id, goes to SPAWNED.
_spawn() {
  local log="$1"; shift
  setsid "$@" </dev/null >>"$log" 2>&1 &
  SPAWNED=$!
}

# True while a process group has a member that is not a zombie.
_group_alive() {
  ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

stack_start() {
  local port="$1" lambda_port="$2" sandbox_port="$3" moto_port="$4" logdir="$5"
  shift 5
  mkdir -p "$logdir"
  for p in "$port" "$lambda_port"; do
    port_free "$p" || die "port $p on 127.0.0.1 is in use (is another stack running? set PORT / LAMBDA_PORT)"
  done

  # Providers first: the functions inherit what they export (endpoints, table, queue, secrets).
  # Stripe delivers its webhooks through the gateway, as it would through API Gateway.
  providers_start "$sandbox_port" "$moto_port" "http://127.0.0.1:$port/webhooks/stripe" "$logdir" \
    || die "the providers (moto, sandbox) did not start; logs in $logdir"

  # What the functions read (the template's Environment, with local values).
  export RUST_LOG="${RUST_LOG:-info,rmcp=warn}"
  export MCP_ALLOWED_HOSTS="${MCP_ALLOWED_HOSTS:-127.0.0.1:$port,localhost:$port,127.0.0.1,localhost}"
  export MCP_ALLOWED_ORIGINS="${MCP_ALLOWED_ORIGINS:-http://127.0.0.1:$port,http://localhost:$port}"

  : >"$logdir/lambda.log"
  : >"$logdir/gateway.log"
  # --disable-cors: API Gateway adds no CORS headers unless configured, so neither do we.
  # cargo lambda starts each function on its first request (`cargo run --bin <name>`, in a
  # process group of its own) and stops them when it gets SIGTERM/SIGINT. Like Lambda, it runs
  # more instances of a function when requests overlap (--concurrency), so races between
  # instances (two first calls of one user, ...) happen here as they would in AWS.
  local path="$PATH"
  if [[ "${STACK_PREBUILT:-0}" == 1 ]]; then
    DOTM_REAL_CARGO="$(command -v cargo)"
    export DOTM_REAL_CARGO
    path="$ROOT/infra/scripts/prebuilt:$PATH"
  fi
  PATH="$path" _spawn "$logdir/lambda.log" "$VENV/bin/cargo-lambda" lambda watch \
    "$@" --disable-cors --quiet --concurrency "${LAMBDA_CONCURRENCY:-10}" \
    --invoke-address 127.0.0.1 --invoke-port "$lambda_port" \
    --manifest-path "$ROOT/Cargo.toml"
  STACK_PGIDS+=("$SPAWNED")
  # Lambda's SQS event source mappings (the template's `Type: SQS` events) feed their functions
  # through cargo lambda's invoke API (providers.sh; stopped by providers_stop).
  event_source_start "$lambda_port" "$logdir"
  _spawn "$logdir/gateway.log" "$VENV/bin/python" -u "$ROOT/infra/gateway.py" \
    --template "$ROOT/template.yaml" --port "$port" --lambda-port "$lambda_port"
  STACK_PGIDS+=("$SPAWNED")
}

stack_wait_healthy() {
  local port="$1" timeout="$2" logdir="${3:-}"
  "$VENV/bin/python" - "$port" "$timeout" <<'PY' || {
import sys, time, urllib.request, urllib.error
port, timeout = sys.argv[1], float(sys.argv[2])
url = f"http://127.0.0.1:{port}/api/health"
deadline = time.monotonic() + timeout
last = "no answer"
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            if r.status == 200:
                sys.exit(0)
            last = f"HTTP {r.status}"
    except urllib.error.HTTPError as e:
        last = f"HTTP {e.code}: {e.read()[:200]!r}"
    except OSError as e:
        last = str(e)
    time.sleep(0.3)
print(f"GET {url}: {last}", file=sys.stderr)
sys.exit(1)
PY
    if [[ -n "$logdir" ]]; then
      log "--- $logdir/lambda.log (tail)"; tail -n 40 "$logdir/lambda.log" >&2 || true
      log "--- $logdir/gateway.log (tail)"; tail -n 20 "$logdir/gateway.log" >&2 || true
    fi
    return 1
  }
}

# True while the functions, the gateway and the providers all have a live process.
stack_alive() {
  local pg
  for pg in "${STACK_PGIDS[@]}" "${PROVIDERS_PGIDS[@]}"; do
    _group_alive "$pg" || return 1
  done
}

stack_stop() {
  local pg groups=()
  # The function processes that cargo lambda started live in process groups of their own:
  # note them first, so they go too even if cargo lambda cannot stop them itself.
  for pg in "${STACK_PGIDS[@]}"; do
    groups+=("$pg")
    while read -r child; do [[ -n "$child" ]] && groups+=("$child"); done \
      < <(ps -o pgid= --ppid "$pg" 2>/dev/null | tr -d ' ' | sort -u)
  done
  for pg in "${groups[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  for pg in "${groups[@]}"; do
    for _ in $(seq 50); do _group_alive "$pg" || break; sleep 0.1; done
    kill -KILL -- "-$pg" 2>/dev/null || true
  done
  for pg in "${STACK_PGIDS[@]}"; do wait "$pg" 2>/dev/null || true; done
  STACK_PGIDS=()
  # The providers last: a function may still be talking to them while it stops.
  providers_stop
}
