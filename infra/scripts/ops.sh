#!/usr/bin/env bash
# `make stripe-setup` / `make preflight`: the ops crate's commands (ops/src/bin). Against the
# `make up` stack when the shell names no Stripe webhook URL (its settings and secret ids in
# .local/up/stack.env; the keys come from its Secrets Manager, as the functions read them);
# against a deployment with the shell's settings (README, Deploy): the functions' variables,
# STRIPE_WEBHOOK_URL, STRIPE_MODE, the keys or the secret ids with AWS credentials.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
command="$1"
shift
if [[ -z "${STRIPE_WEBHOOK_URL:-}" ]]; then
  env_file="${UP_LOGDIR:-$ROOT/.local/up}/stack.env"
  [[ -f "$env_file" ]] || die "no STRIPE_WEBHOOK_URL set and no local stack ($env_file): start \`make up\` or set a deployment's settings (README, Deploy)"
  # shellcheck disable=SC1090
  source "$env_file"
fi
exec cargo run --quiet -p ops --bin "$command" -- "$@"
