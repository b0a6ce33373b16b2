# Two commands: run it, test it. The scripts in infra/scripts do the work.
# CARGO_TARGET_DIR defaults to ~/.cache/dotm-target (shared by checkouts and CI).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/dotm-target

.PHONY: up test chaos bench bench-activate bench-activation bootstrap build stripe-catalog stripe-setup preflight card-screenshot redrive

up:        ## local stack on http://127.0.0.1:$${PORT:-3000} until Ctrl-C
	infra/scripts/up.sh

test:      ## fmt, clippy, cargo test, template lint, end-to-end tests on their own stack
	infra/scripts/test.sh

chaos:     ## the chaos run at full size: 1,000 paid activations with carrier faults, duplicate and reordered deliveries and killed workers, on a stack of its own (ports 3300...); figures printed and in .local/chaos.json (~20 min)
	TEST_E2E_ONLY=1 TEST_PORT=3300 TEST_LAMBDA_PORT=9300 TEST_SANDBOX_PORT=3301 TEST_MOTO_PORT=5300 \
	  TEST_CHAIN_PORT=8845 TEST_LOGDIR="$(CURDIR)/.local/chaos" \
	  TEST_ACTIVATIONS_PER_WINDOW=$${CHAOS_PER_WINDOW:-20} CHAOS_ACTIVATIONS=$${CHAOS_ACTIVATIONS:-1000} \
	  CHAOS_KILLS=$${CHAOS_KILLS:-6} CHAOS_REPORT="$(CURDIR)/.local/chaos.json" \
	  TEST_PYTEST_ARGS="tests/test_chaos.py -s" infra/scripts/test.sh

bench:     ## benchmarks vs the Python MCP SDK (MCP serving, cold start, footprint, pipeline): docs/benchmarks/ (release; ~30 min; BENCH_QUICK=1 short)
	infra/bench/run.sh

bench-activate: ## activate_esim -> payment_required latency (p50/p99) against a running `make up`
	.venv/bin/python infra/bench/activate_latency.py

bench-activation: ## payment -> active latency (p50/p99) against a running `make up`
	.venv/bin/python infra/bench/activation_latency.py

bootstrap: ## install .venv/ and node_modules/ (also done by up and test)
	infra/scripts/bootstrap.sh

build:     ## Lambda release zips (sam build, cargo lambda; offline, slow): .aws-sam/, sizes printed
	infra/scripts/build.sh

stripe-catalog: ## Stripe Products/Prices for the catalog's subscriptions (CATALOG_URL, STRIPE_API_BASE, STRIPE_SECRET_KEY)
	python3 infra/stripe_catalog.py --catalog "$${CATALOG_URL:-http://127.0.0.1:3000/mcp/api}" \
	  --stripe "$${STRIPE_API_BASE:-http://127.0.0.1:3001}"

stripe-setup: ## register the Stripe webhook endpoint for exactly the events the webhook handles (STRIPE_WEBHOOK_URL; without it, the make up stack's); prints a new endpoint's signing secret
	infra/scripts/ops.sh stripe-setup

preflight: ## check a deployment's settings against the real providers, read-only (Stripe, Resend, OXIO, Firebase, chain): a table, non-zero on a failure (without STRIPE_WEBHOOK_URL: the make up stack)
	infra/scripts/ops.sh preflight

card-screenshot: ## the MCP install card as a chat shows it (headless Chromium): docs/install-card-sample.png
	infra/scripts/chromium.sh >/dev/null
	cd tests && ../.venv/bin/python -c 'import json, test_card_screenshot as t; print(json.dumps(t.active_result()))' \
	  | ../.venv/bin/python card_harness.py --card ../functions/mcp/src/card.html --result - --out ../docs/install-card-sample.png --scale 2

redrive:   ## put the jobs parked on the activation DLQ back in line (PURCHASE=<id>: one): the make up stack, or AWS with TABLE_NAME, ACTIVATION_QUEUE_URL, ACTIVATION_DLQ_URL set
	infra/scripts/redrive.sh
