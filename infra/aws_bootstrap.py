#!/usr/bin/env python3
"""Create in the local AWS emulator (moto) exactly the data resources that template.yaml declares.

    python infra/aws_bootstrap.py --endpoint http://127.0.0.1:5000 \
        --stack-name dotm-local --template template.yaml

Reads the SAM/CloudFormation template (its short-form tags !Ref, !Sub, !GetAtt, !Join, ... are
understood), resolves `${AWS::StackName}`, `${AWS::Region}`, `${AWS::AccountId}`, parameters and
references between resources, and creates:

- every AWS::DynamoDB::Table (keys, attribute definitions, billing mode, GSIs/LSIs, streams, TTL)
- every AWS::SQS::Queue (its attributes, RedrivePolicy with the dead-letter queue's ARN)
- every AWS::SecretsManager::Secret (StripeApiSecret, StripeWebhookSecret, FulfilmentSecret,
  MinterSecret, OAuthSigningSecret, McpStateSecret), whose value is the local one: the template's SecretString
  (a JSON object) overlaid with the provider keys from --stripe-secret-key /
  --stripe-webhook-secret / --oxio-api-key / --oxio-auth-token / --resend-api-key / --minter-private-key (or with the
  JSON object of --secret-string / DOTM_PROVIDER_SECRET instead). Each secret takes only the keys
  that its SecretString already declares (stripe_secret_key lands in StripeApiSecret only,
  minter_private_key in MinterSecret only, ...); a key no secret declares is logged and dropped.

  A secret that declares `signing_key_pkcs8` (OAuthSigningSecret: the OAuth authorization
  server's keys) is completed rather than left empty. If no override gives signing_key_pkcs8,
  the value already in the emulator is kept when its signing_key_pkcs8 is non-empty (so a
  restart keeps the issued tokens valid); otherwise a fresh P-256 key is generated:
    signing_key_pkcs8  the private key, PKCS#8 DER, standard base64 (padded)
    public_jwk         a JSON object (not a string): {"kty":"EC","crv":"P-256","x","y"
                       (32-byte big-endian coordinates, base64url without padding),
                       "alg":"ES256","use":"sig","kid" (16 random hex characters)}
    state_key          64 random hex characters (the key that seals OAuth request state)
  A public_jwk that is missing (or not a JSON object) is derived from the private key (kid: its
  RFC 7638 thumbprint, first 16 hex characters), a missing state_key is generated (both kept
  while the emulator holds the same key). `--new-oauth-signing-secret` prints such a fresh
  value (for `aws secretsmanager put-secret-value --secret-string` on a deployed stack) and
  exits.

Idempotent: what exists is brought in line (TTL, queue attributes, secret value), not recreated.
Prints shell `export` lines for the functions' environment on stdout (log lines go to stderr).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import shlex
import string
import sys
from pathlib import Path

import boto3
from botocore.config import Config

REGION_DEFAULT = "us-east-1"

# Function environment variable -> logical id of the resource whose Ref (or attribute) it holds.
EXPORTS = {
    "TABLE_NAME": ("Table", "Ref"),
    "ACTIVATION_QUEUE_URL": ("ActivationQueue", "Ref"),
    "ACTIVATION_DLQ_URL": ("ActivationDeadLetterQueue", "Ref"),
    "MINT_QUEUE_URL": ("MintQueue", "Ref"),
    "STRIPE_API_SECRET_ID": ("StripeApiSecret", "Ref"),
    "STRIPE_WEBHOOK_SECRET_ID": ("StripeWebhookSecret", "Ref"),
    "FULFILMENT_SECRET_ID": ("FulfilmentSecret", "Ref"),
    "MINTER_SECRET_ID": ("MinterSecret", "Ref"),
    "OAUTH_SIGNING_SECRET_ID": ("OAuthSigningSecret", "Ref"),
    "MCP_STATE_SECRET_ID": ("McpStateSecret", "Ref"),
}

# Resource types the local stack does not emulate (served by cargo lambda + infra/gateway.py,
# or irrelevant locally).
NOT_EMULATED_PREFIXES = ("AWS::Serverless::", "AWS::IAM::", "AWS::Lambda::", "AWS::ApiGateway",
                         "AWS::Logs::", "AWS::CloudWatch::", "AWS::Events::", "AWS::SNS::",
                         "AWS::Scheduler::")


# ---- template loading ------------------------------------------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_yaml import TemplateLoader, load_template  # noqa: E402,F401  (re-exported for callers)


class Unresolved(Exception):
    """A reference to a resource that does not exist (yet)."""


class Resolver:
    def __init__(self, template: dict, stack_name: str, region: str, account_id: str,
                 parameters: dict[str, str] | None = None):
        self.template = template
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }
        self.params: dict[str, str] = {}
        for name, decl in (template.get("Parameters") or {}).items():
            if parameters and name in parameters:
                self.params[name] = parameters[name]
            elif "Default" in decl:
                self.params[name] = str(decl["Default"])
        self.refs: dict[str, str] = {}  # logical id -> Ref value, once created
        self.attrs: dict[tuple[str, str], str] = {}

    def ref(self, name: str):
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.refs:
            return self.refs[name]
        raise Unresolved(name)

    def getatt(self, name: str, attr: str):
        if (name, attr) in self.attrs:
            return self.attrs[(name, attr)]
        raise Unresolved(f"{name}.{attr}")

    def resolve(self, v):
        if isinstance(v, list):
            return [self.resolve(x) for x in v]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, arg), = v.items()
            if k == "Ref":
                return self.ref(arg)
            if k == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.getatt(parts[0], parts[1])
            if k == "Fn::Sub":
                if isinstance(arg, list):
                    text, extra = arg[0], {n: self.resolve(x) for n, x in arg[1].items()}
                else:
                    text, extra = arg, {}
                return self._sub(text, extra)
            if k == "Fn::Join":
                sep, items = arg
                return sep.join(str(x) for x in self.resolve(items) if x not in (None, ""))
            if k == "Fn::Select":
                idx, items = arg
                return self.resolve(items)[int(self.resolve(idx))]
            if k == "Fn::Split":
                sep, s = arg
                return str(self.resolve(s)).split(sep)
            if k == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg), separators=(",", ":"))
            if k.startswith("Fn::"):
                raise SystemExit(f"aws_bootstrap: unsupported intrinsic {k}")
        return {k: self.resolve(x) for k, x in v.items()}

    def _sub(self, text: str, extra: dict) -> str:
        out, i = [], 0
        while i < len(text):
            j = text.find("${", i)
            if j < 0:
                out.append(text[i:])
                break
            out.append(text[i:j])
            if text.startswith("${!", j):  # literal ${...}
                k = text.index("}", j)
                out.append("${" + text[j + 3:k + 1])
                i = k + 1
                continue
            k = text.index("}", j)
            name = text[j + 2:k]
            if name in extra:
                val = extra[name]
            elif "." in name and not name.startswith("AWS::"):
                res, attr = name.split(".", 1)
                val = self.getatt(res, attr)
            else:
                val = self.ref(name)
            out.append(str(val))
            i = k + 1
        return "".join(out)


# ---- resource creation -----------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"[aws_bootstrap] {msg}", file=sys.stderr, flush=True)


def _table(ddb, logical: str, props: dict, r: Resolver) -> None:
    name = props.get("TableName") or f"{r.pseudo['AWS::StackName']}-{logical}"
    args: dict = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if args["BillingMode"] == "PROVISIONED":
        args["ProvisionedThroughput"] = {k: int(v) for k, v in props["ProvisionedThroughput"].items()}
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            args[key] = props[key]
    if props.get("StreamSpecification"):
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if props.get("SSESpecification"):
        args["SSESpecification"] = props["SSESpecification"]
    if props.get("Tags"):
        args["Tags"] = props["Tags"]
    try:
        ddb.describe_table(TableName=name)
        log(f"table {name}: exists")
    except ddb.exceptions.ResourceNotFoundException:
        ddb.create_table(**args)
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
        log(f"table {name}: created")
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        want = str(ttl.get("Enabled", False)).lower() == "true"
        cur = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        enabled = cur.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
        if want != enabled or (want and cur.get("AttributeName") != ttl["AttributeName"]):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "AttributeName": ttl["AttributeName"], "Enabled": want})
    r.refs[logical] = name
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    r.attrs[(logical, "Arn")] = arn


SQS_ATTRS = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
             "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "FifoQueue",
             "ContentBasedDeduplication", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
             "SqsManagedSseEnabled", "DeduplicationScope", "FifoThroughputLimit")


def queue_attributes(props: dict) -> dict[str, str]:
    """SQS attributes (strings) for a resolved AWS::SQS::Queue's Properties."""
    attrs: dict[str, str] = {}
    for k in SQS_ATTRS:
        if k in props:
            v = props[k]
            attrs[k] = str(v).lower() if isinstance(v, bool) else str(v)
    for k in ("RedrivePolicy", "RedriveAllowPolicy"):
        if k in props:
            v = props[k]
            attrs[k] = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    return attrs


