#!/usr/bin/env python3
"""The local AWS emulator: moto's server app, one request at a time.

moto's backends are not safe under concurrent requests (e.g. concurrent DynamoDB
TransactWriteItems fail inside moto with "dictionary changed size during iteration", which our
functions then report as 503). Real AWS serializes conflicting writes itself, so the local
stand-in must too: this launcher builds the same WSGI app as `moto_server`
(DomainDispatcherApplication + create_backend_app) and runs each request, including reading its
response body, under one lock. The server stays threaded, so connections are accepted while a
request runs.

SQS long polls (ReceiveMessage with WaitTimeSeconds > 0) would hold the lock for their whole
wait, so they are turned into short polls (WaitTimeSeconds 0) repeated outside the lock every
POLL_INTERVAL until a message comes or the wait is over, as a long poll answers.

    infra/moto_server.py [-H 127.0.0.1] [-p 5000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlencode

from moto.core.utils import unix_time
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sqs.models import SQSBackend
from werkzeug.serving import run_simple

POLL_INTERVAL = 0.05


def read_partitions_directly() -> None:
    """Makes moto's Query of a table's own key read the one partition it names.

    moto 5 answers such a query by sorting every item of the table (`Table.all_items`, with
    DynamoType comparisons) and keeping those of the hash key: O(n log n) per query. With the
    chaos run's 1,000 people in the table that is about 100 ms a query, one at a time under the
    lock, and the whole stack waits on it (permits confirmed too late, a drain at a third of the
    licence). DynamoDB reads the partition; so does this: during the query, `all_items` is the
    partition's items (the query filters them by hash key and sorts them by range key itself, as
    before). Index queries and scans are left as moto has them.
    """
    original = Table.query

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        partition = self.items.get(hash_key) or {}
        self.all_items = lambda: list(partition.values())  # type: ignore[method-assign]
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]


def check_retention_directly() -> None:
    """Makes moto's ReceiveMessage read a queue's retention period instead of computing every
    attribute of the queue for each message it hands out.

    moto 5 checks each received message against `get_queue_attributes(..., ["MessageRetentionPeriod"])`,
    which builds all of them, the approximate counts included: O(n) over the queue's messages,
    per message received, with the event source polling every 50 ms. With a few hundred jobs
    waiting in the queue that is most of the emulator's CPU (py-spy on `make bench`'s drain).
    Same check, same answer: the message is received while it is younger than the period.
    """

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str,
                                                   message: Any) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return period + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period)


class Serialized:
    """WSGI middleware: one request at a time through `app`."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def _call(self, environ: dict[str, Any], body: bytes) -> tuple[str, list, list[bytes]]:
        environ = dict(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        started: list = []

        def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
            started[:] = [status, headers]
            return lambda data: None  # the legacy write(): moto does not use it

        with self.lock:
            result = self.app(environ, start_response)
            try:
                chunks = [bytes(c) for c in result]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return started[0], started[1], chunks

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        poll = _long_poll(environ, body)
        if poll is None:
            status, headers, chunks = self._call(environ, body)
        else:
            wait, short_body, empty = poll
            deadline = time.monotonic() + wait
            while True:
                status, headers, chunks = self._call(environ, short_body)
                if not status.startswith("200") or not empty(b"".join(chunks)) \
                        or time.monotonic() >= deadline:
                    break
                time.sleep(POLL_INTERVAL)
        start_response(status, headers)
        return chunks


def _long_poll(environ: dict[str, Any], body: bytes):
    """(wait seconds, the request as a short poll, is-the-answer-empty) for an SQS
    ReceiveMessage long poll; None for every other request."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target == "AmazonSQS.ReceiveMessage":  # JSON protocol (current SDKs)
        try:
            req = json.loads(body or b"{}")
            wait = int(req.get("WaitTimeSeconds") or 0)
        except (ValueError, TypeError):
            return None
        if wait <= 0:
            return None
        req["WaitTimeSeconds"] = 0

        def empty(answer: bytes) -> bool:
            try:
                return not json.loads(answer or b"{}").get("Messages")
            except ValueError:
                return False

        return wait, json.dumps(req).encode(), empty
    ctype = environ.get("CONTENT_TYPE", "")
    if environ.get("REQUEST_METHOD") == "POST" and ctype.startswith(
            "application/x-www-form-urlencoded") and b"ReceiveMessage" in body:  # query protocol
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = dict(pairs)
        if params.get("Action") != "ReceiveMessage":
            return None
        try:
            wait = int(params.get("WaitTimeSeconds") or 0)
        except ValueError:
            return None
        if wait <= 0:
            return None
        short = urlencode([(k, "0" if k == "WaitTimeSeconds" else v) for k, v in pairs]).encode()
        return wait, short, lambda answer: b"<Message>" not in answer
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    read_partitions_directly()
    check_retention_directly()
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]
    run_simple(args.host, args.port, Serialized(app), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
