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
#   stack_wait_healthy PORT SECONDS       wait until GET /api/health answers 200 (a trapped
#                                         signal interrupts the wait at once)
#   stack_alive                           true while every part of the stack runs
#   stack_stop                            stop every process of the stack and wait for them
#                                         (idempotent; signals are ignored while it runs, so a
#                                         second Ctrl-C cannot leave half of the stack running):
#                                         TERM to the functions (cargo lambda and the process
#                                         group of every instance it started), the gateway and
#                                         the event source at once, then the providers
#                                         (providers_stop), then to whatever else still carries
#                                         this stack's DOTM_STACK_ID in its environment (a
#                                         process whose parent died first); KILL after
#                                         STACK_STOP_GRACE (5) seconds.
#   Every process the stack starts inherits DOTM_STACK_ID (exported by stack_start), so that
#   stack_stop finds it even outside the process trees it knows.
# shellcheck shell=bash

source "$ROOT/infra/scripts/providers.sh"

STACK_PGIDS=()
STACK_EVENT_SOURCE_PGID=""
STACK_WAITER=""

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

# The process groups among PGID... that still have a member that is not a zombie, one a line.
_groups_alive() {
  ps -e -o pgid=,stat= | awk -v want="$*" '
    BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) g[w[i]] = 1 }
    $2 !~ /^Z/ && ($1 in g) && !seen[$1]++ { print $1 }'
}

# The process groups of PID... and of all their descendants, one a line (cargo lambda starts
# each function instance in a session of its own: a child of cargo lambda, not in its group).
_tree_groups() {
  (( $# )) || return 0
  ps -e -o pid=,ppid=,pgid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) tree[r[i]] = 1 }
    { parent[$1] = $2; group[$1] = $3 }
    END {
      do {
        grew = 0
        for (p in parent) if (!(p in tree) && (parent[p] in tree)) { tree[p] = 1; grew = 1 }
      } while (grew)
      for (p in tree) if (p in group) print group[p]
    }' | sort -un
}

