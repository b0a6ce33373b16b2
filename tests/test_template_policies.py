"""What each function may do in AWS, read from template.yaml alone (no stack, no AWS account).

Every function runs under a role of its own, written out in the template; these tests pin the
exact (action, resource) pairs of each role, so a permission is granted on purpose or not at all:
no `*` resources, no SAM policy templates or generated roles (which add managed policies with `*`
resources), only the worker consumes the activation queue. The provider keys are split over four
secrets so that each is readable only by the functions that use it (the minter key and the carrier
and mail keys by the activation worker alone, the webhook secret by the webhook alone), the OAuth
signing keys are in a fifth that only the api function (the authorization server) reads, and a
function's environment names exactly the secrets its role may read. They also pin the queue
settings the worker relies on: visibility >= 6x its timeout, DLQ after ACTIVATION_MAX_ATTEMPTS
receives.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


sys.path.insert(0, str(TEMPLATE.parent / "infra"))
from cfn_yaml import load_template  # noqa: E402


def load() -> dict:
    return load_template(TEMPLATE)


@pytest.fixture
def template() -> dict:
    return load()


def ref(v) -> str:
    """A resource reference as text: Ref X -> "X", GetAtt X.Arn -> "X.Arn", Sub s -> s."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and len(v) == 1:
        (k, arg), = v.items()
        if k == "Ref":
            return arg
        if k == "Fn::GetAtt":
            return ".".join(arg) if isinstance(arg, list) else arg
        if k == "Fn::Sub" and isinstance(arg, str):
            return arg
    return repr(v)


def as_list(v) -> list:
    return v if isinstance(v, list) else [v]


DYNAMO_ITEMS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:Query"}
QUEUE_CONSUMER = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                  "sqs:GetQueueAttributes"}


# Secret -> the JSON keys its SecretString declares (the values are set by hand after deploying).
SECRET_KEYS = {
    "StripeApiSecret": {"stripe_secret_key"},
    "StripeWebhookSecret": {"stripe_webhook_secret"},
    "FulfilmentSecret": {"oxio_api_key", "oxio_auth_token", "resend_api_key"},
    "MinterSecret": {"minter_private_key"},
    "OAuthSigningSecret": {"signing_key_pkcs8", "public_jwk", "state_key"},
    "McpStateSecret": {"request_state_key"},
}

# Function -> {environment variable: the secret whose id (Ref) it holds}: the secrets it may read.
SECRET_ENV = {
    "ApiFunction": {"STRIPE_API_SECRET_ID": "StripeApiSecret",
                    "OAUTH_SIGNING_SECRET_ID": "OAuthSigningSecret"},
    "McpFunction": {"STRIPE_API_SECRET_ID": "StripeApiSecret",
                    "MCP_STATE_SECRET_ID": "McpStateSecret"},
    "StripeWebhookFunction": {"STRIPE_WEBHOOK_SECRET_ID": "StripeWebhookSecret"},
    "ActivationWorkerFunction": {"FULFILMENT_SECRET_ID": "FulfilmentSecret"},
    "RewardMinterFunction": {"MINTER_SECRET_ID": "MinterSecret"},
}


def common(log_group: str, fn: str) -> set[tuple[str, str]]:
    """What every function may do: write its own logs, use the table, read its own secrets,
    enqueue."""
    return (
        {(a, f"{log_group}.Arn") for a in ("logs:CreateLogStream", "logs:PutLogEvents")}
        | {(a, "Table.Arn") for a in DYNAMO_ITEMS}
        | {("dynamodb:Query", "${Table.Arn}/index/queue-by-ticket"),
           ("sqs:SendMessage", "ActivationQueue.Arn")}
        | {("secretsmanager:GetSecretValue", secret) for secret in SECRET_ENV[fn].values()}
    )


REQUEST_MINTS = {("sqs:SendMessage", "MintQueue.Arn")}

