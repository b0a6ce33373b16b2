"""What the AWS emulator holds equals what template.yaml declares (DynamoDB table, SQS queues with
their redrive policy, the five Secrets Manager secrets, each holding exactly the keys it
declares, the OAuth signing secret with a generated P-256 key), so the local stack cannot drift
from the deploy.

Runs against the emulator of the running stack: AWS_ENDPOINT_URL (set by `make test`, or by
sourcing infra/scripts/providers.sh), stack name from STACK_NAME (default dotm-local).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import sys
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "infra"))
import aws_bootstrap as ab  # noqa: E402

TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def clients():
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        pytest.fail("AWS_ENDPOINT_URL is not set: run under `make test`, or start the emulator "
                    "with providers_start (infra/scripts/providers.sh) and export its variables")
    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"))
    return {s: session.client(s, endpoint_url=endpoint)
            for s in ("dynamodb", "sqs", "secretsmanager", "sts")}


@pytest.fixture(scope="module")
def stack_name() -> str:
    return os.environ.get("STACK_NAME", "dotm-local")


def _resolver(template: dict, clients, stack_name: str) -> ab.Resolver:
    """A resolver that knows every emulated resource's Ref and Arn, as the emulator has them."""
    account = clients["sts"].get_caller_identity()["Account"]
    region = clients["sqs"].meta.region_name
    r = ab.Resolver(template, stack_name, region, account)
    # Names never depend on other resources in our template; resolve them first.
    for lid, res in template["Resources"].items():
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::SQS::Queue":
            name = r.resolve(props.get("QueueName")) or f"{stack_name}-{lid}"
            try:
                url = clients["sqs"].get_queue_url(QueueName=name)["QueueUrl"]
            except clients["sqs"].exceptions.QueueDoesNotExist:
                continue
            r.refs[lid] = url
            r.attrs[(lid, "Arn")] = clients["sqs"].get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        elif res["Type"] == "AWS::DynamoDB::Table":
            r.refs[lid] = r.resolve(props.get("TableName")) or f"{stack_name}-{lid}"
    return r


