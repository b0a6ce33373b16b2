"""What each function may do in AWS, read from template.yaml alone (no stack, no AWS account).

Every function runs under a role of its own, written out in the template; these tests pin the
exact (action, resource) pairs of each role, so a permission is granted on purpose or not at all:
no `*` resources, no SAM policy templates or generated roles (which add managed policies with `*`
resources), only the worker consumes the activation queue. They also pin the queue settings the
worker relies on: visibility >= 6x its timeout, DLQ after ACTIVATION_MAX_ATTEMPTS receives.
"""

from __future__ import annotations

import copy
from pathlib import Path

import sys

import pytest
import yaml

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


def common(log_group: str) -> set[tuple[str, str]]:
    """What every function may do: write its own logs, use the table, read the secret, enqueue."""
    return (
        {(a, f"{log_group}.Arn") for a in ("logs:CreateLogStream", "logs:PutLogEvents")}
        | {(a, "Table.Arn") for a in DYNAMO_ITEMS}
        | {("dynamodb:Query", "${Table.Arn}/index/queue-by-ticket"),
           ("secretsmanager:GetSecretValue", "ProviderSecret"),
           ("sqs:SendMessage", "ActivationQueue.Arn")}
    )


# Function -> (its log group, everything its role allows).
EXPECTED = {
    "ApiFunction": (
        "ApiLogGroup",
        common("ApiLogGroup") | {("sqs:GetQueueAttributes", "ActivationDeadLetterQueue.Arn")},
    ),
    "McpFunction": ("McpLogGroup", common("McpLogGroup")),
    "StripeWebhookFunction": ("StripeWebhookLogGroup", common("StripeWebhookLogGroup")),
    "ActivationWorkerFunction": (
        "ActivationWorkerLogGroup",
        common("ActivationWorkerLogGroup") | {(a, "ActivationQueue.Arn") for a in QUEUE_CONSUMER}
        | {("sqs:SendMessage", "ActivationDeadLetterQueue.Arn")},
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


def test_only_the_worker_consumes_the_activation_queue(template):
    sqs_events = [(lid, name, ev) for lid, fn in functions(template).items()
                  for name, ev in ((fn.get("Properties") or {}).get("Events") or {}).items()
                  if ev.get("Type") == "SQS"]
    assert [(lid, ref(ev["Properties"]["Queue"])) for lid, _, ev in sqs_events] == \
        [("ActivationWorkerFunction", "ActivationQueue.Arn")]
    props = sqs_events[0][2]["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 2 <= int(props["ScalingConfig"]["MaximumConcurrency"]) <= 1000
    for lid in EXPECTED:
        have, _ = grants(template, lid)
        receives = {a for a, r in have if a in QUEUE_CONSUMER and r == "ActivationQueue.Arn"}
        assert not receives or lid == "ActivationWorkerFunction", (lid, receives)


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
