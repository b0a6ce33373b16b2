#!/usr/bin/env bash
# `make test` / CI: static checks, Rust tests, then the end-to-end tests against a stack of its
# own on other ports than `make up` (so both can run at once):
#   TEST_PORT (3100)          gateway
#   TEST_LAMBDA_PORT (9100)   cargo lambda watch
#   TEST_SANDBOX_PORT (3101)  provider sandbox
#   TEST_MOTO_PORT (5100)     AWS emulator (moto)
#   TEST_CHAIN_PORT (8645)    chain (anvil; `make up` uses 8545)
#   TEST_PYTEST_ARGS (tests/) what pytest runs, e.g. "tests/test_in_chat.py -x" while working
#   TEST_LOGDIR (.local/test) the stack's logs
#   TEST_E2E_ONLY (0)         1: skip the static checks and the Rust tests (`make chaos`)
# and with test-only settings that the functions and pytest inherit (the throttle window scaled
# down, SQS delays capped so that a long wait is re-sent many times):
#   TEST_ACTIVATIONS_PER_WINDOW (5)        -> ACTIVATIONS_PER_WINDOW
#   TEST_ACTIVATION_WINDOW_SECONDS (10)    -> ACTIVATION_WINDOW_SECONDS
#   TEST_ACTIVATION_MAX_DELAY_SECONDS (2)  -> ACTIVATION_MAX_DELAY_SECONDS
# Leaves no process behind, on any exit and on INT, TERM or HUP at any step (each part runs in its
# own process group, stopped on exit).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$ROOT/infra/scripts/stack.sh"
cd "$ROOT"

# This shell only waits and passes signals on (run_supervised, lib.sh); a second test.sh in a
# session of its own does the work, so that INT, TERM or HUP stops it at once, even in the middle
# of pytest or a cargo step (bash runs a trap only once the command in the foreground returns).
if [[ "${_DOTM_TEST_WORKER:-}" != 1 ]]; then
  run_supervised env _DOTM_TEST_WORKER=1 "$ROOT/infra/scripts/test.sh" "$@"
fi
unset _DOTM_TEST_WORKER
# The end-to-end tests need the sandbox's providers and their own anvil (hooks, faults, call
# logs): other providers named in the environment (README, "Providers elsewhere") are for
# `make up` only.
unset CARRIER_API_BASE CARRIER_LINE_SERVICES OXIO_API_KEY OXIO_AUTH_TOKEN OXIO_BRAND_ID \
  OXIO_ESIM_PLAN_ID OXIO_BETA_PLAN_ID OXIO_BOOSTER_PLAN_ID STRIPE_API_BASE STRIPE_SECRET_KEY \
  STRIPE_WEBHOOK_SECRET MAIL_API_BASE RESEND_API_KEY MAIL_FROM CHAIN_RPC_URL CHAIN_ID \
  DOTM_TOKEN_ADDRESS DOTM_MINTER_PRIVATE_KEY CHAIN_RECEIPT_WAIT_SECS CHAIN_CONFIRMATIONS \
  CHAIN_MAX_FEE_GWEI

TEST_PORT="${TEST_PORT:-3100}"
TEST_LAMBDA_PORT="${TEST_LAMBDA_PORT:-9100}"
TEST_SANDBOX_PORT="${TEST_SANDBOX_PORT:-3101}"
TEST_MOTO_PORT="${TEST_MOTO_PORT:-5100}"
export CHAIN_PORT="${TEST_CHAIN_PORT:-8645}"
export ACTIVATIONS_PER_WINDOW="${TEST_ACTIVATIONS_PER_WINDOW:-5}"
export ACTIVATION_WINDOW_SECONDS="${TEST_ACTIVATION_WINDOW_SECONDS:-10}"
export ACTIVATION_MAX_DELAY_SECONDS="${TEST_ACTIVATION_MAX_DELAY_SECONDS:-2}"
# The carrier is asked for a line's usage at most once per this many seconds (60 in production).
export USAGE_REFRESH_SECONDS="${TEST_USAGE_REFRESH_SECONDS:-2}"
# The public rate limit (100 a minute per client) holds for everyone but 127.0.0.1: the suite's
# own traffic. tests/test_rate_limit.py calls from other loopback addresses (127.0.0.2, ...).
export PUBLIC_RATE_LIMIT_EXEMPT="${TEST_PUBLIC_RATE_LIMIT_EXEMPT:-127.0.0.1}"
LOGDIR="${TEST_LOGDIR:-$ROOT/.local/test}"

