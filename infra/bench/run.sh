#!/usr/bin/env bash
# `make bench`: DOTM against what people would pick instead, written up with plots.
#
#   1. installs what it needs: .venv and node_modules (infra/scripts/bootstrap.sh), the peer's
#      venv (.local/bench/venv: infra/bench/requirements.txt, the official Python MCP SDK) and
#      the load generator (.local/bench/npm: infra/bench/package.json, autocannon)
#   2. release builds (nice -n 19, $CARGO_TARGET_DIR): each function as `sam build` does it
#      (`cargo lambda build --release --bin <name>`, AWS_LC_SYS_NO_JITTER_ENTROPY=1 as
#      infra/scripts/build.sh), and functions/mcp/examples/bench.rs the same way; zips as
#      `sam deploy` makes them
#   3. a stack on its own ports (the release functions under cargo lambda, moto, the provider
#      sandbox, anvil, the SQS event source, the gateway), with the production licence (100 an
#      hour), for: MCP serving (infra/bench/mcp_bench.py), cold starts (cold_start.py), payment
#      -> active (pipeline.py latency); peak RSS of every function instance at the end
#   4. the drain of a backlog at a scaled licence (pipeline.py drain): on a second stack with the
#      licence scaled down (the whole system; a backlog as large as the AWS emulator, moto, can
#      carry in minutes), and the issue's 10,000 in one process (the worker's own code on the
#      in-memory ports: functions/mcp/examples/bench.rs `drain`)
#   5. docs/benchmarks/README.md and its SVG plots (report.py), and the summary printed
#
# Settings (defaults are the issue's; BENCH_QUICK=1 makes a quick run for development, which
# writes its report to .local/bench/report/ unless BENCH_REPORT_DIR says otherwise):
#   BENCH_MCP_REQUESTS (5000)      requests per (server, tool, concurrency), after
#   BENCH_MCP_WARMUP (300)         uncounted ones
#   BENCH_MCP_CONCURRENCY (1,8,64)
#   BENCH_COLD_RUNS (10)           cold starts per function and for the peer
#   BENCH_ACTIVATIONS (50)         payment -> active samples (under the limit)
#   BENCH_DRAIN_COUNT (10000)      activations in the in-process backlog, at
#   BENCH_DRAIN_LIMIT (100) / BENCH_DRAIN_WINDOW (2)   100 per 2 s: the production 100 an hour,
#                                  1,800 times faster
#   BENCH_STACK_DRAIN_COUNT (300)  activations in the backlog on the stack, at
#   BENCH_STACK_DRAIN_LIMIT (20) / BENCH_STACK_DRAIN_WINDOW (10)   as `make chaos`: a permit must be
#                                  confirmed within 1/40 of the window (250 ms here), and the AWS
#                                  emulator answers one request at a time (at 4 s, 100 ms, it
#                                  could not keep up with a backlog of 300)
#   BENCH_LAMBDA_CONCURRENCY (10)  instances per function cargo lambda may run (Lambda's scaling)
#   BENCH_BUILD=0                  skip the builds (use what is in $CARGO_TARGET_DIR)
#   BENCH_PORT (3200) gateway, BENCH_LAMBDA_PORT (3201), BENCH_SANDBOX_PORT (3202),
#   BENCH_MOTO_PORT (3203), BENCH_CHAIN_PORT (3204), BENCH_DIRECT_PORT (3220) the router served
#   directly, BENCH_PEER_PORT (3230) the peer, BENCH_RUNTIME_PORT (3240) the cold starts'
#   Runtime API (it takes 3240-3247 in turn), BENCH_PEER_COLD_PORT (3248) the peer's cold starts
#   BENCH_PUBLIC_RATE_LIMIT_EXEMPT (127.0.0.1) not rate limited: the load generator
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
source "$ROOT/infra/scripts/stack.sh"
cd "$ROOT"

