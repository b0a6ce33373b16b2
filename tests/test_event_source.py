"""The local SQS event source (infra/sqs_event_source.py) behaves as Lambda's SQS event source
mapping: real SQS events, batches, ReportBatchItemFailures, whole-batch failures, redrive to the
dead-letter queue, MaximumConcurrency. It runs here against an AWS emulator of its own (moto,
in-process) and a tiny fake of cargo lambda's invoke API, from a template written for the test."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from private_sandbox import free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "infra"))
import aws_bootstrap as ab  # noqa: E402

REGION = "us-east-1"

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 2
Resources:
  Dlq:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-dlq"
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-jobs"
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: 2
  Slow:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-slow"
      VisibilityTimeout: 30
  Worker:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: fake-worker
    Properties:
      CodeUri: .
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 10
            MaximumBatchingWindowInSeconds: 0
            FunctionResponseTypes:
              - ReportBatchItemFailures
            ScalingConfig:
              MaximumConcurrency: 2
  SlowWorker:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: slow-worker
    Properties:
      CodeUri: .
      Timeout: 5
      Events:
        Slow:
          Type: SQS
          Properties:
            Queue: !GetAtt Slow.Arn
            BatchSize: 1
            ScalingConfig:
              MaximumConcurrency: 3
"""


class FakeLambda:
    """cargo lambda's invoke API for two binaries; answers with `respond(binary, event)`."""

    def __init__(self, port: int | None = None):
        self.invocations: list[dict] = []  # {binary, event, at, ids}
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight: dict[str, int] = {}
        self.respond: Callable[[str, dict], tuple[int, dict, bytes]] = self.default
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                parts = self.path.strip("/").split("/")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if parts[:2] != ["2015-03-31", "functions"] or parts[3:] != ["invocations"]:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                binary, event = parts[2], json.loads(body)
                with fake.lock:
                    fake.in_flight += 1
                    fake.max_in_flight[binary] = max(fake.max_in_flight.get(binary, 0),
                                                     fake.in_flight)
                    fake.invocations.append({"binary": binary, "event": event, "at": time.time(),
                                             "ids": [r["messageId"] for r in event["Records"]]})
                try:
                    status, headers, out = fake.respond(binary, event)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass  # the caller gave up (timeout)

            def log_message(self, *a):
                pass

        ThreadingHTTPServer.daemon_threads = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def default(binary: str, event: dict) -> tuple[int, dict, bytes]:
        """Per message body: "ok", "fail" (reported item failure), "boom" (whole-batch error
        the first time a message is seen), "sleep:<s>"."""
        failures = []
        for r in event["Records"]:
            body = r["body"]
            if body.startswith("sleep:"):
                time.sleep(float(body.split(":")[1]))
            if body.startswith("fail"):
                failures.append({"itemIdentifier": r["messageId"]})
            if body.startswith("boom") and r["attributes"]["ApproximateReceiveCount"] == "1":
                return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(
                    {"errorType": "Boom", "errorMessage": "first delivery fails"}).encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"batchItemFailures": failures}).encode()

    def bodies(self, binary: str = "fake-worker") -> list[str]:
        with self.lock:
            return [r["body"] for inv in self.invocations if inv["binary"] == binary
                    for r in inv["event"]["Records"]]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def sqs_client(url: str):
    return boto3.client("sqs", endpoint_url=url, region_name=REGION, aws_access_key_id="test",
                        aws_secret_access_key="test")