def drift(template: dict, clients, stack_name: str) -> list[str]:
    """Every difference between the template's data resources and the emulator's, as text."""
    diffs: list[str] = []
    r = _resolver(template, clients, stack_name)
    ddb, sqs, sm = clients["dynamodb"], clients["sqs"], clients["secretsmanager"]
    declared = {"tables": set(), "queues": set(), "secrets": set()}

    for lid, res in template["Resources"].items():
        t = res["Type"]
        if t not in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SecretsManager::Secret"):
            continue
        try:
            props = r.resolve(res.get("Properties") or {})
        except ab.Unresolved as e:
            diffs.append(f"{lid}: refers to {e}, which the emulator does not have")
            continue

        if t == "AWS::DynamoDB::Table":
            name = props.get("TableName") or f"{stack_name}-{lid}"
            declared["tables"].add(name)
            try:
                desc = ddb.describe_table(TableName=name)["Table"]
            except ddb.exceptions.ResourceNotFoundException:
                diffs.append(f"{lid}: table {name} is missing")
                continue
            if desc["KeySchema"] != props["KeySchema"]:
                diffs.append(f"{lid}: KeySchema {desc['KeySchema']} != {props['KeySchema']}")
            have = sorted((a["AttributeName"], a["AttributeType"])
                          for a in desc["AttributeDefinitions"])
            want = sorted((a["AttributeName"], a["AttributeType"])
                          for a in props["AttributeDefinitions"])
            if have != want:
                diffs.append(f"{lid}: AttributeDefinitions {have} != {want}")
            billing = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
            if billing != props.get("BillingMode", "PROVISIONED"):
                diffs.append(f"{lid}: BillingMode {billing} != {props.get('BillingMode')}")
            have_gsi = sorted(g["IndexName"] for g in desc.get("GlobalSecondaryIndexes", []))
            want_gsi = sorted(g["IndexName"] for g in props.get("GlobalSecondaryIndexes", []))
            if have_gsi != want_gsi:
                diffs.append(f"{lid}: GSIs {have_gsi} != {want_gsi}")
            ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            want_ttl = props.get("TimeToLiveSpecification")
            if want_ttl and str(want_ttl.get("Enabled")).lower() == "true":
                if ttl.get("TimeToLiveStatus") != "ENABLED" or \
                        ttl.get("AttributeName") != want_ttl["AttributeName"]:
                    diffs.append(f"{lid}: TTL {ttl} != {want_ttl}")
            elif ttl.get("TimeToLiveStatus") == "ENABLED":
                diffs.append(f"{lid}: TTL enabled in the emulator, not in the template")

        elif t == "AWS::SQS::Queue":
            name = props.get("QueueName") or f"{stack_name}-{lid}"
            declared["queues"].add(name)
            if lid not in r.refs:
                diffs.append(f"{lid}: queue {name} is missing")
                continue
            have = sqs.get_queue_attributes(QueueUrl=r.refs[lid],
                                            AttributeNames=["All"])["Attributes"]
            for k, v in ab.queue_attributes(props).items():
                if k == "RedrivePolicy":
                    h = json.loads(have.get(k, "{}"))
                    w = json.loads(v)
                    if h.get("deadLetterTargetArn") != w["deadLetterTargetArn"] or \
                            int(h.get("maxReceiveCount", -1)) != int(w["maxReceiveCount"]):
                        diffs.append(f"{lid}: RedrivePolicy {h} != {w}")
                elif have.get(k) != v:
                    diffs.append(f"{lid}: {k} {have.get(k)!r} != {v!r}")
            if "RedrivePolicy" not in props and "RedrivePolicy" in have:
                diffs.append(f"{lid}: the emulator's queue has a RedrivePolicy, the template not")

        else:
            name = props.get("Name")
            declared["secrets"].add(name)
            try:
                desc = sm.describe_secret(SecretId=name)
            except sm.exceptions.ResourceNotFoundException:
                diffs.append(f"{lid}: secret {name} is missing")
                continue
            if props.get("Description") and desc.get("Description") != props["Description"]:
                diffs.append(f"{lid}: Description {desc.get('Description')!r} != "
                             f"{props['Description']!r}")
            value = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
            want_keys = set(json.loads(props.get("SecretString") or "{}"))
            if not want_keys <= set(value):
                diffs.append(f"{lid}: secret lacks keys {sorted(want_keys - set(value))}")
            # A key the template puts in another secret must not be here as well: which
            # functions may read a key is decided by the secret it is in.
            if set(value) - want_keys:
                diffs.append(f"{lid}: secret has keys the template does not declare "
                             f"{sorted(set(value) - want_keys)}")

    # Nothing of this stack in the emulator that the template does not declare.
    tables = {n for n in ddb.list_tables()["TableNames"] if n.startswith(stack_name)}
    queues = {u.rsplit("/", 1)[1] for u in sqs.list_queues(
        QueueNamePrefix=stack_name).get("QueueUrls", [])}
    secrets = {s["Name"] for s in sm.list_secrets()["SecretList"]
               if s["Name"].startswith(stack_name)}
    for kind, have in (("tables", tables), ("queues", queues), ("secrets", secrets)):
        extra = have - declared[kind]
        if extra:
            diffs.append(f"{kind} in the emulator that template.yaml does not declare: "
                         f"{sorted(extra)}")
    return diffs