# This shell only waits and passes signals on (run_supervised, lib.sh); a second run.sh in a
# session of its own does the work, so that INT, TERM or HUP stops the benchmark at once, even in
# the middle of a measurement (bash runs a trap only once the command in the foreground returns).
if [[ "${_DOTM_BENCH_WORKER:-}" != 1 ]]; then
  run_supervised env _DOTM_BENCH_WORKER=1 "$ROOT/infra/bench/run.sh" "$@"
fi
unset _DOTM_BENCH_WORKER

QUICK="${BENCH_QUICK:-0}"
if [[ "$QUICK" == 1 ]]; then
  : "${BENCH_MCP_REQUESTS:=1000}" "${BENCH_MCP_WARMUP:=100}" "${BENCH_COLD_RUNS:=3}"
  : "${BENCH_ACTIVATIONS:=10}" "${BENCH_DRAIN_COUNT:=2000}" "${BENCH_STACK_DRAIN_COUNT:=60}"
  : "${BENCH_REPORT_DIR:=$ROOT/.local/bench/report}"
fi
export BENCH_MCP_REQUESTS="${BENCH_MCP_REQUESTS:-5000}"
export BENCH_MCP_WARMUP="${BENCH_MCP_WARMUP:-300}"
export BENCH_MCP_CONCURRENCY="${BENCH_MCP_CONCURRENCY:-1,8,64}"
export BENCH_COLD_RUNS="${BENCH_COLD_RUNS:-10}"
export BENCH_ACTIVATIONS="${BENCH_ACTIVATIONS:-50}"
BENCH_DRAIN_COUNT="${BENCH_DRAIN_COUNT:-10000}"
BENCH_DRAIN_LIMIT="${BENCH_DRAIN_LIMIT:-100}"
BENCH_DRAIN_WINDOW="${BENCH_DRAIN_WINDOW:-2}"
BENCH_STACK_DRAIN_COUNT="${BENCH_STACK_DRAIN_COUNT:-300}"
BENCH_STACK_DRAIN_LIMIT="${BENCH_STACK_DRAIN_LIMIT:-20}"
BENCH_STACK_DRAIN_WINDOW="${BENCH_STACK_DRAIN_WINDOW:-10}"
REPORT_DIR="${BENCH_REPORT_DIR:-$ROOT/docs/benchmarks}"
export LAMBDA_CONCURRENCY="${BENCH_LAMBDA_CONCURRENCY:-10}"

PORT="${BENCH_PORT:-3200}"
LAMBDA_PORT="${BENCH_LAMBDA_PORT:-3201}"
SANDBOX_PORT="${BENCH_SANDBOX_PORT:-3202}"
MOTO_PORT="${BENCH_MOTO_PORT:-3203}"
export CHAIN_PORT="${BENCH_CHAIN_PORT:-3204}"
DIRECT_PORT="${BENCH_DIRECT_PORT:-3220}"
PEER_PORT="${BENCH_PEER_PORT:-3230}"
RUNTIME_PORT="${BENCH_RUNTIME_PORT:-3240}"
PEER_COLD_PORT="${BENCH_PEER_COLD_PORT:-3248}"

