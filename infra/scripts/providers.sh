# Start/stop the local stand-ins for the providers: the AWS emulator (moto through
# infra/moto_server.py, which serializes requests: DynamoDB, SQS, Secrets Manager), the provider
# sandbox (infra/sandbox: Stripe, Firebase, the carrier, Resend),
# the chain (anvil with the DOTM token: chain.sh) and the SQS event source
# (infra/sqs_event_source.py). Sourced after lib.sh, like stack.sh.
#   providers_start SANDBOX_PORT MOTO_PORT WEBHOOK_URL LOGDIR
#       starts both (each in its own process group, logs LOGDIR/moto.log, LOGDIR/sandbox.log),
#       waits until both answer, creates template.yaml's table, queues and secrets in moto
#       (infra/aws_bootstrap.py; each secret gets only the provider keys it declares) and
#       exports what the functions and the tests read:
#         AWS_ENDPOINT_URL AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
#         TABLE_NAME ACTIVATION_QUEUE_URL ACTIVATION_DLQ_URL
#         STRIPE_API_SECRET_ID STRIPE_WEBHOOK_SECRET_ID FULFILMENT_SECRET_ID MINTER_SECRET_ID
#         OAUTH_SIGNING_SECRET_ID (OAuthSigningSecret: aws_bootstrap generates its P-256 key once
#         and keeps it while moto runs) OAUTH_SIGNIN_URL (the sandbox's Firebase sign-in page)
#         FIREBASE_PROJECT_ID FIREBASE_JWKS_URL STRIPE_API_BASE CARRIER_API_BASE MAIL_API_BASE
#         MAIL_FROM DOTM_SANDBOX_URL STRIPE_SECRET_KEY STRIPE_WEBHOOK_SECRET OXIO_API_KEY
#         OXIO_AUTH_TOKEN OXIO_BRAND_ID OXIO_ESIM_PLAN_ID OXIO_BETA_PLAN_ID OXIO_BOOSTER_PLAN_ID
#         CARRIER_LINE_SERVICES (sandbox) RESEND_API_KEY ADMIN_UIDS (dotm-admin), and from
#         chain_start (chain.sh, on CHAIN_PORT, default 8545): CHAIN_RPC_URL CHAIN_ID
#         DOTM_TOKEN_ADDRESS DOTM_OWNER_ADDRESS DOTM_MINTER_ADDRESS DOTM_MINTER_PRIVATE_KEY (also
#         put into MinterSecret as minter_private_key)
#       Defaults that the caller may set first: STACK_NAME (dotm-local), FIREBASE_PROJECT_ID
#       (dotm-local), STRIPE_SECRET_KEY (sk_test_local), STRIPE_WEBHOOK_SECRET (whsec_local),
#       RESEND_API_KEY (re_test_local), and another carrier than the sandbox's: CARRIER_API_BASE
#       with OXIO_API_KEY, OXIO_AUTH_TOKEN, OXIO_BRAND_ID (required then), OXIO_ESIM_PLAN_ID,
#       OXIO_BETA_PLAN_ID, OXIO_BOOSTER_PLAN_ID, CARRIER_LINE_SERVICES (none); without
#       CARRIER_API_BASE the sandbox's carrier and its own credentials are used (oxio_test_local,
#       oxio_token_local, brand 6f1c0d2e-8a4b-4c3d-9e5f-0d07a1b2c3d4, plans dotm-esim-global,
#       dotm-beta, dotm-booster-10gb; CARRIER_LINE_SERVICES=sandbox),
#       MAIL_FROM ("DOTM <esim@dotm.local>"), ADMIN_UIDS (dotm-admin).
#       Returns non-zero (after showing the logs' tails) if something does not come up.
#   event_source_start LAMBDA_PORT LOGDIR
#       after the functions start: feeds every SQS queue that a function of template.yaml takes
#       events from to that function through cargo lambda's invoke API on LAMBDA_PORT, as
#       Lambda's event source mapping does (batches, ReportBatchItemFailures,
#       MaximumConcurrency); log LOGDIR/event_source.log. Stopped by providers_stop.
#   providers_stop    stop every process group started here (idempotent)
# shellcheck shell=bash

source "$ROOT/infra/scripts/chain.sh"

PROVIDERS_PGIDS=()