# Function -> (its log group, everything its role allows).
EXPECTED = {
    "ApiFunction": (
        "ApiLogGroup",
        common("ApiLogGroup", "ApiFunction") | REQUEST_MINTS
        | {("sqs:GetQueueAttributes", "ActivationDeadLetterQueue.Arn")},
    ),
    "McpFunction": ("McpLogGroup", common("McpLogGroup", "McpFunction")),
    "StripeWebhookFunction": ("StripeWebhookLogGroup",
                              common("StripeWebhookLogGroup", "StripeWebhookFunction")
                              | REQUEST_MINTS),
    "ActivationWorkerFunction": (
        "ActivationWorkerLogGroup",
        common("ActivationWorkerLogGroup", "ActivationWorkerFunction") | REQUEST_MINTS
        | {(a, "ActivationQueue.Arn") for a in QUEUE_CONSUMER}
        | {("sqs:SendMessage", "ActivationDeadLetterQueue.Arn")},
    ),
    # The minter needs no queue position and sends no activation: its own logs, the table,
    # its key, and its queue.
    "RewardMinterFunction": (
        "RewardMinterLogGroup",
        {(a, "RewardMinterLogGroup.Arn") for a in ("logs:CreateLogStream", "logs:PutLogEvents")}
        | {(a, "Table.Arn") for a in DYNAMO_ITEMS}
        | {("secretsmanager:GetSecretValue", "MinterSecret")}
        | REQUEST_MINTS
        | {(a, "MintQueue.Arn") for a in QUEUE_CONSUMER},
    ),
}