WORK="$ROOT/.local/bench"
RESULTS="$WORK/results"
mkdir -p "$WORK" "$RESULTS"
rm -f "$RESULTS"/*.json
t0=$SECONDS
step() { log "== $* ($((SECONDS - t0)) s)"; }

# --- 1. what the benchmark needs -------------------------------------------------------------
step "bootstrap"
"$ROOT/infra/scripts/bootstrap.sh"
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
peer_key="$(hash_of infra/bench/requirements.txt) $(python3 -c 'import sys; print(sys.version)' | head -n1)"
if [[ ! -x "$WORK/venv/bin/python" || "$(cat "$WORK/venv/.dotm-bench" 2>/dev/null)" != "$peer_key" ]]; then
  log "the peer's venv: infra/bench/requirements.txt into .local/bench/venv"
  rm -rf "$WORK/venv"
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r infra/bench/requirements.txt
  printf '%s' "$peer_key" >"$WORK/venv/.dotm-bench"
fi
npm_key="$(hash_of infra/bench/package.json infra/bench/package-lock.json)"
if [[ "$(cat "$WORK/npm/.dotm-bench" 2>/dev/null)" != "$npm_key" ]]; then
  log "the load generator: npm ci of infra/bench/package.json into .local/bench/npm (autocannon)"
  rm -rf "$WORK/npm"
  mkdir -p "$WORK/npm"
  cp infra/bench/package.json infra/bench/package-lock.json "$WORK/npm/"
  (cd "$WORK/npm" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  printf '%s' "$npm_key" >"$WORK/npm/.dotm-bench"
fi
NODE="$ROOT/node_modules/.bin/node"

# --- 2. release builds -------------------------------------------------------------------------
FUNCTIONS=(mcp api stripe-webhook activation-worker reward-minter)
if [[ "${BENCH_BUILD:-1}" == 1 ]]; then
  export AWS_LC_SYS_NO_JITTER_ENTROPY=1
  for f in "${FUNCTIONS[@]}"; do
    step "release build: cargo lambda build --release --bin $f"
    nice -n 19 cargo-lambda lambda build --release --bin "$f" --quiet
  done
  # The same way (cargo lambda's target and flags), so the router served directly is the same
  # machine code as the function's.
  step "release build: functions/mcp/examples/bench.rs"
  nice -n 19 cargo-lambda lambda build --release -p mcp --example bench --quiet
fi
BENCH_BIN="$CARGO_TARGET_DIR/lambda/bench/bootstrap"
for f in "${FUNCTIONS[@]}"; do
  [[ -x "$CARGO_TARGET_DIR/lambda/$f/bootstrap" ]] || die "no release build of $f (BENCH_BUILD=1)"
done
[[ -x "$BENCH_BIN" ]] || die "no release build of the bench example (BENCH_BUILD=1)"
"$VENV/bin/python" infra/bench/footprint.py --lambda-dir "$CARGO_TARGET_DIR/lambda" \
  --zips "$WORK/zips" --out "$RESULTS/footprint.json" "${FUNCTIONS[@]}"

# --- 3. the stack, with the release functions --------------------------------------------------
# cargo lambda starts each instance with `cargo run --bin <name>`; infra/bench/release-bin/cargo
# makes that the release bootstrap. --ignore-changes: no rebuild or restart during the run.
DOTM_REAL_CARGO="$(command -v cargo)"
export DOTM_REAL_CARGO
export PATH="$ROOT/infra/bench/release-bin:$PATH"
export DOTM_BASE_URL="http://127.0.0.1:$PORT"

start_stack() {
  local logdir="$1"
  rm -rf "$logdir"
  export DOTM_STACK_LOGDIR="$logdir"
  trap 'stack_stop' EXIT
  exit_on_signals
  stack_start "$PORT" "$LAMBDA_PORT" "$SANDBOX_PORT" "$MOTO_PORT" "$logdir" --ignore-changes
  stack_wait_healthy "$PORT" 180 "$logdir" || die "the benchmark's stack did not become healthy"
}

function_rss() {  # peak RSS of every running instance of the functions -> $1
  "$VENV/bin/python" infra/bench/footprint.py --rss "$1" --lambda-dir "$CARGO_TARGET_DIR/lambda" \
    "${FUNCTIONS[@]}"
}

# The public rate limit (100 a minute per client, counted in the table) holds for everyone but
# 127.0.0.1, the benchmark's own load, as in the test stack: the peer has no limit, and counting
# 100,000 calls in the AWS emulator would measure the emulator.
export PUBLIC_RATE_LIMIT_EXEMPT="${BENCH_PUBLIC_RATE_LIMIT_EXEMPT:-127.0.0.1}"
export ACTIVATIONS_PER_WINDOW=100 ACTIVATION_WINDOW_SECONDS=3600
step "stack (gateway :$PORT, functions :$LAMBDA_PORT, sandbox :$SANDBOX_PORT, moto :$MOTO_PORT, anvil :$CHAIN_PORT; 100 activations an hour)"
start_stack "$WORK/stack"

step "MCP serving: cargo lambda vs the router served directly vs the Python SDK"
"$VENV/bin/python" infra/bench/mcp_bench.py \
  --lambda-url "http://127.0.0.1:$LAMBDA_PORT/lambda-url/mcp/mcp" \
  --direct-bin "$BENCH_BIN" --direct-port "$DIRECT_PORT" --peer-port "$PEER_PORT" \
  --peer-python "$WORK/venv/bin/python" --node "$NODE" --workdir "$WORK" --out "$RESULTS/mcp.json"

step "cold starts: each release bootstrap against an emulated Runtime API, and the peer"
"$BENCH_BIN" serve "127.0.0.1:$DIRECT_PORT" >/dev/null 2>"$WORK/direct-cold.log" &
catalog_pid=$!
"$VENV/bin/python" infra/bench/cold_start.py --out "$RESULTS/cold.json" --port "$RUNTIME_PORT" \
  --peer-port "$PEER_COLD_PORT" --peer-python "$WORK/venv/bin/python" \
  --catalog-url "http://127.0.0.1:$DIRECT_PORT/mcp/api" --lambda-dir "$CARGO_TARGET_DIR/lambda" \
  --log "$WORK/cold_start.log"
kill "$catalog_pid" 2>/dev/null || true
wait "$catalog_pid" 2>/dev/null || true

step "payment -> active, $BENCH_ACTIVATIONS activations under the limit"
"$VENV/bin/python" infra/bench/pipeline.py latency --out "$RESULTS/latency.json" \
  --workdir "$WORK"
function_rss "$RESULTS/rss-stack.json"
stack_stop

# --- 4. the drain --------------------------------------------------------------------------------
export ACTIVATIONS_PER_WINDOW="$BENCH_STACK_DRAIN_LIMIT" ACTIVATION_WINDOW_SECONDS="$BENCH_STACK_DRAIN_WINDOW"
step "stack for the drain: $BENCH_STACK_DRAIN_LIMIT activations per $BENCH_STACK_DRAIN_WINDOW s"
start_stack "$WORK/stack-drain"
step "drain on the stack: $BENCH_STACK_DRAIN_COUNT queued activations"
"$VENV/bin/python" infra/bench/pipeline.py drain --out "$RESULTS/drain-stack.json" \
  --count "$BENCH_STACK_DRAIN_COUNT" --limit "$BENCH_STACK_DRAIN_LIMIT" \
  --window "$BENCH_STACK_DRAIN_WINDOW" --bench-bin "$BENCH_BIN" --workdir "$WORK"
function_rss "$RESULTS/rss-drain.json"
stack_stop
trap - EXIT
step "drain in one process: $BENCH_DRAIN_COUNT queued activations, $BENCH_DRAIN_LIMIT per $BENCH_DRAIN_WINDOW s"
"$VENV/bin/python" infra/bench/pipeline.py drain --in-process --out "$RESULTS/drain.json" \
  --count "$BENCH_DRAIN_COUNT" --limit "$BENCH_DRAIN_LIMIT" --window "$BENCH_DRAIN_WINDOW" \
  --bench-bin "$BENCH_BIN" --workdir "$WORK"

# --- 5. the report ---------------------------------------------------------------------------------
step "report: $REPORT_DIR"
"$VENV/bin/python" infra/bench/report.py --results "$RESULTS" --out "$REPORT_DIR" \
  --seconds "$((SECONDS - t0))" --quick "$QUICK"
