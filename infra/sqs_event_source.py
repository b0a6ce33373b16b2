#!/usr/bin/env python3
"""Local SQS event source: Lambda's SQS event source mapping for the local stack.

    python infra/sqs_event_source.py --template template.yaml --stack-name dotm-local \
        --endpoint http://127.0.0.1:5000 --lambda-port 9000

For every AWS::Serverless::Function in the template with an `Events: <name>: Type: SQS`, it polls
that queue (in the AWS emulator) and invokes the function through cargo lambda's invoke API
(`POST http://127.0.0.1:<lambda port>/2015-03-31/functions/<binary>/invocations`, the path that
`cargo lambda invoke` uses) as Lambda does:

- batches of up to `BatchSize` messages (default 10), gathered for at most
  `MaximumBatchingWindowInSeconds` (default 0); receives use `AttributeNames=All`,
  `MessageAttributeNames=All` and a 1 s long poll, so a message is picked up at once;
- the event is a real SQS event: `{"Records": [{messageId, receiptHandle, body, attributes,
  messageAttributes, md5OfBody, eventSource: "aws:sqs", eventSourceARN, awsRegion}]}`;
- at most `ScalingConfig.MaximumConcurrency` batches in flight per mapping (default 5 locally);
- success deletes the batch. With `FunctionResponseTypes: [ReportBatchItemFailures]` a response
  `{"batchItemFailures": [{"itemIdentifier": id}, ...]}` deletes every other message and leaves
  those (they come back after the visibility timeout; SQS redrives them to the dead-letter queue
  after maxReceiveCount). An invalid JSON answer, or an itemIdentifier that is empty, missing or
  not in the batch, fails the whole batch, as at AWS;
- a function error (non-2xx, `X-Amz-Function-Error`, an `errorType` in the body, or no answer
  within the function's Timeout plus --invoke-slack seconds) leaves the whole batch;
- the function not listening yet (cargo lambda starting): the batch is made visible again at
  once and polling pauses until the port answers.

One JSON log line per batch on stdout. SIGTERM/SIGINT stop the polling; a batch still in flight
then is left to its visibility timeout, as when a Lambda invoke is cut short. `--function` limits it to some functions, `--queue-url
LOGICAL_ID=URL` names a queue instead of resolving it from the template.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aws_bootstrap as ab  # noqa: E402  (template loading and intrinsic resolution)
from log_lines import write_line  # noqa: E402

DEFAULT_CONCURRENCY = 5
WAIT_SECONDS = 1  # long poll: returns as soon as a message is there


def log(**fields) -> None:
    write_line(json.dumps({"at": round(time.time(), 3), **fields}))


@dataclass
class Mapping:
    function: str  # logical id
    binary: str
    event: str
    queue_logical: str | None
    queue_url: str
    queue_arn: str
    batch_size: int
    window: float
    report_failures: bool
    concurrency: int
    timeout: float  # the function's Timeout, seconds
    enabled: bool = True


def _queue_ref(queue) -> tuple[str | None, str | None]:
    """(logical id, literal ARN) of an SQS event's Queue property."""
    if isinstance(queue, dict) and "Fn::GetAtt" in queue:
        arg = queue["Fn::GetAtt"]
        parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
        return parts[0], None
    if isinstance(queue, dict) and "Ref" in queue:
        return queue["Ref"], None
    if isinstance(queue, str):
        return None, queue
    raise SystemExit(f"sqs_event_source: cannot tell the queue from {queue!r}")