def _queue(sqs, logical: str, props: dict, r: Resolver) -> None:
    name = props.get("QueueName") or f"{r.pseudo['AWS::StackName']}-{logical}"
    attrs = queue_attributes(props)
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        settable = {k: v for k, v in attrs.items() if k != "FifoQueue"}
        if settable:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=settable)
        log(f"queue {name}: exists, attributes set")
    except sqs.exceptions.QueueDoesNotExist:
        url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        log(f"queue {name}: created")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    r.refs[logical] = url
    r.attrs[(logical, "Arn")] = arn
    r.attrs[(logical, "QueueName")] = name
    r.attrs[(logical, "QueueUrl")] = url


def secret_value(template_value: str | None, overrides: dict) -> str:
    """A secret's local value: its template JSON object, with those of `overrides` (the provider
    keys given on the command line) that the object declares. Other keys, and None values, are
    left out: every secret holds exactly the keys its template declares."""
    base: dict = {}
    if template_value:
        try:
            parsed = json.loads(template_value)
            if isinstance(parsed, dict):
                base = parsed
        except ValueError:
            pass
    base.update({k: v for k, v in overrides.items() if k in base and v is not None})
    return json.dumps(base, separators=(",", ":"))


def declared_keys(props: dict) -> set[str]:
    """The JSON keys a resolved AWS::SecretsManager::Secret's template value declares."""
    generated = props.get("GenerateSecretString") or {}
    text = props["SecretString"] if "SecretString" in props else \
        generated.get("SecretStringTemplate")
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        return set()
    keys = set(parsed) if isinstance(parsed, dict) else set()
    if "SecretString" not in props and text and generated.get("GenerateStringKey"):
        keys.add(generated["GenerateStringKey"])
    return keys