# The process groups of the processes that carry this stack's DOTM_STACK_ID, except this
# shell's own group (this shell, and what it runs in the foreground, carries it too).
_marked_groups() {
  [[ -n "${DOTM_STACK_ID:-}" ]] || return 0
  local own pids
  own="$(ps -o pgid= -p $$ | tr -d ' ')"
  mapfile -t pids < <(grep -slzxF "DOTM_STACK_ID=$DOTM_STACK_ID" /proc/[0-9]*/environ \
    | cut -d/ -f3)
  (( ${#pids[@]} )) || return 0
  ps -o pgid= -p "$(IFS=,; echo "${pids[*]}")" | tr -d ' ' | sort -un | { grep -vx "$own" || true; }
}

# TERM to every process group PGID..., wait until none has a live member; KILL what is left
# after GRACE seconds.
_stop_groups() {
  local grace="$1" pg alive=()
  shift
  (( $# )) || return 0
  for pg in "$@"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  local deadline=$((SECONDS + grace + 1))
  while :; do
    mapfile -t alive < <(_groups_alive "$@")
    (( ${#alive[@]} )) || return 0
    (( SECONDS < deadline )) || break
    sleep 0.1
  done
  log "still running ${grace}s after SIGTERM, so SIGKILL:" \
    "$(ps -e -o pgid=,pid=,args= | awk -v want="${alive[*]}" '
         BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) g[w[i]] = 1 }
         $1 in g { $1 = ""; print substr($0, 2, 100) }' | paste -sd ';' -)"
  for pg in "${alive[@]}"; do kill -KILL -- "-$pg" 2>/dev/null || true; done
  for _ in $(seq 50); do
    mapfile -t alive < <(_groups_alive "${alive[@]}")
    (( ${#alive[@]} )) || return 0
    sleep 0.1
  done
  log "warning: process groups ${alive[*]} survive SIGKILL"
}

stack_start() {
  local port="$1" lambda_port="$2" sandbox_port="$3" moto_port="$4" logdir="$5"
  shift 5
  mkdir -p "$logdir"
  # Inherited by every process of the stack (stack_stop).
  DOTM_STACK_ID="$$.$(date +%s%N)"
  export DOTM_STACK_ID
  for p in "$port" "$lambda_port"; do
    port_free "$p" || die "port $p on 127.0.0.1 is in use (is another stack running? set PORT / LAMBDA_PORT)"
  done

  # Providers first: the functions inherit what they export (endpoints, table, queue, secrets).
  # Stripe delivers its webhooks through the gateway, as it would through API Gateway.
  providers_start "$sandbox_port" "$moto_port" "http://127.0.0.1:$port/webhooks/stripe" "$logdir" \
    || die "the providers (moto, sandbox) did not start; logs in $logdir"

  # The webhook endpoint, as a deployment registers it (README, Deploy): for exactly the events
  # the webhook handles (the ops crate's stripe-setup; built here unless already built).
  stack_register_webhook "$port" "$logdir" || die "the Stripe webhook endpoint was not registered; see $logdir/stripe_setup.log"

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
  STACK_EVENT_SOURCE_PGID="${PROVIDERS_PGIDS[-1]}"  # stopped with the functions it feeds
  _spawn "$logdir/gateway.log" "$VENV/bin/python" -u "$ROOT/infra/gateway.py" \
    --template "$ROOT/template.yaml" --port "$port" --lambda-port "$lambda_port"
  STACK_PGIDS+=("$SPAWNED")
}

stack_register_webhook() {
  local port="$1" logdir="$2"
  if [[ -n "${PROVIDERS_STRIPE:-}" ]]; then
    # Stripe cannot deliver to this machine's loopback address: `stripe listen` forwards.
    log "stripe: no webhook endpoint registered at $STRIPE_API_BASE for a local stack; forward events with \`stripe listen --forward-to http://127.0.0.1:$port/webhooks/stripe\` (its whsec_ is STRIPE_WEBHOOK_SECRET)"
    return 0
  fi
  # --workspace: the features `make test`'s `cargo build --workspace --bins` resolved, so a
  # prebuilt stack rebuilds nothing.
  if [[ "${STACK_PREBUILT:-0}" != 1 || ! -x "$CARGO_TARGET_DIR/debug/stripe-setup" ]]; then
    cargo build --quiet --workspace --bin stripe-setup >"$logdir/stripe_setup.log" 2>&1 \
      || return 1
  else
    : >"$logdir/stripe_setup.log"
  fi
  # The sandbox signs with the stack's STRIPE_WEBHOOK_SECRET already: the new endpoint's secret
  # is not needed here, and goes to no log.
  local said
  said="$("$CARGO_TARGET_DIR/debug/stripe-setup" --url "http://127.0.0.1:$port/webhooks/stripe" \
    --secret-to /dev/null 2>&1)" || {
    printf '%s\n' "$said" >>"$logdir/stripe_setup.log"
    return 1
  }
  log "stripe: $(head -n 1 <<<"$said")"
}

stack_wait_healthy() {
  local port="$1" timeout="$2" logdir="${3:-}" status=0
  # In the background, so that a trapped signal does not wait for it (stack_stop ends it).
  "$VENV/bin/python" - "$port" "$timeout" <<'PY' &
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
  STACK_WAITER=$!
  wait "$STACK_WAITER" || status=$?
  STACK_WAITER=""
  if (( status != 0 )); then
    if [[ -n "$logdir" ]]; then
      log "--- $logdir/lambda.log (tail)"; tail -n 40 "$logdir/lambda.log" >&2 || true
      log "--- $logdir/gateway.log (tail)"; tail -n 20 "$logdir/gateway.log" >&2 || true
    fi
    return 1
  fi
}

# True while the functions, the gateway and the providers all have a live process.
stack_alive() {
  local pg
  for pg in "${STACK_PGIDS[@]}" "${PROVIDERS_PGIDS[@]}"; do
    _group_alive "$pg" || return 1
  done
}

stack_stop() {
  local saved errexit=0 groups=()
  saved="$(trap -p INT TERM HUP)"
  trap '' INT TERM HUP
  # Every step, even if one fails (stack_stop often runs from an EXIT trap under `set -e`).
  [[ $- == *e* ]] && errexit=1
  set +e
  # (No `wait` in here: bash can block in it for good when the signal that brought us here
  # interrupted a `wait` for the same child; _stop_groups polls instead.)
  if [[ -n "$STACK_WAITER" ]]; then
    kill -TERM "$STACK_WAITER" 2>/dev/null || true
    STACK_WAITER=""
  fi
  # The functions first (with every instance cargo lambda started, in sessions of their own),
  # the gateway and the event source that invokes them, all at once.
  mapfile -t groups < <(_tree_groups "${STACK_PGIDS[@]}")
  [[ -n "$STACK_EVENT_SOURCE_PGID" ]] && groups+=("$STACK_EVENT_SOURCE_PGID")
  _stop_groups "${STACK_STOP_GRACE:-5}" "${groups[@]}"
  STACK_PGIDS=()
  STACK_EVENT_SOURCE_PGID=""
  # The providers last: a function may still be talking to them while it stops.
  providers_stop
  # Whatever else is left: a process whose parent exited before it (an instance that cargo
  # lambda started while it stopped, ...).
  mapfile -t groups < <(_marked_groups)
  _stop_groups "${STACK_STOP_GRACE:-5}" "${groups[@]}"
  trap - INT TERM HUP
  eval "$saved"
  (( errexit )) && set -e
  return 0
}