def mappings_from_template(template: dict, stack_name: str, region: str, sqs,
                           queue_urls: dict[str, str], only: set[str] | None) -> list[Mapping]:
    resolver = ab.Resolver(template, stack_name, region, "123456789012")
    resources = template.get("Resources") or {}
    glob = ((template.get("Globals") or {}).get("Function") or {})
    out: list[Mapping] = []
    for fid, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        if only and fid not in only:
            continue
        props = res.get("Properties") or {}
        binary = (((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
                  or fid)
        timeout = float(props.get("Timeout", glob.get("Timeout", 3)))
        for ename, ev in (props.get("Events") or {}).items():
            if (ev or {}).get("Type") != "SQS":
                continue
            ep = ev.get("Properties") or {}
            logical, arn = _queue_ref(ep.get("Queue"))
            if logical and logical in queue_urls:
                url = queue_urls[logical]
            elif logical:
                qname = ((resources.get(logical) or {}).get("Properties") or {}).get("QueueName")
                name = resolver.resolve(qname) if qname else f"{stack_name}-{logical}"
                url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            else:
                url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
            qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            scaling = ep.get("ScalingConfig") or {}
            out.append(Mapping(
                function=fid, binary=binary, event=ename, queue_logical=logical,
                queue_url=url, queue_arn=qarn,
                batch_size=int(ep.get("BatchSize", 10)),
                window=float(ep.get("MaximumBatchingWindowInSeconds", 0)),
                report_failures="ReportBatchItemFailures" in (ep.get("FunctionResponseTypes") or []),
                concurrency=int(scaling.get("MaximumConcurrency", DEFAULT_CONCURRENCY)),
                timeout=timeout,
                enabled=str(ep.get("Enabled", True)).lower() != "false",
            ))
    return out


def lambda_record(msg: dict, arn: str, region: str) -> dict:
    """One SQS message as Lambda puts it in the event."""
    attrs = {k: str(v) for k, v in (msg.get("Attributes") or {}).items()}
    mattrs = {}
    for name, a in (msg.get("MessageAttributes") or {}).items():
        v = {"stringListValues": [], "binaryListValues": [], "dataType": a.get("DataType")}
        if "StringValue" in a:
            v["stringValue"] = a["StringValue"]
        if "BinaryValue" in a:
            b = a["BinaryValue"]
            v["binaryValue"] = base64.b64encode(b if isinstance(b, bytes) else b.encode()).decode()
        mattrs[name] = v
    rec = {
        "messageId": msg["MessageId"],
        "receiptHandle": msg["ReceiptHandle"],
        "body": msg.get("Body", ""),
        "attributes": attrs,
        "messageAttributes": mattrs,
        "md5OfBody": msg.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }
    if msg.get("MD5OfMessageAttributes"):
        rec["md5OfMessageAttributes"] = msg["MD5OfMessageAttributes"]
    return rec


class Unreachable(Exception):
    """The invoke endpoint refused the connection: the function never saw the batch."""


def invoke(url: str, payload: bytes, timeout: float) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=payload, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
    except urllib.error.URLError as e:
        if isinstance(e.reason, ConnectionRefusedError):
            raise Unreachable(str(e.reason)) from None
        raise


def judge(status: int, headers: dict, body: bytes, ids: list[str],
          report_failures: bool) -> tuple[str, set[str], str | None]:
    """('ok' | 'partial' | 'error', ids to leave on the queue, why)."""
    everything = set(ids)
    if not 200 <= status < 300:
        return "error", everything, f"HTTP {status}: {body[:300]!r}"
    if headers.get("x-amz-function-error"):
        return "error", everything, f"function error: {body[:300]!r}"
    try:
        answer = json.loads(body) if body.strip() else None
    except ValueError:
        answer = "<invalid>"
    if isinstance(answer, dict) and "errorType" in answer:
        return "error", everything, f"{answer.get('errorType')}: {answer.get('errorMessage')}"
    if not report_failures:
        return "ok", set(), None
    if answer == "<invalid>":
        return "error", everything, f"invalid JSON answer: {body[:300]!r}"
    if answer is None or not isinstance(answer, dict):
        return "ok", set(), None
    failures = answer.get("batchItemFailures")
    if failures is None or failures == []:
        return "ok", set(), None
    if not isinstance(failures, list):
        return "error", everything, f"batchItemFailures is not a list: {failures!r}"
    left: set[str] = set()
    for f in failures:
        item = f.get("itemIdentifier") if isinstance(f, dict) else None
        if not isinstance(item, str) or not item or item not in everything:
            return "error", everything, f"bad itemIdentifier {item!r}: whole batch failed"
        left.add(item)
    return "partial", left, None


class Poller:
    def __init__(self, m: Mapping, sqs, region: str, lambda_host: str, lambda_port: int,
                 slack: float, stop: threading.Event):
        self.m, self.sqs, self.region, self.stop = m, sqs, region, stop
        self.host, self.port = lambda_host, lambda_port
        self.url = (f"http://{lambda_host}:{lambda_port}/2015-03-31/functions/"
                    f"{m.binary}/invocations")
        self.invoke_timeout = m.timeout + slack
        self.ready = threading.Event()  # the invoke port answers

    def wait_for_lambda(self) -> None:
        while not self.stop.is_set():
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    self.ready.set()
                    return
            except OSError:
                self.ready.clear()
                self.stop.wait(0.5)

    def receive(self) -> list[dict]:
        m = self.m
        batch: list[dict] = []
        deadline = None
        while len(batch) < m.batch_size and not self.stop.is_set():
            if deadline is None:
                wait = WAIT_SECONDS
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = min(WAIT_SECONDS, int(left)) if left >= 1 else 0
            got = self.sqs.receive_message(
                QueueUrl=m.queue_url, MaxNumberOfMessages=min(10, m.batch_size - len(batch)),
                WaitTimeSeconds=wait, AttributeNames=["All"], MessageAttributeNames=["All"],
            ).get("Messages", [])
            batch.extend(got)
            if not batch:
                return []  # nothing yet: poll again
            if m.window <= 0:
                break
            if deadline is None:
                deadline = time.monotonic() + m.window
            if not got:
                time.sleep(0.05)
        return batch

    def run(self) -> None:
        while not self.stop.is_set():
            if not self.ready.is_set():
                self.wait_for_lambda()
                continue
            try:
                batch = self.receive()
            except Exception as e:  # the emulator restarting, ...: keep polling
                log(function=self.m.function, error=f"receive failed: {e}")
                self.stop.wait(1)
                continue
            if batch:
                self.handle(batch)

    def handle(self, batch: list[dict]) -> None:
        m = self.m
        ids = [msg["MessageId"] for msg in batch]
        handles = {msg["MessageId"]: msg["ReceiptHandle"] for msg in batch}
        event = {"Records": [lambda_record(msg, m.queue_arn, self.region) for msg in batch]}
        t0 = time.monotonic()
        line = {"function": m.function, "binary": m.binary, "queue": m.queue_url.rsplit("/", 1)[-1],
                "batch": len(batch), "message_ids": ids,
                "receive_counts": [int((msg.get("Attributes") or {}).get(
                    "ApproximateReceiveCount", 0)) for msg in batch]}
        try:
            status, headers, body = invoke(self.url, json.dumps(event).encode(),
                                           self.invoke_timeout)
            outcome, left, why = judge(status, headers, body, ids, m.report_failures)
        except Unreachable as e:
            # The function never saw these: back on the queue at once, then wait for the port.
            self._change_visibility(handles, 0)
            self.ready.clear()
            log(**line, outcome="unreachable", error=str(e), ms=round((time.monotonic() - t0) * 1000))
            return
        except Exception as e:  # timeout or connection reset: a function error, as at AWS
            outcome, left, why = "error", set(ids), f"invoke failed: {e!r}"
        done = [i for i in ids if i not in left]
        deleted, failed_deletes = self._delete(done, handles)
        log(**line, outcome=outcome, failed=sorted(left), deleted=deleted,
            **({"delete_failed": failed_deletes} if failed_deletes else {}),
            **({"error": why} if why else {}), ms=round((time.monotonic() - t0) * 1000))

    def _delete(self, ids: list[str], handles: dict[str, str]) -> tuple[int, list]:
        deleted, failed = 0, []
        for i in range(0, len(ids), 10):
            chunk = ids[i:i + 10]
            try:
                r = self.sqs.delete_message_batch(QueueUrl=self.m.queue_url, Entries=[
                    {"Id": str(n), "ReceiptHandle": handles[mid]} for n, mid in enumerate(chunk)])
            except Exception as e:
                failed.extend({"id": mid, "error": str(e)} for mid in chunk)
                continue
            deleted += len(r.get("Successful", []))
            failed.extend({"id": chunk[int(f["Id"])], "error": f.get("Code")}
                          for f in r.get("Failed", []))
        return deleted, failed

    def _change_visibility(self, handles: dict[str, str], seconds: int) -> None:
        items = list(handles.items())
        for i in range(0, len(items), 10):
            try:
                self.sqs.change_message_visibility_batch(QueueUrl=self.m.queue_url, Entries=[
                    {"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": seconds}
                    for n, (_, h) in enumerate(items[i:i + 10])])
            except Exception as e:
                log(function=self.m.function, error=f"change visibility failed: {e}")


def sqs_client(endpoint: str, region: str, concurrency: int):
    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        region_name=region)
    cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                 read_timeout=WAIT_SECONDS + 20, max_pool_connections=max(10, concurrency * 2))
    return session.client("sqs", endpoint_url=endpoint, config=cfg)


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--template", default=str(Path(__file__).resolve().parent.parent
                                               / "template.yaml"))
    p.add_argument("--stack-name", default=env("STACK_NAME", "dotm-local"))
    p.add_argument("--endpoint", default=env("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"))
    p.add_argument("--region", default=env("AWS_REGION", "us-east-1"))
    p.add_argument("--lambda-host", default=env("LAMBDA_HOST", "127.0.0.1"))
    p.add_argument("--lambda-port", type=int, default=int(env("LAMBDA_PORT", "9000")))
    p.add_argument("--invoke-slack", type=float, default=30.0,
                   help="seconds added to the function's Timeout before an invoke counts as "
                        "timed out (cargo lambda starts a function on its first invoke)")
    p.add_argument("--function", action="append", default=[],
                   help="only this function's event sources (logical id; repeatable)")
    p.add_argument("--queue-url", action="append", default=[], metavar="LOGICAL_ID=URL",
                   help="the URL of a template queue (default: resolved from its QueueName)")
    a = p.parse_args(argv)

    template = ab.load_template(a.template)
    queue_urls = dict(x.split("=", 1) for x in a.queue_url)
    sqs = sqs_client(a.endpoint, a.region, DEFAULT_CONCURRENCY)
    deadline = time.monotonic() + 60
    while True:  # the emulator and the bootstrap come first; wait a little for them
        try:
            mappings = mappings_from_template(template, a.stack_name, a.region, sqs, queue_urls,
                                              set(a.function) or None)
            break
        except Exception as e:
            if time.monotonic() > deadline:
                raise SystemExit(f"sqs_event_source: {e!r}") from None
            log(waiting=f"for the queues: {e!r}")
            time.sleep(1)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = []
    for m in mappings:
        log(mapping=m.function, binary=m.binary, event=m.event, queue=m.queue_url,
            batch_size=m.batch_size, window=m.window, report_failures=m.report_failures,
            concurrency=m.concurrency, timeout=m.timeout, enabled=m.enabled)
        if not m.enabled:
            continue
        client = sqs_client(a.endpoint, a.region, m.concurrency)
        for n in range(m.concurrency):
            poller = Poller(m, client, a.region, a.lambda_host, a.lambda_port, a.invoke_slack, stop)
            t = threading.Thread(target=poller.run, name=f"{m.function}-{n}", daemon=True)
            t.start()
            threads.append(t)
    if not mappings:
        log(warning="template.yaml has no function with an SQS event")
    while not stop.is_set():
        stop.wait(1)
    for t in threads:
        t.join(timeout=WAIT_SECONDS + 2)
    log(stopped=True)


if __name__ == "__main__":
    main()