# ---- OAuth signing keys ----------------------------------------------------------------------

OAUTH_SIGNING_KEY = "signing_key_pkcs8"  # a secret declaring this key holds OAuth signing keys


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(private_key, kid: str | None = None) -> dict:
    """The public half of a P-256 private key as an ES256 signing JWK; kid: 16 random hex
    characters unless given."""
    pub = private_key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256",
            "x": _b64url(pub.x.to_bytes(32, "big")), "y": _b64url(pub.y.to_bytes(32, "big")),
            "alg": "ES256", "use": "sig", "kid": kid or secrets.token_hex(8)}


def new_oauth_signing_value() -> dict:
    """A fresh OAuthSigningSecret value: P-256 key (PKCS#8 DER, base64), its JWK, a state key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return {OAUTH_SIGNING_KEY: base64.b64encode(der).decode(), "public_jwk": public_jwk(key),
            "state_key": secrets.token_hex(32)}


def complete_oauth_signing(value: dict, existing: dict | None) -> dict:
    """An OAuth signing secret's value with nothing left empty: the given signing key, else the
    existing one (the emulator's current value), else a fresh one; public_jwk always an object."""
    from cryptography.hazmat.primitives import serialization

    out = dict(value)
    if not out.get(OAUTH_SIGNING_KEY):
        if existing and existing.get(OAUTH_SIGNING_KEY):
            kept = {k: existing[k] for k in out if k in existing}
            out.update(kept)
            log("oauth signing key: kept the existing one")
        else:
            out.update({k: v for k, v in new_oauth_signing_value().items() if k in out})
            log("oauth signing key: generated a new P-256 key")
    elif existing and existing.get(OAUTH_SIGNING_KEY) == out[OAUTH_SIGNING_KEY]:
        # The same key given again (an override): what was derived for it last time stays.
        out.update({k: existing[k] for k in out if not out[k] and existing.get(k)})
    jwk = out.get("public_jwk")
    if isinstance(jwk, str) and jwk.strip().startswith("{"):
        try:
            jwk = json.loads(jwk)
        except ValueError:
            pass
    if not isinstance(jwk, dict) or not jwk:
        der = base64.b64decode(out[OAUTH_SIGNING_KEY])
        key = serialization.load_der_private_key(der, password=None)
        # kid: from the key itself (its RFC 7638 thumbprint), so it is the same every time.
        thumb = public_jwk(key, kid="-")
        canonical = json.dumps({k: thumb[k] for k in ("crv", "kty", "x", "y")},
                               separators=(",", ":"), sort_keys=True)
        jwk = public_jwk(key, kid=hashlib.sha256(canonical.encode()).hexdigest()[:16])
        log("oauth signing key: derived public_jwk from signing_key_pkcs8")
    if "public_jwk" in out:
        out["public_jwk"] = jwk
    if "state_key" in out and not out["state_key"]:
        out["state_key"] = secrets.token_hex(32)
    return out


def _current_value(sm, name: str) -> dict | None:
    """A secret's current value as a JSON object, or None (no such secret, not an object)."""
    try:
        text = sm.get_secret_value(SecretId=name).get("SecretString")
    except (sm.exceptions.ResourceNotFoundException, sm.exceptions.InvalidRequestException):
        return None
    try:
        v = json.loads(text) if text else None
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


def _secret(sm, logical: str, props: dict, r: Resolver, overrides: dict) -> None:
    name = props.get("Name") or f"{logical}-{secrets.token_hex(6)}"
    if "SecretString" in props:
        value = secret_value(props["SecretString"], overrides)
    elif "GenerateSecretString" in props:
        g = props["GenerateSecretString"]
        alphabet = string.ascii_letters + string.digits
        pw = "".join(secrets.choice(alphabet) for _ in range(int(g.get("PasswordLength", 32))))
        if g.get("SecretStringTemplate") and g.get("GenerateStringKey"):
            obj = json.loads(g["SecretStringTemplate"])
            obj[g["GenerateStringKey"]] = pw
            value = secret_value(json.dumps(obj), overrides)
        else:
            value = pw
    else:
        value = secret_value(None, overrides)
    parsed = json.loads(value) if value.startswith("{") else None
    if isinstance(parsed, dict) and OAUTH_SIGNING_KEY in parsed:
        parsed = complete_oauth_signing(parsed, _current_value(sm, name))
        value = json.dumps(parsed, separators=(",", ":"))
    elif isinstance(parsed, dict) and "request_state_key" in parsed \
            and not parsed["request_state_key"]:
        # McpStateSecret's sealing key: kept while the emulator has one, else generated.
        existing = _current_value(sm, name) or {}
        parsed["request_state_key"] = existing.get("request_state_key") or secrets.token_hex(32)
        value = json.dumps(parsed, separators=(",", ":"))
    args = {"Name": name, "SecretString": value}
    if props.get("Description"):
        args["Description"] = props["Description"]
    try:
        arn = sm.describe_secret(SecretId=name)["ARN"]
        sm.put_secret_value(SecretId=arn, SecretString=value)
        log(f"secret {name}: exists, value set")
    except sm.exceptions.ResourceNotFoundException:
        arn = sm.create_secret(**args)["ARN"]
        log(f"secret {name}: created")
    r.refs[logical] = arn
    r.attrs[(logical, "Id")] = arn


def bootstrap(endpoint: str, stack_name: str, template_path: str, region: str,
              overrides: dict, parameters: dict[str, str] | None = None) -> dict[str, str]:
    template = load_template(template_path)
    session = boto3.session.Session(aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                                    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY",
                                                                         "test"),
                                    region_name=region)
    cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                 read_timeout=30)
    client = lambda svc: session.client(svc, endpoint_url=endpoint, config=cfg)  # noqa: E731
    try:
        account = client("sts").get_caller_identity()["Account"]
    except Exception:
        account = "123456789012"
    r = Resolver(template, stack_name, region, account, parameters)
    handlers = {
        "AWS::DynamoDB::Table": lambda lid, p: _table(client("dynamodb"), lid, p, r),
        "AWS::SQS::Queue": lambda lid, p: _queue(client("sqs"), lid, p, r),
        "AWS::SecretsManager::Secret": lambda lid, p: _secret(client("secretsmanager"), lid, p,
                                                              r, overrides),
    }
    declared: set[str] = set()  # provider keys some secret of the template takes
    pending: dict[str, dict] = {}
    for lid, res in (template.get("Resources") or {}).items():
        t = res.get("Type", "")
        if t in handlers:
            pending[lid] = res
        elif not t.startswith(NOT_EMULATED_PREFIXES):
            log(f"warning: {lid} ({t}) is not emulated locally")
    # Create in dependency order: a resource whose properties refer to one not yet created waits.
    while pending:
        progressed = False
        for lid in list(pending):
            res = pending[lid]
            try:
                props = r.resolve(res.get("Properties") or {})
            except Unresolved:
                continue
            handlers[res["Type"]](lid, props)
            if res["Type"] == "AWS::SecretsManager::Secret":
                declared |= declared_keys(props)
            del pending[lid]
            progressed = True
        if not progressed:
            missing = {}
            for lid, res in pending.items():
                try:
                    r.resolve(res.get("Properties") or {})
                except Unresolved as e:
                    missing[lid] = str(e)
            raise SystemExit(f"aws_bootstrap: cannot resolve references: {missing}")

    unused = sorted(k for k, v in overrides.items() if v is not None and k not in declared)
    if unused:
        log(f"warning: no secret of the template declares {unused}; left out")

    out: dict[str, str] = {}
    for var, (lid, attr) in EXPORTS.items():
        if lid not in r.refs:
            raise SystemExit(f"aws_bootstrap: template.yaml declares no {lid} (for {var})")
        out[var] = r.refs[lid] if attr == "Ref" else r.attrs[(lid, attr)]
    return out


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", default=env("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"))
    p.add_argument("--stack-name", default=env("STACK_NAME", "dotm-local"))
    p.add_argument("--template", default=str(Path(__file__).resolve().parent.parent
                                               / "template.yaml"))
    p.add_argument("--region", default=env("AWS_REGION", REGION_DEFAULT))
    p.add_argument("--stripe-secret-key", default=env("STRIPE_SECRET_KEY", "sk_test_local"))
    p.add_argument("--stripe-webhook-secret", default=env("STRIPE_WEBHOOK_SECRET", "whsec_local"))
    p.add_argument("--oxio-api-key", default=env("OXIO_API_KEY", "oxio_test_local"))
    p.add_argument("--oxio-auth-token", default=env("OXIO_AUTH_TOKEN", "oxio_token_local"))
    p.add_argument("--resend-api-key", default=env("RESEND_API_KEY", "re_test_local"))
    p.add_argument("--minter-private-key", default=env("DOTM_MINTER_PRIVATE_KEY"),
                   help="the DOTM minter's key (0x-hex; infra/scripts/chain.sh makes one)")
    p.add_argument("--secret-string", default=env("DOTM_PROVIDER_SECRET"),
                   help="the provider keys as one JSON object, instead of the five above; each "
                        "secret takes the keys its template SecretString declares")
    p.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                   help="template parameter value (repeatable)")
    p.add_argument("--new-oauth-signing-secret", action="store_true",
                   help="print a fresh OAuthSigningSecret value (JSON) and exit")
    a = p.parse_args(argv)
    if a.new_oauth_signing_secret:
        print(json.dumps(new_oauth_signing_value(), separators=(",", ":")))
        return
    if a.secret_string:
        try:
            overrides = json.loads(a.secret_string)
        except ValueError as e:
            raise SystemExit(f"aws_bootstrap: --secret-string is not JSON: {e}") from None
    else:
        overrides = {"stripe_secret_key": a.stripe_secret_key,
                     "stripe_webhook_secret": a.stripe_webhook_secret,
                     "oxio_api_key": a.oxio_api_key, "oxio_auth_token": a.oxio_auth_token,
                     "resend_api_key": a.resend_api_key,
                     "minter_private_key": a.minter_private_key}  # None: left out
    params = dict(x.split("=", 1) for x in a.parameter)
    out = bootstrap(a.endpoint, a.stack_name, a.template, a.region, overrides, params)
    for k, v in out.items():
        print(f"export {k}={shlex.quote(v)}")


if __name__ == "__main__":
    main()