def test_emulator_matches_template(clients, stack_name):
    template = ab.load_template(TEMPLATE)
    kinds = {res["Type"] for res in template["Resources"].values()}
    assert {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SecretsManager::Secret"} <= kinds
    assert drift(template, clients, stack_name) == []


def test_drift_check_notices_a_changed_template(clients, stack_name):
    """The comparison above is not vacuous: a template that differs is reported."""
    template = ab.load_template(TEMPLATE)
    changed = copy.deepcopy(template)
    res = changed["Resources"]
    res["ActivationQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] = 99
    res["ActivationQueue"]["Properties"]["VisibilityTimeout"] = 7
    res["Table"]["Properties"]["TimeToLiveSpecification"]["AttributeName"] = "ttl"
    res["Table"]["Properties"]["AttributeDefinitions"].append(
        {"AttributeName": "gsi1pk", "AttributeType": "S"})
    res["Extra"] = {"Type": "AWS::SQS::Queue",
                    "Properties": {"QueueName": {"Fn::Sub": "${AWS::StackName}-nope"}}}
    # The minter key moved into the Stripe secret (the api could read it), the mail key dropped.
    res["StripeApiSecret"]["Properties"]["SecretString"] = \
        '{"stripe_secret_key":"","minter_private_key":""}'
    res["FulfilmentSecret"]["Properties"]["SecretString"] = '{"oxio_api_key":"","oxio_auth_token":""}'
    diffs = "\n".join(drift(changed, clients, stack_name))
    for needle in ("RedrivePolicy", "VisibilityTimeout", "TTL", "AttributeDefinitions",
                   "nope is missing", "StripeApiSecret: secret lacks keys ['minter_private_key']",
                   "FulfilmentSecret: secret has keys the template does not declare "
                   "['resend_api_key']"):
        assert needle in diffs, diffs


# Secret id variable (in the functions' env) -> the secret it names.
SECRET_VARS = {
    "STRIPE_API_SECRET_ID": "StripeApiSecret",
    "STRIPE_WEBHOOK_SECRET_ID": "StripeWebhookSecret",
    "FULFILMENT_SECRET_ID": "FulfilmentSecret",
    "MINTER_SECRET_ID": "MinterSecret",
    "OAUTH_SIGNING_SECRET_ID": "OAuthSigningSecret",
    "MCP_STATE_SECRET_ID": "McpStateSecret",
}


def test_exported_names_point_at_the_template_resources(clients, stack_name):
    """The functions' env (TABLE_NAME, ACTIVATION_QUEUE_URL, the six secret ids) names them."""
    missing = [v for v in ("TABLE_NAME", "ACTIVATION_QUEUE_URL", *SECRET_VARS)
               if not os.environ.get(v)]
    if missing:
        pytest.fail(f"not set: {missing} (exported by providers_start)")
    template = ab.load_template(TEMPLATE)
    declared = {lid for lid, res in template["Resources"].items()
                if res["Type"] == "AWS::SecretsManager::Secret"}
    assert declared == set(SECRET_VARS.values())
    r = _resolver(template, clients, stack_name)
    assert os.environ["TABLE_NAME"] == r.refs["Table"]
    assert os.environ["ACTIVATION_QUEUE_URL"] == r.refs["ActivationQueue"]
    assert os.environ["MINT_QUEUE_URL"] == r.refs["MintQueue"]
    sm = clients["secretsmanager"]
    values = {}
    for var, lid in SECRET_VARS.items():
        props = template["Resources"][lid]["Properties"]
        secret = sm.describe_secret(SecretId=os.environ[var])
        assert secret["Name"] == r.resolve(props["Name"]), var
        values[lid] = json.loads(sm.get_secret_value(SecretId=os.environ[var])["SecretString"])
        assert set(values[lid]) == set(json.loads(props["SecretString"])), \
            (var, sorted(values[lid]))
    if os.environ.get("STRIPE_WEBHOOK_SECRET"):
        assert values["StripeWebhookSecret"]["stripe_webhook_secret"] == \
            os.environ["STRIPE_WEBHOOK_SECRET"]
    assert values["StripeApiSecret"]["stripe_secret_key"], \
        "the local secret must carry the sandbox's Stripe key"
    assert values["FulfilmentSecret"]["oxio_api_key"] and \
        values["FulfilmentSecret"]["resend_api_key"], \
        "the local secret must carry the sandbox's carrier and mail keys"


def test_the_oauth_signing_secret_holds_a_usable_p256_key(clients):
    """aws_bootstrap generated the OAuth signing keys: a P-256 private key (PKCS#8 DER, base64)
    whose public half is public_jwk (a JSON object with a kid), and a state key."""
    if not os.environ.get("OAUTH_SIGNING_SECRET_ID"):
        pytest.fail("OAUTH_SIGNING_SECRET_ID is not set (exported by providers_start)")
    value = json.loads(clients["secretsmanager"].get_secret_value(
        SecretId=os.environ["OAUTH_SIGNING_SECRET_ID"])["SecretString"])
    key = serialization.load_der_private_key(base64.b64decode(value["signing_key_pkcs8"]),
                                             password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    jwk = value["public_jwk"]
    assert isinstance(jwk, dict), "public_jwk is a JSON object, not a string"
    assert {k: jwk[k] for k in ("kty", "crv", "alg", "use")} == \
        {"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig"}
    assert jwk["kid"] and "d" not in jwk
    def dec(s: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")

    pub = key.public_key().public_numbers()
    assert (dec(jwk["x"]), dec(jwk["y"])) == (pub.x, pub.y)
    assert len(value["state_key"]) >= 32
