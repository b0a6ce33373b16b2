# The local Ethereum chain for the DOTM token: anvil (npm @foundry-rs/anvil-linux-amd64, in
# node_modules) with the DOTM contract deployed from the committed artifact
# (infra/contracts/DOTM.json, by infra/chain/deploy.py). Sourced after lib.sh, like providers.sh.
#   chain_start PORT LOGDIR
#       starts anvil on 127.0.0.1:PORT (chain id 31337, automine, 2 dev accounts, log
#       LOGDIR/anvil.log; its own process group), waits until it answers eth_chainId, deploys
#       DOTM with anvil's first dev account as owner, makes a fresh random minter key (never
#       written to disk), funds it and grants it the minter role, and exports:
#         CHAIN_RPC_URL CHAIN_ID DOTM_TOKEN_ADDRESS DOTM_OWNER_ADDRESS DOTM_MINTER_ADDRESS
#         DOTM_MINTER_PRIVATE_KEY
#       (infra/aws_bootstrap.py puts DOTM_MINTER_PRIVATE_KEY into MinterSecret as
#       `minter_private_key`, so chain_start runs before it).
#       Returns non-zero (after showing the log's tail) if anvil or the deployment fails.
#       CHAIN_VERBOSE=1 keeps anvil's request log (default --quiet).
#   chain_stop    stop anvil (idempotent)
# Ports: `make up` 8545, `make test` 8645.
# shellcheck shell=bash

CHAIN_PGIDS=()

_chain_port_free() {
  "$VENV/bin/python" - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

chain_start() {
  local port="$1" logdir="$2" anvil="$ROOT/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
  local quiet=(--quiet) exports
  [[ "${CHAIN_VERBOSE:-0}" == 1 ]] && quiet=()
  mkdir -p "$logdir"
  [[ -x "$anvil" ]] || {
    log "error: $anvil is missing (run infra/scripts/bootstrap.sh)"
    return 1
  }
  _chain_port_free "$port" || {
    log "error: port $port on 127.0.0.1 is in use (another stack? set CHAIN_PORT)"
    return 1
  }
  : >"$logdir/anvil.log"
  setsid "$anvil" --host 127.0.0.1 --port "$port" --chain-id 31337 --accounts 2 "${quiet[@]}" \
    </dev/null >>"$logdir/anvil.log" 2>&1 &
  CHAIN_PGIDS+=("$!")
  exports="$("$VENV/bin/python" "$ROOT/infra/chain/deploy.py" \
    --rpc-url "http://127.0.0.1:$port" --chain-id 31337 --unlocked-deployer --new-minter \
    --wait 30 2>>"$logdir/anvil.log")" || {
    log "error: anvil did not start or DOTM did not deploy"
    log "--- $logdir/anvil.log (tail)"
    tail -n 20 "$logdir/anvil.log" >&2 || true
    return 1
  }
  eval "$exports"  # export CHAIN_RPC_URL=... DOTM_TOKEN_ADDRESS=... (shell-quoted by deploy.py)
  export CHAIN_RPC_URL CHAIN_ID DOTM_TOKEN_ADDRESS DOTM_OWNER_ADDRESS DOTM_MINTER_ADDRESS \
    DOTM_MINTER_PRIVATE_KEY
}

chain_stop() {
  local pg
  for pg in "${CHAIN_PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  for pg in "${CHAIN_PGIDS[@]}"; do
    for _ in $(seq 50); do
      ps -e -o pgid=,stat= | awk -v g="$pg" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }' \
        || break
      sleep 0.1
    done
    kill -KILL -- "-$pg" 2>/dev/null || true
    wait "$pg" 2>/dev/null || true
  done
  CHAIN_PGIDS=()
}