step() { log "== $*"; }
t0=$SECONDS

step "bootstrap"
"$ROOT/infra/scripts/bootstrap.sh"

if [[ "${TEST_E2E_ONLY:-0}" != 1 ]]; then
  step "template: cfn-lint, sam validate --lint"
  # Both work offline; sam wants a region (any) and no credentials for --lint.
  export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
  export SAM_CLI_TELEMETRY=0
  cfn-lint template.yaml
  sam validate --lint --template template.yaml

  step "module cycles in shared/src and dotm-domain/src (infra/tools/module_cycles.py)"
  # The crate's layers point inward only; a cycle between its modules means one does not.
  python3 "$ROOT/infra/tools/module_cycles.py" "$ROOT/shared/src"
  python3 "$ROOT/infra/tools/module_cycles.py" "$ROOT/dotm-domain/src"
  step "layers: the domain crate reaches no adapter (infra/tools/layers.py, cargo metadata)"
  python3 "$ROOT/infra/tools/layers.py"

  step "ruff check tests infra (ruff.toml)"
  "$VENV/bin/ruff" check --quiet tests infra

  step "cargo fmt --all -- --check"
  cargo fmt --all -- --check
  step "cargo clippy --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets -- -D warnings
  step "cargo test --workspace"
  cargo test --workspace
fi
step "cargo build --workspace --bins"
cargo build --workspace --bins

step "start the test stack (gateway :$TEST_PORT, functions :$TEST_LAMBDA_PORT, sandbox :$TEST_SANDBOX_PORT, moto :$TEST_MOTO_PORT, anvil :$CHAIN_PORT; $ACTIVATIONS_PER_WINDOW activations per ${ACTIVATION_WINDOW_SECONDS}s, delays <= ${ACTIVATION_MAX_DELAY_SECONDS}s)"
trap 'stack_stop' EXIT
exit_on_signals
# --ignore-changes: a stack under test must not rebuild and restart mid-run; its function
# instances run the binaries just built (STACK_PREBUILT), not `cargo run`.
export STACK_PREBUILT=1
stack_start "$TEST_PORT" "$TEST_LAMBDA_PORT" "$TEST_SANDBOX_PORT" "$TEST_MOTO_PORT" "$LOGDIR" \
  --ignore-changes
stack_wait_healthy "$TEST_PORT" 180 "$LOGDIR" || die "the test stack did not become healthy"

if [[ "${TEST_E2E_ONLY:-0}" != 1 ]]; then
  step "port contracts of the DynamoDB and SQS adapters against moto ($AWS_ENDPOINT_URL)"
  # The same contracts the in-memory adapters pass in `cargo test`, here against the emulator,
  # each in a table and queues of its own.
  # --workspace: the same feature set as the `cargo test` above, so nothing is rebuilt.
  cargo test --workspace --test contracts -- --ignored
fi

step "pytest tests/ against http://127.0.0.1:$TEST_PORT (sandbox $DOTM_SANDBOX_URL, moto $AWS_ENDPOINT_URL)"
status=0
# The tests read DOTM_SANDBOX_URL, STRIPE_WEBHOOK_SECRET, AWS_ENDPOINT_URL, TABLE_NAME, ... as
# exported by providers_start.
# DOTM_STACK_LOGDIR: tests that count deliveries in the stack's logs (lambda.log, ...).
DOTM_BASE_URL="http://127.0.0.1:$TEST_PORT" DOTM_STACK_LOGDIR="$LOGDIR" \
  "$VENV/bin/pytest" -q ${TEST_PYTEST_ARGS:-tests/} || status=$?
if [[ $status -ne 0 ]]; then
  log "pytest failed ($status); stack logs in $LOGDIR:"
  tail -n 30 "$LOGDIR/lambda.log" >&2 || true
  tail -n 10 "$LOGDIR/sandbox.log" >&2 || true
  exit "$status"
fi
stack_stop
log "all checks passed in $((SECONDS - t0))s"