class Env:
    def __init__(self, moto_url: str, lambda_port: int):
        self.stack = f"es{uuid.uuid4().hex[:8]}"
        self.dir = tempfile.TemporaryDirectory()
        self.template = Path(self.dir.name) / "template.yaml"
        self.template.write_text(TEMPLATE)
        try:  # creates the queues; then misses the table and secret it would export: fine here
            ab.bootstrap(moto_url, self.stack, str(self.template), REGION, {})
        except SystemExit as e:
            assert "declares no" in str(e), e
        self.sqs = sqs_client(moto_url)
        self.jobs = self.sqs.get_queue_url(QueueName=f"{self.stack}-jobs")["QueueUrl"]
        self.slow = self.sqs.get_queue_url(QueueName=f"{self.stack}-slow")["QueueUrl"]
        self.dlq = self.sqs.get_queue_url(QueueName=f"{self.stack}-dlq")["QueueUrl"]
        self.log = open(Path(self.dir.name) / "event_source.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(ROOT / "infra" / "sqs_event_source.py"),
             "--template", str(self.template), "--stack-name", self.stack,
             "--endpoint", moto_url, "--region", REGION, "--lambda-port", str(lambda_port),
             "--invoke-slack", "1"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def lines(self) -> list[dict]:
        self.log.flush()
        return [json.loads(x) for x in Path(self.log.name).read_text().splitlines()
                if x.startswith("{")]

    def count(self, url: str) -> int:
        a = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return sum(int(v) for v in a.values())

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        self.dir.cleanup()


@pytest.fixture
def fake():
    f = FakeLambda()
    yield f
    f.close()


@pytest.fixture
def env(moto_url, fake):
    e = Env(moto_url, fake.port)
    yield e
    e.close()


def wait_for(pred, timeout: float = 20.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    v = pred()
    assert v, f"timed out waiting for {what}"
    return v


def outcomes(env: Env, at_least: int) -> list[str]:
    """The outcomes of the batches logged so far, once `at_least` are there.

    The event source logs a batch after its invocation returns and its messages are deleted, so a
    line can trail what a test waited on (an empty queue, a fake's call count) by a moment."""
    def logged():
        got = [x["outcome"] for x in env.lines() if x.get("message_ids")]
        return got if len(got) >= at_least else None

    return wait_for(logged, what=f"{at_least} batch log lines")


def dlq_bodies(env: Env) -> list[str]:
    out = []
    for _ in range(5):
        got = env.sqs.receive_message(QueueUrl=env.dlq, MaxNumberOfMessages=10,
                                      VisibilityTimeout=30).get("Messages", [])
        out += [m["Body"] for m in got]
        if not got:
            break
    return out


# --------------------------------------------------------------------------- tests


def test_a_message_becomes_a_real_sqs_event_and_is_deleted_on_success(env, fake):
    sent = env.sqs.send_message(QueueUrl=env.jobs, MessageBody='{"purchase_id": "in_1"}',
                                MessageAttributes={"kind": {"DataType": "String",
                                                            "StringValue": "activation"}})
    wait_for(lambda: fake.invocations, what="an invocation")
    inv = fake.invocations[0]
    assert inv["binary"] == "fake-worker"
    [rec] = inv["event"]["Records"]
    arn = env.sqs.get_queue_attributes(QueueUrl=env.jobs, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    assert rec["messageId"] == sent["MessageId"]
    assert rec["receiptHandle"]
    assert rec["body"] == '{"purchase_id": "in_1"}'
    assert rec["md5OfBody"] == hashlib.md5(rec["body"].encode()).hexdigest()
    assert rec["eventSource"] == "aws:sqs" and rec["eventSourceARN"] == arn
    assert rec["awsRegion"] == REGION
    attrs = rec["attributes"]
    assert attrs["ApproximateReceiveCount"] == "1"
    for k in ("SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"):
        assert attrs[k], (k, attrs)
    assert int(attrs["SentTimestamp"]) <= int(attrs["ApproximateFirstReceiveTimestamp"])
    assert rec["messageAttributes"] == {"kind": {"stringValue": "activation",
                                                 "stringListValues": [], "binaryListValues": [],
                                                 "dataType": "String"}}
    wait_for(lambda: env.count(env.jobs) == 0, what="the message to be deleted")
    line = wait_for(lambda: [x for x in env.lines() if x.get("message_ids")], what="a log line")[0]
    assert line["outcome"] == "ok" and line["deleted"] == 1 and line["batch"] == 1


def test_reported_item_failures_stay_and_are_redriven_others_are_deleted(env, fake):
    bodies = ["ok-1", "fail-1", "ok-2", "fail-2", "ok-3"]
    env.sqs.send_message_batch(QueueUrl=env.jobs, Entries=[
        {"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
    # maxReceiveCount 2, visibility 1 s: each failing message is delivered twice, then redriven.
    wait_for(lambda: sorted(dlq_bodies(env)) == ["fail-1", "fail-2"] or None, timeout=30,
             what="the failing messages in the DLQ")
    seen = fake.bodies()
    for b in ("ok-1", "ok-2", "ok-3"):
        assert seen.count(b) == 1, (b, seen)  # deleted after its one successful delivery
    for b in ("fail-1", "fail-2"):
        assert seen.count(b) == 2, (b, seen)
    assert env.count(env.jobs) == 0
    seen = wait_for(lambda: "partial" in outcomes(env, 1) and outcomes(env, 1),
                    what="a partial batch's log line")
    assert "partial" in seen, seen


def test_a_function_error_leaves_the_whole_batch(env, fake):
    env.sqs.send_message_batch(QueueUrl=env.jobs, Entries=[
        {"Id": "0", "MessageBody": "boom"}, {"Id": "1", "MessageBody": "ok-with-boom"}])
    wait_for(lambda: env.count(env.jobs) == 0 and len(fake.bodies()) >= 3, timeout=20,
             what="the batch to be retried and deleted")
    seen = fake.bodies()
    # Both were in the failed batch (or in one of their own): whatever shared the boom's batch
    # came back; boom itself was delivered exactly twice, and nothing reached the DLQ.
    assert seen.count("boom") == 2, seen
    first = fake.invocations[0]["event"]["Records"]
    if len(first) == 2:
        assert seen.count("ok-with-boom") == 2, seen
    assert dlq_bodies(env) == []
    errors = wait_for(lambda: [x for x in env.lines() if x.get("outcome") == "error"],
                      what="the failed batch's log line")
    assert errors and "Boom" in errors[0]["error"], env.lines()


@pytest.mark.parametrize("bad", ["", "not-a-message-id", None])
def test_a_bad_item_identifier_fails_the_whole_batch(env, fake, bad):
    calls = []

    def respond(binary, event):
        calls.append([r["body"] for r in event["Records"]])
        if len(calls) == 1:
            item = {"itemIdentifier": bad} if bad is not None else {"itemId": "x"}
            return 200, {}, json.dumps({"batchItemFailures": [item]}).encode()
        return 200, {}, b'{"batchItemFailures": []}'

    fake.respond = respond
    env.sqs.send_message(QueueUrl=env.jobs, MessageBody="only")
    wait_for(lambda: len(calls) >= 2 and env.count(env.jobs) == 0, timeout=20,
             what="a redelivery after the bad answer")
    assert calls[:2] == [["only"], ["only"]]
    assert outcomes(env, 2)[:2] == ["error", "ok"]


def test_an_invalid_json_answer_or_http_500_fails_the_batch_and_empty_answers_succeed(env, fake):
    answers = [(200, b"not json"), (500, b'{"message": "internal"}'), (200, b""), (200, b"null")]
    calls = []

    def respond(binary, event):
        calls.append(event["Records"][0]["body"])
        status, body = answers[min(len(calls), len(answers)) - 1]
        return status, {}, body

    fake.respond = respond
    env.sqs.send_message(QueueUrl=env.jobs, MessageBody="a")
    wait_for(lambda: len(calls) >= 2, timeout=20, what="two deliveries")
    # After two failed receives (maxReceiveCount 2) the message is redriven, as at AWS.
    wait_for(lambda: dlq_bodies(env) == ["a"] or None, timeout=20, what="redrive")
    assert calls == ["a", "a"]
    env.sqs.send_message(QueueUrl=env.jobs, MessageBody="b")
    env.sqs.send_message(QueueUrl=env.jobs, MessageBody="c")
    wait_for(lambda: env.count(env.jobs) == 0 and len(calls) >= 4, timeout=20,
             what="empty answers to count as success")
    assert sorted(calls[2:]) == ["b", "c"]


def test_a_timed_out_invoke_leaves_the_batch(env, fake):
    # The worker's Timeout is 2 s (+1 s slack here); the first delivery sleeps 4 s.
    calls = []

    def respond(binary, event):
        calls.append(time.time())
        if len(calls) == 1:
            time.sleep(4)
        return 200, {}, b"{}"

    fake.respond = respond
    env.sqs.send_message(QueueUrl=env.jobs, MessageBody="slow")
    # (The visibility timeout is 1 s, so the redelivery may even overtake the timed-out call.)
    timeouts = wait_for(lambda: [x for x in env.lines() if x.get("outcome") == "error"],
                        timeout=20, what="the timed-out invoke's log line")
    assert "invoke failed" in timeouts[0]["error"] and timeouts[0]["deleted"] == 0, timeouts
    wait_for(lambda: len(calls) >= 2 and env.count(env.jobs) == 0, timeout=20,
             what="a redelivery after the timeout")


def test_at_most_maximum_concurrency_batches_in_flight(env, fake):
    # SlowWorker: BatchSize 1, MaximumConcurrency 3; each invoke takes 0.6 s.
    env.sqs.send_message_batch(QueueUrl=env.slow, Entries=[
        {"Id": str(i), "MessageBody": "sleep:0.6"} for i in range(9)])
    wait_for(lambda: env.count(env.slow) == 0, timeout=30, what="all nine to be handled")
    assert fake.bodies("slow-worker") == ["sleep:0.6"] * 9
    assert fake.max_in_flight["slow-worker"] == 3, fake.max_in_flight
    assert all(len(i["ids"]) == 1 for i in fake.invocations if i["binary"] == "slow-worker")


def test_messages_wait_for_the_function_to_listen(moto_url):
    """Started before cargo lambda listens: nothing is lost or redriven, it is delivered once."""
    port = free_port()
    e = Env(moto_url, port)
    f = None
    try:
        e.sqs.send_message(QueueUrl=e.jobs, MessageBody="early")
        time.sleep(3)  # the event source is up and cannot reach the function
        assert e.count(e.jobs) == 1
        f = FakeLambda(port)
        wait_for(lambda: f.bodies() == ["early"] and e.count(e.jobs) == 0, timeout=20,
                 what="delivery once the function listens")
        assert dlq_bodies(e) == []
    finally:
        e.close()
        if f:
            f.close()
