"""The local emulator's shortcuts (infra/moto_server.py) answer exactly as moto does without
them: a Query of a table's own key (read from its partition instead of sorting the whole table)
gives the same items in the same order, pages and all; a received message is checked against
the queue's retention period (read directly instead of computing every queue attribute) with
the same verdict. In-process (moto's mock), on a table and a queue of their own."""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

ROOT = Path(__file__).resolve().parents[1]


def load_launcher():
    spec = importlib.util.spec_from_file_location("moto_server", ROOT / "infra" / "moto_server.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["moto_server_under_test"] = module
    spec.loader.exec_module(module)
    return module


def queries():
    """Queries of every shape our adapters send: a whole partition, begins_with, ranges, newest
    first, filters, projections, small pages."""
    for pk in ["USER#a", "USER#b", "USER#none", "QUEUE"]:
        yield {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": pk}}}
        yield {"KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
               "ExpressionAttributeValues": {":p": {"S": pk}, ":s": {"S": "ACTIVATION#"}},
               "ScanIndexForward": False}
        yield {"KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
               "ExpressionAttributeValues": {":p": {"S": pk}, ":a": {"S": "B"}, ":b": {"S": "P"}}}
        yield {"KeyConditionExpression": "pk = :p", "FilterExpression": "n > :n",
               "ExpressionAttributeValues": {":p": {"S": pk}, ":n": {"N": "40"}},
               "ProjectionExpression": "sk, n", "Limit": 7}


def run_all(ddb) -> list:
    answers = []
    for q in queries():
        pages, start = [], None
        while True:
            args = dict(q, TableName="t", ConsistentRead=True)
            if start:
                args["ExclusiveStartKey"] = start
            r = ddb.query(**args)
            pages.append((r["Items"], r.get("LastEvaluatedKey")))
            start = r.get("LastEvaluatedKey")
            if not start:
                break
        answers.append(pages)
    return answers


@pytest.fixture(autouse=True)
def in_process_only(monkeypatch):
    """The clients must reach moto's mock, not the test stack's emulator that `make test` names
    in AWS_ENDPOINT_URL."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def table():
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}])
        rng = random.Random(7)
        for i in range(400):
            pk = rng.choice(["USER#a", "USER#b", "USER#c", "QUEUE", f"USER#{i}"])
            sk = rng.choice(["ACTIVATION#", "PURCHASE#", "A", "Z", "M"]) + f"{rng.randrange(999):03}"
            ddb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": sk},
                                              "n": {"N": str(rng.randrange(100))}})
        yield ddb


def test_a_partition_query_answers_as_moto_does(table, monkeypatch):
    plain = run_all(table)
    assert any(items for pages in plain for items, _ in pages), "the queries found nothing"
    monkeypatch.setattr(Table, "query", Table.query)  # undone after the test
    load_launcher().read_partitions_directly()
    assert Table.query.__qualname__.startswith("read_partitions_directly")
    assert run_all(table) == plain


def test_a_received_message_is_checked_against_retention_as_moto_does(monkeypatch):
    from moto.sqs.models import SQSBackend, sqs_backends

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        for i in range(6):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
        backend = sqs_backends["123456789012"]["us-east-1"]
        messages = list(backend.get_queue("q")._messages)
        # Sent 0, 30, 59, 61, 120 and 600 s ago against a 60 s retention period.
        for message, age in zip(messages, [0, 30, 59, 61, 120, 600]):
            message.sent_timestamp -= age * 1000
        plain = [backend.is_message_valid_based_on_retention_period("q", m) for m in messages]
        assert plain == [True, True, True, False, False, False]
        monkeypatch.setattr(SQSBackend, "is_message_valid_based_on_retention_period",
                            SQSBackend.is_message_valid_based_on_retention_period)
        load_launcher().check_retention_directly()
        assert [backend.is_message_valid_based_on_retention_period("q", m)
                for m in messages] == plain
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        assert sorted(m["Body"] for m in got) == ["m0", "m1", "m2"]
