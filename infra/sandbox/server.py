"""DOTM provider sandbox: the parts of Stripe, Firebase, the carrier (OXIO) and Resend that DOTM
uses, on one local server.

    python infra/sandbox/server.py --port 3001 \
        --webhook-url http://127.0.0.1:3000/webhooks/stripe \
        --webhook-secret whsec_local --stripe-key sk_test_local --firebase-project dotm-local \
        --oxio-key oxio_test_local --oxio-token oxio_token_local \
        --oxio-brand 6f1c0d2e-8a4b-4c3d-9e5f-0d07a1b2c3d4 \
        --oxio-plans dotm-esim-global,dotm-beta,dotm-booster-10gb --resend-key re_test_local

Real provider paths are served as the providers name them (`/v1/...` for Stripe, OXIO's
`/v2/end-users`, `/v3/lines/line`, `/v3/end-users/{id}/lines`, `/v3/sims/{iccid}`,
`/v3/phone-numbers/...` and `/v3/subscriptions` for the carrier (Basic auth; the old
`/v1/activations` and `/v1/lines/...` are 404s), `/emails` and `/domains` for Resend, Google's JWKS path for
Firebase); test-only endpoints live under `/__sandbox/` (DESIGN §7; details in stripe_api.py,
carrier.py and mail.py):

    GET  /__sandbox/health
    POST /__sandbox/reset                           forget everything but the signing keys
                                                    (lines, their data use, mail, ...)
    GET  /__sandbox/requests[?prefix=/v1/]          every call the sandbox answered
    POST /__sandbox/firebase/token {uid, email?, email_verified?, anonymous?, ttl_seconds?, claims?, kid?, alg?, sign_with?}
    POST /__sandbox/firebase/rotate {retire_old?}   new signing key (listed with the old ones)
    GET  /__sandbox/firebase/keys                   kids, public keys, JWKS fetch times
    GET  /__sandbox/firebase/signin?continue=&request=  the OAuth flow's sign-in page (a form)
    POST /__sandbox/firebase/signin {continue, request, uid, email?, email_verified?} (form)
                                                    an ID token, auto-POSTed to `continue` as
                                                    id_token + request (firebase.py)
    POST /__sandbox/stripe/invoices/{id}/pay {webhook_url?, amount_paid?, currency?}
    POST /__sandbox/stripe/invoices/{id}/fail|refund|dispute {webhook_url?, ...}
    POST /__sandbox/stripe/disputes/{id}/close {status: lost|won, webhook_url?}
    POST /__sandbox/stripe/subscriptions/{id}/advance {webhook_url?}   the next period
    POST /__sandbox/stripe/events/{id}/redeliver {webhook_url?}
    GET  /__sandbox/stripe/events[?type=&invoice=&subscription=]  events with their delivery
                                                    attempts
    GET  /__sandbox/stripe/invoices?customer_email= invoices made for customers with that email
    GET  /__sandbox/stripe/customers?email=
    GET  /__sandbox/stripe/subscriptions[?customer=], products, prices, charges[?invoice=]
    GET  /__sandbox/stripe/hosted/{id}              the "hosted invoice page"
    GET  /__sandbox/carrier/calls[?email=]          every POST /v3/lines/line: at, ended_at,
                                                    status, end_user_id, email, line_id, iccid,
                                                    phone_number, preferred_area_code, plan_id,
                                                    fault, peer
    GET  /__sandbox/carrier/lines[?email=]          lines made (OXIO's line object + email), with
                                                    their data balance, features, top-ups, usage
    GET  /__sandbox/carrier/end-users               end users made
    GET  /__sandbox/carrier/subscriptions           POST /v3/subscriptions made (data boosters)
    *    /__sandbox/carrier/line-services/{iccid}[/data[/{reference}]|/features/{f}|/usage]
                                                    NOT OXIO: the sandbox line services (top-ups,
                                                    reversals, features, usage; Basic auth)
    GET  /__sandbox/carrier/line-calls[?iccid=]     every line-services call (usage reads too)
    POST /__sandbox/carrier/lines/{iccid}/consume {mb} | {percent}   the line uses data (its
                                                    line-services usage shows it)
    POST /__sandbox/carrier/faults {fail_next, status, delay_ms, emails?, permanent?}
                                                    | {chaos: {fail_rate, status, max_delay_ms, seed?}}
    GET  /__sandbox/mail/messages[?to=]             captured emails (with their id) and attachments
    GET  /__sandbox/mail/messages/{id}/mime         one email as delivered (message/rfc822)
    GET  /__sandbox/mail/calls                      every POST /emails
    POST /__sandbox/mail/faults {fail_next, status, delay_ms?}

Every flag has an environment variable (SANDBOX_PORT, SANDBOX_WEBHOOK_URL, ...; the carrier's:
OXIO_API_KEY, OXIO_AUTH_TOKEN, OXIO_BRAND_ID, OXIO_PLAN_IDS, OXIO_AREA_CODES). State is in
memory; the RSA keys are generated at start and never written anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from carrier import DEFAULT_AREA_CODES, DEFAULT_BRAND, DEFAULT_PLANS, Carrier  # noqa: E402
from common import Request, Response, json_response  # noqa: E402
from firebase import JWKS_PATH, Firebase  # noqa: E402
from log_lines import write_line  # noqa: E402
from mail import Mailbox  # noqa: E402
from stripe_api import Stripe  # noqa: E402


class Sandbox:
    def __init__(self, stripe: Stripe, firebase: Firebase, carrier: Carrier, mail: Mailbox):
        self.stripe = stripe
        self.firebase = firebase
        self.carrier = carrier
        self.mail = mail
        self.lock = threading.Lock()
        self.requests: list[dict] = []

    def record(self, req: Request, resp: Response, started: float) -> None:
        entry = {
            "at": started, "method": req.method, "path": req.path, "query": req.raw_query,
            "status": resp.status, "duration_ms": round((time.time() - started) * 1000, 1),
            "idempotency_key": req.headers.get("idempotency-key"),
            "replayed": resp.headers.get("Idempotent-Replayed") == "true",
        }
        if req.path.startswith(("/v1/", "/v2/", "/v3/")) and req.method == "POST":
            entry["body"] = req.body.decode("utf-8", "replace")[:4000]
        with self.lock:
            self.requests.append(entry)
        write_line(json.dumps(entry))

    def handle(self, req: Request) -> Response:
        path = req.path
        if path == JWKS_PATH and req.method == "GET":
            return self.firebase.jwks()
        if Carrier.owns(path):  # /v2, /v3 (OXIO) and the old /v1/activations, /v1/lines (404)
            return self.carrier.handle_api(req)
        if path.startswith("/v1/") or path == "/v1":
            return self.stripe.handle_v1(req)
        if path in ("/emails", "/domains") or path.startswith("/emails/"):
            return self.mail.handle_api(req)
        if path.startswith("/__sandbox/"):
            parts = path.strip("/").split("/")[1:]
            match parts:
                case ["health"]:
                    return json_response(200, {"ok": True})
                case ["reset"] if req.method == "POST":
                    self.stripe.reset()
                    self.firebase.reset()
                    self.carrier.reset()
                    self.mail.reset()
                    with self.lock:
                        self.requests = []
                    return json_response(200, {"ok": True})
                case ["requests"] if req.method == "GET":
                    prefix = req.q("prefix", "")
                    with self.lock:
                        data = [r for r in self.requests if r["path"].startswith(prefix)]
                    return json_response(200, {"data": data})
                case ["firebase", *rest]:
                    return self.firebase.handle_sandbox(req, rest)
                case ["stripe", *rest]:
                    return self.stripe.handle_sandbox(req, rest)
                case ["carrier", *rest]:
                    return self.carrier.handle_sandbox(req, rest)
                case ["mail", *rest]:
                    return self.mail.handle_sandbox(req, rest)
        return json_response(404, {"error": f"no endpoint {req.method} {path}"})


def make_handler(sandbox: Sandbox):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' pooled clients expect
        # Headers and body go out in separate writes: without this, Nagle and delayed ACKs hold
        # every keep-alive answer back ~40 ms.
        disable_nagle_algorithm = True
        server_version = "dotm-sandbox"
        sys_version = ""

        def _serve(self) -> None:
            started = time.time()
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(
                method=self.command,
                path=re.sub(r"^/+", "/", split.path) or "/",
                query=parse_qs(split.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw_query=split.query,
                received_at=started,
                peer=f"{self.client_address[0]}:{self.client_address[1]}",
            )
            try:
                resp = sandbox.handle(req)
            except Exception as e:  # a sandbox bug must be visible, not a hung client
                import traceback
                traceback.print_exc()
                resp = json_response(500, {"error": {"type": "api_error",
                                                     "message": f"sandbox bug: {e}"}})
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)
            sandbox.record(req, resp, started)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, format, *args):  # one JSON line per request comes from record()
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default=env("SANDBOX_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env("SANDBOX_PORT", "3001")))
    p.add_argument("--public-url", default=env("SANDBOX_PUBLIC_URL"),
                   help="base of hosted invoice URLs (default http://127.0.0.1:<port>)")
    p.add_argument("--webhook-url", default=env("SANDBOX_WEBHOOK_URL", ""),
                   help="where Stripe events are POSTed (empty: recorded, not sent)")
    p.add_argument("--webhook-secret", default=env("STRIPE_WEBHOOK_SECRET", "whsec_local"))
    p.add_argument("--stripe-key", default=env("STRIPE_SECRET_KEY", "sk_test_local"),
                   help="the only secret key the Stripe API accepts")
    p.add_argument("--oxio-key", default=env("OXIO_API_KEY", "oxio_test_local"),
                   help="the only API key the carrier (OXIO, Basic key:token) accepts")
    p.add_argument("--oxio-token", default=env("OXIO_AUTH_TOKEN", "oxio_token_local"),
                   help="the only auth token the carrier (OXIO, Basic key:token) accepts")
    p.add_argument("--oxio-brand", default=env("OXIO_BRAND_ID", DEFAULT_BRAND),
                   help="the brand id a line's endUser.brandId must be")
    p.add_argument("--oxio-plans", default=env("OXIO_PLAN_IDS", ",".join(DEFAULT_PLANS)),
                   help="comma list of the carrier's plan ids (eSIM, beta, booster: the third "
                        "is the data booster of POST /v3/subscriptions)")
    p.add_argument("--oxio-area-codes",
                   default=env("OXIO_AREA_CODES", ",".join(DEFAULT_AREA_CODES)),
                   help="comma list of the area codes the carrier has numbers in")
    p.add_argument("--resend-key", default=env("RESEND_API_KEY", "re_test_local"),
                   help="the only API key the mail API (POST /emails) accepts")
    p.add_argument("--resend-domains", default=env("RESEND_DOMAINS", "dotm.local"),
                   help="comma list of the mail account's verified sending domains")
    p.add_argument("--firebase-project", default=env("FIREBASE_PROJECT_ID", "dotm-local"))
    p.add_argument("--jwks-max-age", type=int, default=int(env("SANDBOX_JWKS_MAX_AGE", "3600")))
    p.add_argument("--webhook-retry-base", type=float,
                   default=float(env("SANDBOX_WEBHOOK_RETRY_BASE", "1")),
                   help="seconds before the 2nd attempt; doubles each time")
    p.add_argument("--webhook-attempts", type=int,
                   default=int(env("SANDBOX_WEBHOOK_ATTEMPTS", "4")))
    p.add_argument("--webhook-timeout", type=float,
                   default=float(env("SANDBOX_WEBHOOK_TIMEOUT", "30")))
    a = p.parse_args(argv)

    public_url = a.public_url or f"http://127.0.0.1:{a.port}"
    stripe = Stripe(secret_key=a.stripe_key, webhook_url=a.webhook_url or None,
                    webhook_secret=a.webhook_secret, public_url=public_url,
                    retry_base=a.webhook_retry_base, max_attempts=a.webhook_attempts,
                    webhook_timeout=a.webhook_timeout,
                    log=write_line)
    firebase = Firebase(a.firebase_project, a.jwks_max_age)
    carrier = Carrier(a.oxio_key, auth_token=a.oxio_token, brand_id=a.oxio_brand,
                      plan_ids=[p.strip() for p in a.oxio_plans.split(",")],
                      area_codes=[c.strip() for c in a.oxio_area_codes.split(",")],
                      log=write_line)
    sandbox = Sandbox(stripe, firebase, carrier,
                      Mailbox(a.resend_key, log=write_line,
                              domains=tuple(d.strip() for d in a.resend_domains.split(","))))
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    # The default backlog of 5 resets a burst of connections (webhooks, many tests at once).
    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer((a.host, a.port), make_handler(sandbox))
    write_line(json.dumps({"sandbox": f"http://{a.host}:{a.port}", "webhook_url": a.webhook_url,
                           "firebase_project": a.firebase_project}))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