_providers_port_free() {
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

# Waits until every URL answers 200 (at most $1 seconds in all).
_providers_wait() {
  "$VENV/bin/python" - "$@" <<'PY'
import sys, time, urllib.request, urllib.error
timeout, urls = float(sys.argv[1]), sys.argv[2:]
deadline = time.monotonic() + timeout
for url in urls:
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    break
                last = f"HTTP {r.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except OSError as e:
            last = str(e)
        if time.monotonic() > deadline:
            print(f"GET {url}: {last}", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.2)
PY
}

# _providers_need NAME VALUE VAR...: when the provider setting NAME is given (VALUE non-empty),
# each VAR must be set too.
_providers_need() {
  local name="$1" value="$2" v
  shift 2
  [[ -n "$value" ]] || return 0
  for v in "$@"; do
    [[ -n "${!v:-}" ]] || {
      log "error: $name=$value needs $v in the environment too"
      return 1
    }
  done
}

_providers_tails() {
  local logdir="$1" f
  for f in moto sandbox aws_bootstrap event_source; do
    [[ -s "$logdir/$f.log" ]] || continue
    log "--- $logdir/$f.log (tail)"
    tail -n 20 "$logdir/$f.log" >&2 || true
  done
}

providers_start() {
  local sandbox_port="$1" moto_port="$2" webhook_url="$3" logdir="$4" p
  mkdir -p "$logdir"
  for p in "$sandbox_port" "$moto_port"; do
    _providers_port_free "$p" || {
      log "error: port $p on 127.0.0.1 is in use (another stack? set SANDBOX_PORT / MOTO_PORT)"
      return 1
    }
  done

  # Stripe, mail and the chain: the sandbox's and a fresh anvil, unless the environment names
  # others (STRIPE_API_BASE, MAIL_API_BASE, CHAIN_RPC_URL: Stripe test mode, a Resend account,
  # Sepolia from a laptop; README "Providers elsewhere"). Then their keys come from the
  # environment too, and the sandbox keeps its own (an operator's key is never handed to it).
  local sandbox_stripe_key=sk_test_local sandbox_webhook_secret=whsec_local
  local sandbox_resend_key=re_test_local
  PROVIDERS_STRIPE="${STRIPE_API_BASE:-}"
  PROVIDERS_MAIL="${MAIL_API_BASE:-}"
  PROVIDERS_CHAIN="${CHAIN_RPC_URL:-}"
  _providers_need STRIPE_API_BASE "$PROVIDERS_STRIPE" STRIPE_SECRET_KEY STRIPE_WEBHOOK_SECRET \
    || return 1
  _providers_need MAIL_API_BASE "$PROVIDERS_MAIL" RESEND_API_KEY MAIL_FROM || return 1
  _providers_need CHAIN_RPC_URL "$PROVIDERS_CHAIN" CHAIN_ID DOTM_TOKEN_ADDRESS \
    DOTM_MINTER_PRIVATE_KEY || return 1
  if [[ -z "$PROVIDERS_STRIPE" ]]; then
    sandbox_stripe_key="${STRIPE_SECRET_KEY:-sk_test_local}"
    sandbox_webhook_secret="${STRIPE_WEBHOOK_SECRET:-whsec_local}"
  fi
  export STRIPE_SECRET_KEY="${STRIPE_SECRET_KEY:-$sandbox_stripe_key}"
  export STRIPE_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-$sandbox_webhook_secret}"
  if [[ -z "$PROVIDERS_MAIL" ]]; then sandbox_resend_key="${RESEND_API_KEY:-re_test_local}"; fi
  export FIREBASE_PROJECT_ID="${FIREBASE_PROJECT_ID:-dotm-local}"
  # The carrier: the sandbox's, unless CARRIER_API_BASE names another OXIO-shaped server (OXIO
  # staging from a laptop, README "The carrier"). Then its credentials, brand and plans come from
  # the environment, the sandbox keeps its own (an operator's key is never handed to it), and the
  # line services OXIO has no API for are reported as not supported (CARRIER_LINE_SERVICES=none).
  local sandbox_oxio_key=oxio_test_local sandbox_oxio_token=oxio_token_local
  local sandbox_oxio_brand=6f1c0d2e-8a4b-4c3d-9e5f-0d07a1b2c3d4
  local sandbox_oxio_plans=dotm-esim-global,dotm-beta,dotm-booster-10gb
  PROVIDERS_CARRIER="${CARRIER_API_BASE:-}"
  if [[ -n "$PROVIDERS_CARRIER" ]]; then
    local v
    for v in OXIO_API_KEY OXIO_AUTH_TOKEN OXIO_BRAND_ID; do
      [[ -n "${!v:-}" ]] || {
        log "error: CARRIER_API_BASE=$PROVIDERS_CARRIER needs $v in the environment too"
        return 1
      }
    done
    export OXIO_API_KEY OXIO_AUTH_TOKEN OXIO_BRAND_ID
    export OXIO_ESIM_PLAN_ID="${OXIO_ESIM_PLAN_ID:-}" OXIO_BETA_PLAN_ID="${OXIO_BETA_PLAN_ID:-}"
    export OXIO_BOOSTER_PLAN_ID="${OXIO_BOOSTER_PLAN_ID:-}"
    export CARRIER_LINE_SERVICES="${CARRIER_LINE_SERVICES:-none}"
  else
    export OXIO_API_KEY="$sandbox_oxio_key" OXIO_AUTH_TOKEN="$sandbox_oxio_token"
    export OXIO_BRAND_ID="$sandbox_oxio_brand"
    export OXIO_ESIM_PLAN_ID=dotm-esim-global OXIO_BETA_PLAN_ID=dotm-beta
    export OXIO_BOOSTER_PLAN_ID=dotm-booster-10gb
    # The functions use the sandbox's line-services extension (top-ups, reversals, features,
    # usage: OXIO has no API for them).
    export CARRIER_LINE_SERVICES=sandbox
  fi
  export RESEND_API_KEY="${RESEND_API_KEY:-$sandbox_resend_key}"
  local stack_name="${STACK_NAME:-dotm-local}"

  : >"$logdir/moto.log"
  : >"$logdir/sandbox.log"
  : >"$logdir/aws_bootstrap.log"
  # infra/moto_server.py: moto's server app with one request at a time (moto's backends are not
  # safe under concurrent requests, e.g. concurrent DynamoDB transactions).
  setsid "$VENV/bin/python" -u "$ROOT/infra/moto_server.py" -H 127.0.0.1 -p "$moto_port" \
    </dev/null >>"$logdir/moto.log" 2>&1 &
  PROVIDERS_PGIDS+=("$!")
  setsid "$VENV/bin/python" -u "$ROOT/infra/sandbox/server.py" \
    --port "$sandbox_port" --webhook-url "$webhook_url" \
    --webhook-secret "$sandbox_webhook_secret" --stripe-key "$sandbox_stripe_key" \
    --firebase-project "$FIREBASE_PROJECT_ID" \
    --oxio-key "$sandbox_oxio_key" --oxio-token "$sandbox_oxio_token" \
    --oxio-brand "$sandbox_oxio_brand" --oxio-plans "$sandbox_oxio_plans" \
    --resend-key "$sandbox_resend_key" </dev/null >>"$logdir/sandbox.log" 2>&1 &
  PROVIDERS_PGIDS+=("$!")

  # The chain before the secrets: aws_bootstrap puts the minter key that chain_start makes into
  # MinterSecret.
  if [[ -n "$PROVIDERS_CHAIN" ]]; then
    export CHAIN_RPC_URL CHAIN_ID DOTM_TOKEN_ADDRESS DOTM_MINTER_PRIVATE_KEY
    log "chain: $CHAIN_RPC_URL (chain $CHAIN_ID, token $DOTM_TOKEN_ADDRESS; no local anvil)"
  else
    chain_start "${CHAIN_PORT:-8545}" "$logdir" || return 1
  fi

  _providers_wait 60 "http://127.0.0.1:$moto_port/moto-api/" \
    "http://127.0.0.1:$sandbox_port/__sandbox/health" || {
    _providers_tails "$logdir"
    return 1
  }

  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
  export AWS_REGION="us-east-1"
  export AWS_DEFAULT_REGION="us-east-1"
  export AWS_ACCESS_KEY_ID="test"
  export AWS_SECRET_ACCESS_KEY="test"
  local exports
  exports="$("$VENV/bin/python" "$ROOT/infra/aws_bootstrap.py" \
    --endpoint "$AWS_ENDPOINT_URL" --stack-name "$stack_name" \
    --template "$ROOT/template.yaml" --region "$AWS_REGION" \
    --stripe-secret-key "$STRIPE_SECRET_KEY" \
    --stripe-webhook-secret "$STRIPE_WEBHOOK_SECRET" \
    --oxio-api-key "$OXIO_API_KEY" --resend-api-key "$RESEND_API_KEY" \
    --minter-private-key "$DOTM_MINTER_PRIVATE_KEY" \
    2>>"$logdir/aws_bootstrap.log")" || {
    log "error: infra/aws_bootstrap.py failed"
    _providers_tails "$logdir"
    return 1
  }
  eval "$exports"  # export TABLE_NAME=... ACTIVATION_QUEUE_URL=... (shell-quoted by the script)
  export TABLE_NAME ACTIVATION_QUEUE_URL ACTIVATION_DLQ_URL MINT_QUEUE_URL \
    STRIPE_API_SECRET_ID STRIPE_WEBHOOK_SECRET_ID FULFILMENT_SECRET_ID MINTER_SECRET_ID \
    OAUTH_SIGNING_SECRET_ID MCP_STATE_SECRET_ID
  export DOTM_SANDBOX_URL="http://127.0.0.1:$sandbox_port"
  export FIREBASE_JWKS_URL="$DOTM_SANDBOX_URL/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
  export STRIPE_API_BASE="${PROVIDERS_STRIPE:-$DOTM_SANDBOX_URL/}"
  log "stripe: $STRIPE_API_BASE"
  export CARRIER_API_BASE="${PROVIDERS_CARRIER:-$DOTM_SANDBOX_URL}"
  log "carrier: $CARRIER_API_BASE (line services: $CARRIER_LINE_SERVICES)"
  export MAIL_API_BASE="${PROVIDERS_MAIL:-$DOTM_SANDBOX_URL}"
  log "mail: $MAIL_API_BASE"
  # The OAuth flow's sign-in page (template parameter OAuthSigninUrl): the sandbox's Firebase
  # sign-in stand-in, which POSTs id_token and request back to the `continue` URL.
  export OAUTH_SIGNIN_URL="$DOTM_SANDBOX_URL/__sandbox/firebase/signin"
  # A local stack only: tests serve Client ID Metadata Documents on loopback HTTP.
  export OAUTH_ALLOW_LOOPBACK_CLIENT_METADATA=true
  # Template parameter AdminUids: the Firebase uids with the `admin` role (the api and mcp
  # functions; the tests sign in as the first of them for /api/admin/*).
  export ADMIN_UIDS="${ADMIN_UIDS:-dotm-admin}"
  export MAIL_FROM="${MAIL_FROM:-DOTM <esim@dotm.local>}"
  # What an operator command needs to reach this stack (`make redrive`, `make stripe-setup`,
  # `make preflight`): the settings and the secrets' ids, never a secret (those commands read
  # the keys from the stack's Secrets Manager, as the functions do).
  local v
  for v in AWS_ENDPOINT_URL AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
           TABLE_NAME ACTIVATION_QUEUE_URL ACTIVATION_DLQ_URL MINT_QUEUE_URL ACTIVATIONS_PER_WINDOW \
           ACTIVATION_WINDOW_SECONDS STRIPE_API_SECRET_ID FULFILMENT_SECRET_ID MINTER_SECRET_ID \
           STRIPE_API_BASE MAIL_API_BASE MAIL_FROM CARRIER_API_BASE OXIO_BRAND_ID OXIO_ESIM_PLAN_ID \
           OXIO_BETA_PLAN_ID OXIO_BOOSTER_PLAN_ID FIREBASE_PROJECT_ID FIREBASE_JWKS_URL \
           CHAIN_RPC_URL CHAIN_ID DOTM_TOKEN_ADDRESS DOTM_MINTER_ADDRESS; do
    if [[ -n "${!v:-}" ]]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
  done >"$logdir/stack.env"
  printf 'export %s=%q\n' STRIPE_WEBHOOK_URL "$webhook_url" STRIPE_MODE \
    "$(_providers_stripe_mode)" >>"$logdir/stack.env"
}