def functions(t: dict) -> dict[str, dict]:
    return {lid: r for lid, r in t["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def role_of(t: dict, lid: str) -> tuple[str | None, dict | None]:
    role = (functions(t)[lid].get("Properties") or {}).get("Role")
    name = ref(role).removesuffix(".Arn") if role is not None else None
    return name, t["Resources"].get(name) if name else None


def grants(t: dict, lid: str) -> tuple[set[tuple[str, str]], list[str]]:
    """(action, resource) pairs a function's role allows, and what is wrong with the role."""
    problems: list[str] = []
    props = functions(t)[lid].get("Properties") or {}
    if "Policies" in props:
        problems.append(f"{lid}: has SAM Policies (SAM then generates the role); use Role")
    name, role = role_of(t, lid)
    if role is None or role.get("Type") != "AWS::IAM::Role":
        problems.append(f"{lid}: Role is not !GetAtt <an AWS::IAM::Role in this template>.Arn")
        return set(), problems
    rp = role.get("Properties") or {}
    for key in ("ManagedPolicyArns", "PermissionsBoundary"):
        if key in rp:
            problems.append(f"{name}: {key} is set; write the statements out instead")
    trust = rp["AssumeRolePolicyDocument"]["Statement"]
    principals = [s.get("Principal") for s in trust]
    if principals != [{"Service": "lambda.amazonaws.com"}] or \
            as_list(trust[0].get("Action")) != ["sts:AssumeRole"]:
        problems.append(f"{name}: trusted by {principals}, not only by Lambda")
    pairs: set[tuple[str, str]] = set()
    for policy in rp.get("Policies") or []:
        for st in policy["PolicyDocument"]["Statement"]:
            if st.get("Effect") != "Allow" or "NotAction" in st or "NotResource" in st:
                problems.append(f"{name}: statement {st.get('Sid')} is not a plain Allow")
            if "Condition" in st:
                problems.append(f"{name}: statement {st.get('Sid')} has a Condition; pin it here")
            for action in as_list(st.get("Action")):
                for resource in as_list(st.get("Resource")):
                    r = ref(resource)
                    if "*" in action or r == "*" or r.endswith(":*") or "/*" in r:
                        problems.append(f"{name}: wildcard in {action} on {r}")
                    pairs.add((action, r))
    # Any other policy resource attached to the role counts too.
    for plid, res in t["Resources"].items():
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            attached = [ref(x) for x in as_list((res.get("Properties") or {}).get("Roles") or [])]
            attached.append(ref((res.get("Properties") or {}).get("RoleName")))
            if name in attached:
                problems.append(f"{plid}: another policy on {name}")
    return pairs, problems


def policy_violations(t: dict) -> list[str]:
    out: list[str] = []
    if set(functions(t)) != set(EXPECTED):
        out.append(f"functions {sorted(functions(t))} != {sorted(EXPECTED)}")
    roles = {}
    for lid, (log_group, want) in EXPECTED.items():
        if lid not in functions(t):
            continue
        have, problems = grants(t, lid)
        out += problems
        for a, r in sorted(have - want):
            out.append(f"{lid}: allowed {a} on {r}, which it does not need")
        for a, r in sorted(want - have):
            out.append(f"{lid}: lacks {a} on {r}")
        roles.setdefault(role_of(t, lid)[0], []).append(lid)
        logging = (functions(t)[lid].get("Properties") or {}).get("LoggingConfig") or {}
        if ref(logging.get("LogGroup")) != log_group:
            out.append(f"{lid}: logs to {logging.get('LogGroup')}, not its own {log_group}")
    for role, users in roles.items():
        if role and len(users) > 1:
            out.append(f"{role} is shared by {users}; each function gets its own role")
    return out


def test_each_function_may_do_exactly_what_it_needs(template):
    assert policy_violations(template) == []


@pytest.mark.parametrize("mutation, needle", [
    (lambda t: t["Resources"]["ApiRole"]["Properties"]["Policies"][0]["PolicyDocument"]
     ["Statement"].append({"Effect": "Allow", "Action": "sqs:ReceiveMessage",
                           "Resource": {"Fn::GetAtt": ["ActivationQueue", "Arn"]}}),
     "ApiFunction: allowed sqs:ReceiveMessage on ActivationQueue.Arn"),
    (lambda t: t["Resources"]["McpRole"]["Properties"]["Policies"][0]["PolicyDocument"]
     ["Statement"][1].update(Resource="*"),
     "McpRole: wildcard in dynamodb:GetItem on *"),
    (lambda t: t["Resources"]["ActivationWorkerRole"]["Properties"]["Policies"][0]
     ["PolicyDocument"]["Statement"].pop(),
     "ActivationWorkerFunction: lacks sqs:ReceiveMessage on ActivationQueue.Arn"),
    (lambda t: t["Resources"]["StripeWebhookFunction"]["Properties"].update(
        Policies=[{"DynamoDBCrudPolicy": {"TableName": {"Ref": "Table"}}}]),
     "StripeWebhookFunction: has SAM Policies"),
    (lambda t: t["Resources"]["ApiRole"]["Properties"].update(
        ManagedPolicyArns=["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]),
     "ApiRole: ManagedPolicyArns is set"),
    (lambda t: t["Resources"]["McpFunction"]["Properties"].update(
        Role={"Fn::GetAtt": ["ApiRole", "Arn"]}),
     "ApiRole is shared by"),
])
def test_the_policy_check_notices(template, mutation, needle):
    """The check above is not vacuous: each kind of excess or gap is reported."""
    changed = copy.deepcopy(template)
    mutation(changed)
    found = "\n".join(policy_violations(changed))
    assert needle in found, found


def test_each_queue_has_its_one_consumer(template):
    sqs_events = [(lid, name, ev) for lid, fn in functions(template).items()
                  for name, ev in ((fn.get("Properties") or {}).get("Events") or {}).items()
                  if ev.get("Type") == "SQS"]
    consumers = {ref(ev["Properties"]["Queue"]): lid for lid, _, ev in sqs_events}
    assert consumers == {"ActivationQueue.Arn": "ActivationWorkerFunction",
                         "MintQueue.Arn": "RewardMinterFunction"}, sqs_events
    for _, _, ev in sqs_events:
        props = ev["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert 2 <= int(props["ScalingConfig"]["MaximumConcurrency"]) <= 1000
    for lid in EXPECTED:
        have, _ = grants(template, lid)
        for queue, consumer in consumers.items():
            receives = {a for a, r in have if a in QUEUE_CONSUMER and r == queue}
            assert not receives or lid == consumer, (lid, queue, receives)


def test_one_minter_at_a_time_one_reward_per_message_with_room_for_receipts(template):
    props = functions(template)["RewardMinterFunction"]["Properties"]
    assert int(props["ReservedConcurrentExecutions"]) == 1
    assert props["Events"]["Mints"]["Properties"]["BatchSize"] == 1
    timeout = int(_setting(template, "RewardMinterFunction", "Timeout"))
    # A mint call gives up after 90 s of receipt waits and fee-bumped replacements
    # (shared/src/adapters/chain.rs), within the function's timeout.
    assert timeout >= 90
    queue = template["Resources"]["MintQueue"]["Properties"]
    assert int(queue["VisibilityTimeout"]) >= 6 * timeout
    assert ref(queue["RedrivePolicy"]["deadLetterTargetArn"]) == "MintDeadLetterQueue.Arn"
    # The activation worker no longer holds the key, nor waits for receipts.
    assert "MINTER_SECRET_ID" not in _env(template, "ActivationWorkerFunction")


def _setting(template: dict, lid: str, key: str):
    """A function property, or its Globals default."""
    props = functions(template)[lid].get("Properties") or {}
    if key in props:
        return props[key]
    return template["Globals"]["Function"][key]


def _env(template: dict, lid: str) -> dict:
    env = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    env.update(((functions(template)[lid].get("Properties") or {}).get("Environment") or {})
               .get("Variables") or {})
    return env


def test_queue_visibility_covers_six_worker_timeouts(template):
    queue = template["Resources"]["ActivationQueue"]["Properties"]
    timeout = int(_setting(template, "ActivationWorkerFunction", "Timeout"))
    assert int(queue["VisibilityTimeout"]) >= 6 * timeout


def test_dead_letter_after_exactly_the_workers_attempts(template):
    redrive = template["Resources"]["ActivationQueue"]["Properties"]["RedrivePolicy"]
    assert ref(redrive["deadLetterTargetArn"]) == "ActivationDeadLetterQueue.Arn"
    attempts = _env(template, "ActivationWorkerFunction")["ACTIVATION_MAX_ATTEMPTS"]
    assert int(redrive["maxReceiveCount"]) == int(attempts)
    # The DLQ keeps what it gets long enough to look at it and redrive (14 days, the maximum).
    dlq = template["Resources"]["ActivationDeadLetterQueue"]["Properties"]
    assert int(dlq["MessageRetentionPeriod"]) == 1209600


# ------------------------------------------------------------------------------------ secrets
# Who can read which provider key. Independent of EXPECTED above: these look at every statement
# of a function's role for anything that could reach a secret (any secretsmanager action, action
# wildcards, `*` or wildcard resources, NotAction/NotResource), not only at the pinned pairs.


def secrets_of(t: dict) -> set[str]:
    return {lid for lid, r in t["Resources"].items()
            if r["Type"] == "AWS::SecretsManager::Secret"}


def mentions(v, lid: str) -> bool:
    """Whether a (long-form) template value refers to resource `lid`: Ref, GetAtt or ${...}."""
    if isinstance(v, list):
        return any(mentions(x, lid) for x in v)
    if isinstance(v, dict):
        if v.get("Ref") == lid:
            return True
        att = v.get("Fn::GetAtt")
        if att is not None and (att[0] if isinstance(att, list) else str(att).split(".")[0]) == lid:
            return True
        return any(mentions(x, lid) for x in v.values())
    if isinstance(v, str):
        return "${" + lid + "}" in v or "${" + lid + "." in v
    return False


def role_statements(t: dict, lid: str) -> list[dict]:
    """Every policy statement of a function's role (inline policies and attached policy
    resources)."""
    name, role = role_of(t, lid)
    if role is None:
        return []
    docs = [p["PolicyDocument"] for p in (role.get("Properties") or {}).get("Policies") or []]
    for res in t["Resources"].values():
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            props = res.get("Properties") or {}
            attached = [ref(x) for x in as_list(props.get("Roles") or [])]
            attached.append(ref(props.get("RoleName")))
            if name in attached:
                docs.append(props["PolicyDocument"])
    return [st for doc in docs for st in as_list(doc["Statement"])]


def _may_touch_secrets(action) -> bool:
    """An action that is, or may match, a Secrets Manager action (IAM actions ignore case)."""
    a = str(action).lower()
    return a.startswith("secretsmanager:") or \
        fnmatch.fnmatchcase("secretsmanager:getsecretvalue", a)


def _wildcard(resource) -> bool:
    r = ref(resource)
    return isinstance(r, str) and "*" in r


def readers(t: dict, secret: str) -> dict[str, list[str]]:
    """Function -> the statements (by Sid) of its role that could let it read `secret`."""
    out: dict[str, list[str]] = {}
    for lid in functions(t):
        for st in role_statements(t, lid):
            if st.get("Effect") != "Allow":
                continue
            if "NotAction" in st:
                action_hits = True  # "everything but ..." may well include secretsmanager:*
            else:
                action_hits = any(_may_touch_secrets(a) for a in as_list(st.get("Action")))
            if "NotResource" in st:
                resource_hits = not mentions(st["NotResource"], secret)
            else:
                resource_hits = any(mentions(r, secret) or _wildcard(r)
                                    for r in as_list(st.get("Resource")))
            if action_hits and resource_hits:
                out.setdefault(lid, []).append(str(st.get("Sid")))
    return out


# Secret -> the only functions that may read it.
READERS = {
    "StripeApiSecret": {"ApiFunction", "McpFunction"},
    "StripeWebhookSecret": {"StripeWebhookFunction"},
    "FulfilmentSecret": {"ActivationWorkerFunction"},
    "MinterSecret": {"RewardMinterFunction"},
    "OAuthSigningSecret": {"ApiFunction"},
    "McpStateSecret": {"McpFunction"},
}


def secret_violations(t: dict) -> list[str]:
    out: list[str] = []
    if secrets_of(t) != set(READERS):
        out.append(f"secrets {sorted(secrets_of(t))} != {sorted(READERS)}")
    for secret, allowed in READERS.items():
        for lid, sids in sorted(readers(t, secret).items()):
            if lid not in allowed:
                out.append(f"{lid} can read {secret} (statements {sids})")
    # No function's role has a `*` (or wildcard) resource on any Secrets Manager action.
    for lid in functions(t):
        for st in role_statements(t, lid):
            if any(_may_touch_secrets(a) for a in as_list(st.get("Action"))) and \
                    any(_wildcard(r) for r in as_list(st.get("Resource"))):
                out.append(f"{lid}: statement {st.get('Sid')} has a wildcard secret resource")
    return out


def env_violations(t: dict) -> list[str]:
    """A function's environment names exactly the secrets it is granted, by the agreed names."""
    out: list[str] = []
    glob = template_globals_env(t)
    for secret in secrets_of(t):
        for var, v in glob.items():
            if mentions(v, secret):
                out.append(f"Globals: {var} names {secret}; name secrets per function")
    for lid in functions(t):
        env = _env(t, lid)
        have = {var: secret for var, v in env.items() for secret in secrets_of(t)
                if mentions(v, secret)}
        plain = {var: ref(env[var]) for var in have}
        want = SECRET_ENV.get(lid, {})
        if plain != want:
            out.append(f"{lid}: secret env {plain} != {want}")
        stray = sorted(v for v in env if v.endswith("SECRET_ID") and v not in want)
        if stray:
            out.append(f"{lid}: env has secret ids {stray} it is not meant to read")
        granted = {r for a, r in grants(t, lid)[0] if a == "secretsmanager:GetSecretValue"}
        if set(have.values()) != granted:
            out.append(f"{lid}: env names secrets {sorted(set(have.values()))}, "
                       f"role may read {sorted(granted)}")
    return out


def template_globals_env(t: dict) -> dict:
    return dict(((t.get("Globals") or {}).get("Function") or {}).get("Environment", {})
                .get("Variables") or {})


def test_the_expected_secret_tables_agree():
    """SECRET_ENV (env and grants per function) and READERS (functions per secret) say the same."""
    assert {s for env in SECRET_ENV.values() for s in env.values()} == set(READERS) \
        == set(SECRET_KEYS)
    for secret, fns in READERS.items():
        assert {fn for fn, env in SECRET_ENV.items() if secret in env.values()} == fns, secret


def test_secrets_declare_exactly_their_keys_and_keep_their_settings(template):
    for secret, keys in SECRET_KEYS.items():
        props = template["Resources"][secret]["Properties"]
        assert set(json.loads(props["SecretString"])) == keys, secret
        assert all(v == "" for v in json.loads(props["SecretString"]).values()), secret
        # Named after the stack, described; removed with the stack like any secret (no Retain).
        assert ref(props["Name"]).startswith("${AWS::StackName}/"), secret
        assert props.get("Description"), secret
        assert "DeletionPolicy" not in template["Resources"][secret], secret
        assert template["Outputs"][f"{secret}Arn"]["Value"] == {"Ref": secret}
    names = [ref(template["Resources"][s]["Properties"]["Name"]) for s in SECRET_KEYS]
    assert len(set(names)) == len(names)
    # Every provider key is in exactly one secret.
    all_keys = [k for keys in SECRET_KEYS.values() for k in keys]
    assert len(all_keys) == len(set(all_keys))


@pytest.mark.parametrize("fn", ["ApiFunction", "McpFunction", "StripeWebhookFunction",
                                "ActivationWorkerFunction"])
def test_only_the_minter_can_read_the_minter_key(template, fn):
    """No statement of the api's, mcp's, webhook's or activation worker's role grants a
    Secrets Manager action on MinterSecret, or has a `*` resource at all."""
    for st in role_statements(template, fn):
        actions, resources = as_list(st.get("Action")), as_list(st.get("Resource"))
        assert "NotAction" not in st and "NotResource" not in st, (fn, st.get("Sid"))
        assert not any(_wildcard(r) for r in resources), (fn, st.get("Sid"))
        if any(mentions(r, "MinterSecret") for r in resources):
            assert not any(_may_touch_secrets(a) for a in actions), (fn, st.get("Sid"))
    assert fn not in readers(template, "MinterSecret")


def test_each_secret_is_readable_only_by_its_functions(template):
    assert secret_violations(template) == []
    assert {s: set(readers(template, s)) for s in READERS} == READERS


def test_each_function_env_names_only_the_secrets_it_may_read(template):
    assert env_violations(template) == []


def _add_statement(role: str, st: dict):
    return lambda t: t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"].append(st)


def _set_env(fn: str, var: str, value):
    return lambda t: t["Resources"][fn]["Properties"].setdefault(
        "Environment", {"Variables": {}})["Variables"].update({var: value})


@pytest.mark.parametrize("mutation, needle", [
    (_add_statement("ApiRole", {"Sid": "Mint", "Effect": "Allow",
                                "Action": "secretsmanager:GetSecretValue",
                                "Resource": {"Ref": "MinterSecret"}}),
     "ApiFunction can read MinterSecret (statements ['Mint'])"),
    (_add_statement("McpRole", {"Sid": "All", "Effect": "Allow",
                                "Action": "secretsmanager:*", "Resource": "*"}),
     "McpFunction can read MinterSecret (statements ['All'])"),
    (_add_statement("StripeWebhookRole", {"Sid": "Sub", "Effect": "Allow",
                                          "Action": "secretsmanager:GetSecretValue",
                                          "Resource": {"Fn::Sub": "${FulfilmentSecret}"}}),
     "StripeWebhookFunction can read FulfilmentSecret (statements ['Sub'])"),
    (_add_statement("ApiRole", {"Sid": "Prefix", "Effect": "Allow", "Action": "*",
                                "Resource": {"Fn::Sub": "arn:aws:secretsmanager:${AWS::Region}:"
                                                        "${AWS::AccountId}:secret:x/*"}}),
     "ApiFunction: statement Prefix has a wildcard secret resource"),
    (_add_statement("ActivationWorkerRole", {"Sid": "Hook", "Effect": "Allow",
                                             "Action": "secretsmanager:GetSecretValue",
                                             "Resource": {"Ref": "StripeWebhookSecret"}}),
     "ActivationWorkerFunction can read StripeWebhookSecret (statements ['Hook'])"),
    (_add_statement("McpRole", {"Sid": "Sign", "Effect": "Allow",
                                "Action": "secretsmanager:GetSecretValue",
                                "Resource": {"Ref": "OAuthSigningSecret"}}),
     "McpFunction can read OAuthSigningSecret (statements ['Sign'])"),
])
def test_the_secret_check_notices(template, mutation, needle):
    changed = copy.deepcopy(template)
    mutation(changed)
    found = "\n".join(secret_violations(changed))
    assert needle in found, found


@pytest.mark.parametrize("mutation, needle", [
    (lambda t: t["Globals"]["Function"]["Environment"]["Variables"].update(
        MINTER_SECRET_ID={"Ref": "MinterSecret"}),
     "Globals: MINTER_SECRET_ID names MinterSecret"),
    (_set_env("McpFunction", "MINTER_SECRET_ID", {"Ref": "MinterSecret"}),
     "McpFunction: env names secrets ['McpStateSecret', 'MinterSecret', 'StripeApiSecret'], "
     "role may read ['McpStateSecret', 'StripeApiSecret']"),
    (_set_env("StripeWebhookFunction", "STRIPE_API_SECRET_ID", "dotm/stripe-api"),
     "StripeWebhookFunction: env has secret ids ['STRIPE_API_SECRET_ID']"),
    (_set_env("ActivationWorkerFunction", "MINTER_SECRET_ID", {"Ref": "MinterSecret"}),
     "ActivationWorkerFunction: env names secrets ['FulfilmentSecret', 'MinterSecret'], role "
     "may read ['FulfilmentSecret']"),
    (lambda t: t["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"].update(
        STRIPE_API_SECRET_ID={"Ref": "StripeWebhookSecret"}),
     "ApiFunction: secret env {'STRIPE_API_SECRET_ID': 'StripeWebhookSecret', "
     "'OAUTH_SIGNING_SECRET_ID': 'OAuthSigningSecret'}"),
    (_set_env("McpFunction", "OAUTH_SIGNING_SECRET_ID", {"Ref": "OAuthSigningSecret"}),
     "McpFunction: env names secrets ['McpStateSecret', 'OAuthSigningSecret', 'StripeApiSecret'], "
     "role may read ['McpStateSecret', 'StripeApiSecret']"),
    (lambda t: t["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
     .pop("OAUTH_SIGNING_SECRET_ID"),
     "ApiFunction: env names secrets ['StripeApiSecret'], role may read "
     "['OAuthSigningSecret', 'StripeApiSecret']"),
])
def test_the_env_check_notices(template, mutation, needle):
    changed = copy.deepcopy(template)
    mutation(changed)
    found = "\n".join(env_violations(changed))
    assert needle in found, found


# ------------------------------------------------------------------------------------- OAuth
# The api function is the OAuth 2.1 authorization server (its signing keys in OAuthSigningSecret,
# the Firebase sign-in page in OAUTH_SIGNIN_URL); the mcp function serves the protected resource
# metadata. Both build their public URLs from PUBLIC_BASE_URL (empty: the request's Host).


def _events(t: dict, lid: str) -> set[tuple[str, str]]:
    return {(ev["Properties"]["Method"], ev["Properties"]["Path"])
            for ev in ((functions(t)[lid].get("Properties") or {}).get("Events") or {}).values()
            if ev.get("Type") == "HttpApi"}


def test_oauth_routes_go_to_the_api_and_the_mcp_function(template):
    assert {("GET", "/.well-known/oauth-authorization-server"), ("ANY", "/oauth/{proxy+}"),
            ("ANY", "/api/{proxy+}")} == _events(template, "ApiFunction")
    assert {("GET", "/.well-known/oauth-protected-resource"),
            ("GET", "/.well-known/oauth-protected-resource/{proxy+}"),
            ("ANY", "/mcp"), ("ANY", "/mcp/{proxy+}"),
            ("GET", "/pay/{token}"), ("POST", "/pay/{token}")} == _events(template, "McpFunction")


def test_oauth_settings_reach_only_the_functions_that_use_them(template):
    params = template["Parameters"]
    for name in ("OAuthSigninUrl", "PublicBaseUrl"):
        assert (params[name]["Type"], params[name]["Default"]) == ("String", ""), name
        assert params[name].get("Description"), name
    assert "id_token" in params["OAuthSigninUrl"]["Description"]
    assert "continue" in params["OAuthSigninUrl"]["Description"]
    assert "OAUTH_SIGNIN_URL" not in template_globals_env(template)
    assert "PUBLIC_BASE_URL" not in template_globals_env(template)
    for lid in functions(template):
        env = _env(template, lid)
        assert ref(env.get("OAUTH_SIGNIN_URL")) == \
            ("OAuthSigninUrl" if lid == "ApiFunction" else "None"), lid
        assert ref(env.get("PUBLIC_BASE_URL")) == \
            ("PublicBaseUrl" if lid in ("ApiFunction", "McpFunction") else "None"), lid
