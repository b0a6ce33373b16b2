#!/usr/bin/env bash
# `make redrive [PURCHASE=<id>]`: puts the jobs parked on the activation dead-letter queue back
# in line (functions/activation-worker/src/bin/redrive.rs). Against the `make up` stack when no
# TABLE_NAME is set (its settings in .local/up/stack.env); against AWS with the shell's
# credentials and TABLE_NAME, ACTIVATION_QUEUE_URL, ACTIVATION_DLQ_URL set (the stack outputs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
if [[ -z "${TABLE_NAME:-}" ]]; then
  env_file="${UP_LOGDIR:-$ROOT/.local/up}/stack.env"
  [[ -f "$env_file" ]] || die "no TABLE_NAME set and no local stack ($env_file): start \`make up\` or set the stack's outputs"
  # shellcheck disable=SC1090
  source "$env_file"
fi
args=()
if [[ -n "${PURCHASE:-}" ]]; then args=(--purchase "$PURCHASE"); fi
exec cargo run --quiet -p activation-worker --bin redrive -- "${args[@]}"
