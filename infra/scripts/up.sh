#!/usr/bin/env bash
# `make up`: the local stack in the foreground until Ctrl-C.
#   PORT (3000)          gateway: every function under the template's paths
#   LAMBDA_PORT (9000)   cargo lambda watch (function URLs: /lambda-url/<binary>/...)
#   SANDBOX_PORT (3001)  provider sandbox (Stripe, Firebase; test endpoints under /__sandbox/)
#   MOTO_PORT (5000)     AWS emulator (moto: DynamoDB, SQS, Secrets Manager)
#   CHAIN_PORT (8545)    chain (anvil with the DOTM token deployed)
#   UP_LOGDIR (.local/up) the stack's logs
# Ctrl-C (INT), a closed terminal (HUP) or a supervisor's TERM (make passes TERM on to this
# script) stops every process of the stack, each service's whole process tree, and exits 130,
# 129 or 143 (at any point: while building, starting or running); so does the loss of this
# script's parent shell while the stack runs (say, `kill -KILL` of make's process group).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$ROOT/infra/scripts/stack.sh"
cd "$ROOT"

# This shell only waits and passes signals on (run_supervised, lib.sh); a second up.sh in a
# session of its own does the work, so that a signal stops it even in the middle of a long step.
if [[ "${_DOTM_UP_WORKER:-}" != 1 ]]; then
  run_supervised env _DOTM_UP_WORKER=1 "$ROOT/infra/scripts/up.sh" "$@"
fi
unset _DOTM_UP_WORKER
supervisor_pid="$PPID"

tail_pid=""
on_exit() {
  set +e  # every step, even if one fails (the tail may have gone with the signal already)
  [[ -n "$tail_pid" ]] && kill "$tail_pid" 2>/dev/null
  stack_stop
}
trap on_exit EXIT
exit_on_signals

PORT="${PORT:-3000}"
LAMBDA_PORT="${LAMBDA_PORT:-9000}"
SANDBOX_PORT="${SANDBOX_PORT:-3001}"
MOTO_PORT="${MOTO_PORT:-5000}"
LOGDIR="${UP_LOGDIR:-$ROOT/.local/up}"

"$ROOT/infra/scripts/bootstrap.sh"
log "cargo build --workspace --bins (target dir $CARGO_TARGET_DIR)"
cargo build --workspace --bins

# cargo lambda watch rebuilds and restarts a function when its Rust code changes (not for
# git, tests or scripts: infra/watch.ignore).
export CARGO_LAMBDA_IGNORE_FILE="$ROOT/infra/watch.ignore"
stack_start "$PORT" "$LAMBDA_PORT" "$SANDBOX_PORT" "$MOTO_PORT" "$LOGDIR"
log "waiting for http://127.0.0.1:$PORT/api/health ..."
stack_wait_healthy "$PORT" 180 "$LOGDIR" || die "the stack did not become healthy"

base="http://127.0.0.1:$PORT"
cat >&2 <<MSG

  DOTM local stack is up
    MCP server (add to an assistant) $base/mcp
    MCP catalog page (browser)       $base/mcp
    Catalog JSON                     $base/mcp/api
    API health                       $base/api/health
    Stripe webhook                   $base/webhooks/stripe
    OAuth server metadata            $base/.well-known/oauth-authorization-server
                                     (sign-in page: $OAUTH_SIGNIN_URL)
    functions (cargo lambda watch)   http://127.0.0.1:$LAMBDA_PORT/lambda-url/<function>/...
    provider sandbox                 $DOTM_SANDBOX_URL  (Stripe, Firebase; tests: /__sandbox/...)
    AWS emulator (moto)              $AWS_ENDPOINT_URL  (table $TABLE_NAME)
    chain (anvil)                    $CHAIN_RPC_URL, DOTM at $DOTM_TOKEN_ADDRESS
    logs                             tail -f $LOGDIR/*.log

  Ctrl-C stops everything.

MSG
tail -n 0 -F "$LOGDIR/gateway.log" "$LOGDIR/lambda.log" &
tail_pid=$!
# Wait until Ctrl-C (or until a part of the stack dies, or the supervising up.sh does).
while stack_alive; do
  kill -0 "$supervisor_pid" 2>/dev/null || die "the parent up.sh is gone; stopping the stack"
  sleep 1
done
die "a part of the stack exited; see $LOGDIR"