# The mode the stack's Stripe key is in (the sandbox's is a test key).
_providers_stripe_mode() {
  case "$STRIPE_SECRET_KEY" in
    sk_live_* | rk_live_*) echo live ;;
    *) echo test ;;
  esac
}

event_source_start() {
  local lambda_port="$1" logdir="$2"
  : >"$logdir/event_source.log"
  setsid "$VENV/bin/python" -u "$ROOT/infra/sqs_event_source.py" \
    --template "$ROOT/template.yaml" --stack-name "${STACK_NAME:-dotm-local}" \
    --endpoint "$AWS_ENDPOINT_URL" --region "$AWS_REGION" --lambda-port "$lambda_port" \
    </dev/null >>"$logdir/event_source.log" 2>&1 &
  PROVIDERS_PGIDS+=("$!")
}

providers_stop() {
  local pg
  for pg in "${PROVIDERS_PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  for pg in "${PROVIDERS_PGIDS[@]}"; do
    for _ in $(seq 50); do
      ps -e -o pgid=,stat= | awk -v g="$pg" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }' \
        || break
      sleep 0.1
    done
    kill -KILL -- "-$pg" 2>/dev/null || true
    wait "$pg" 2>/dev/null || true
  done
  PROVIDERS_PGIDS=()
  chain_stop
}
