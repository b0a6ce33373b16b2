"""What operating the deployed stack relies on, read from template.yaml alone: logs with retention,
alarms that reach someone, a table that survives mistakes, the URLs to hand out.
"""

from __future__ import annotations

import pytest

from test_template_policies import EXPECTED, functions, load, ref


@pytest.fixture
def template() -> dict:
    return load()


def resources(t: dict, type_: str) -> dict[str, dict]:
    return {lid: r for lid, r in t["Resources"].items() if r["Type"] == type_}


def test_logs_are_json_in_own_groups_with_retention(template):
    globals_logging = template["Globals"]["Function"]["LoggingConfig"]
    assert globals_logging["LogFormat"] == "JSON"
    groups = resources(template, "AWS::Logs::LogGroup")
    for lid, (log_group, _) in EXPECTED.items():
        fn = functions(template)[lid]["Properties"]
        props = groups[log_group]["Properties"]
        assert ref(props["RetentionInDays"]) == "LogRetentionDays", log_group
        # The group is named as Lambda would name the function's own group.
        assert ref(props["LogGroupName"]) == "/aws/lambda/" + ref(fn["FunctionName"]), log_group
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30
    for lid, g in groups.items():
        assert ref(g["Properties"]["RetentionInDays"]) == "LogRetentionDays", lid


def _alarms(t: dict) -> list[tuple[str, str, str]]:
    """(namespace, metric, dimension value) of every alarm that notifies the alarm topic."""
    out = []
    for lid, a in resources(t, "AWS::CloudWatch::Alarm").items():
        p = a["Properties"]
        assert [ref(x) for x in p["AlarmActions"]] == ["AlarmTopic"], lid
        assert p.get("TreatMissingData") == "notBreaching", lid
        dims = p.get("Dimensions") or [{"Value": None}]  # a metric of our own has none
        (dim,) = dims
        out.append((p["Namespace"], p["MetricName"], ref(dim["Value"]) if dim["Value"] else None))
    return out


def test_alarms_cover_dlq_queue_age_errors_and_throttles(template):
    have = _alarms(template)
    want = [("AWS/SQS", "ApproximateNumberOfMessagesVisible", "ActivationDeadLetterQueue.QueueName"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "MintDeadLetterQueue.QueueName"),
            ("AWS/SQS", "ApproximateAgeOfOldestMessage", "ActivationQueue.QueueName")]
    want += [("AWS/Lambda", m, fn) for fn in EXPECTED for m in ("Errors", "Throttles")]
    want += [("DOTM", "UnmatchedPayments", None), ("DOTM", "CarrierUnsupported", None),
             ("DOTM", "MailRefused", None), ("DOTM", "ChainMismatch", None)]
    assert sorted(have, key=str) == sorted(want, key=str)
    age = template["Resources"]["ActivationQueueAgeAlarm"]["Properties"]
    assert ref(age["Threshold"]) == "ActivationQueueAgeAlarmSeconds"
    assert template["Parameters"]["ActivationQueueAgeAlarmSeconds"]["Default"] == 7200
    dlq = template["Resources"]["ActivationDeadLetterAlarm"]["Properties"]
    assert (dlq["ComparisonOperator"], int(dlq["Threshold"])) == ("GreaterThanThreshold", 0)


# Log lines with `"fields": {"metric": ...}` that the template counts (and alarms on):
# (metric filter, log group, the field's value, metric name, who logs it).
LOG_METRICS = [
    ("UnmatchedPaymentsMetric", "StripeWebhookLogGroup", "unmatched_payment", "UnmatchedPayments"),
    ("CarrierUnsupportedMetric", "ActivationWorkerLogGroup", "carrier_unsupported",
     "CarrierUnsupported"),  # dotm::app::carrier_line::unsupported
    ("MailRefusedMetric", "ActivationWorkerLogGroup", "mail_refused",
     "MailRefused"),  # dotm::app::mail::deliver
    ("ChainMismatchMetric", "RewardMinterLogGroup", "chain_mismatch",
     "ChainMismatch"),  # dotm::adapters::chain::ChainMinter::check_chain
]


@pytest.mark.parametrize("lid,group,field,metric", LOG_METRICS, ids=[m[0] for m in LOG_METRICS])
def test_log_lines_are_counted_as_metrics(template, lid: str, group: str, field: str,
                                          metric: str) -> None:
    f = template["Resources"][lid]["Properties"]
    assert ref(f["LogGroupName"]) == group
    assert f["FilterPattern"] == f'{{ $.fields.metric = "{field}" }}'
    (t,) = f["MetricTransformations"]
    assert (t["MetricNamespace"], t["MetricName"], t["MetricValue"]) == ("DOTM", metric, "1")


def test_production_never_uses_the_sandbox_line_services_and_names_its_sender(template):
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["CARRIER_LINE_SERVICES"] == "none"
    assert "Default" not in template["Parameters"]["MailFrom"], "a deploy must name its sender"


def test_alarm_email_is_optional(template):
    sub = template["Resources"]["AlarmEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail"
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert ref(sub["Properties"]["TopicArn"]) == "AlarmTopic"


def test_table_is_on_demand_recoverable_and_protected(template):
    table = template["Resources"]["Table"]
    p = table["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert ref(p["DeletionProtectionEnabled"]) == "TableDeletionProtection"
    assert template["Parameters"]["TableDeletionProtection"]["Default"] == "true"
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    (gsi,) = p["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "queue-by-ticket"
    assert [(k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]] == \
        [("queue", "HASH"), ("ticket", "RANGE")]
    types = {a["AttributeName"]: a["AttributeType"] for a in p["AttributeDefinitions"]}
    assert types == {"pk": "S", "sk": "S", "queue": "S", "ticket": "N"}


def test_architecture_is_a_parameter_of_every_function(template):
    param = template["Parameters"]["Architecture"]
    assert set(param["AllowedValues"]) == {"x86_64", "arm64"}
    assert param["Default"] == "x86_64"  # no aarch64 Rust target on the build machine (README)
    assert [ref(a) for a in template["Globals"]["Function"]["Architectures"]] == ["Architecture"]
    for lid, fn in functions(template).items():
        assert "Architectures" not in fn["Properties"], lid
        assert fn["Metadata"]["BuildMethod"] == "rust-cargolambda", lid


def test_cors_allows_the_web_app_and_no_credentials(template):
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert "WebAppOrigins" in repr(cors["AllowOrigins"])
    assert cors["AllowCredentials"] is False
    assert "authorization" in cors["AllowHeaders"]
    assert "*" not in repr(cors["AllowOrigins"])


def test_outputs_name_the_urls_to_hand_out(template):
    out = template["Outputs"]
    for key, path in (("ApiUrl", "/api"), ("McpUrl", "/mcp"),
                      ("StripeWebhookUrl", "/webhooks/stripe")):
        value = ref(out[key]["Value"])
        assert value == "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com" + path
