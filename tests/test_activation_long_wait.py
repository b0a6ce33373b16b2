"""Issue 5, done when: a job that waits longer than maxReceiveCount x visibility timeout still does
not reach the DLQ. Waiting for a permit is not a failed receive: a worker that gets a job early
re-sends it with the remaining delay (at most ACTIVATION_MAX_DELAY_SECONDS, 2 s under
`make test`, 900 s as SQS allows) and deletes the original. With 3 windows' worth of payers the
last ones wait about 2 windows, so their jobs come to the worker many more times than
maxReceiveCount; they must still become active and never land on the DLQ, and every delivery
must be its message's first receive (waiting never raises the receive count).

The deliveries are counted in the stack's logs (DOTM_STACK_LOGDIR, exported by `make test`): the
worker's `job handled` lines (message id, shortened uid, ticket, outcome) and the event source's
batches (message ids with their SQS receive counts)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx

from activation_support import (
    LIMIT,
    WINDOW,
    Buyer,
    activation_record,
    aws,
    buyers,
    check_active,
    dlq_jobs,
    one_line,
    pay,
    time_for,
    wait_all,
)

MAX_DELAY = float(os.environ.get("ACTIVATION_MAX_DELAY_SECONDS", "900"))


def queue_policy() -> tuple[int, int]:
    """(maxReceiveCount, VisibilityTimeout) of the activation queue, as the emulator has it."""
    attrs = aws("sqs").get_queue_attributes(
        QueueUrl=os.environ["ACTIVATION_QUEUE_URL"],
        AttributeNames=["RedrivePolicy", "VisibilityTimeout"])["Attributes"]
    return int(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"]), int(attrs["VisibilityTimeout"])


def json_lines(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def deliveries(logdir: Path, b: Buyer, ticket: int) -> list[dict]:
    """The worker's `job handled` lines for b's job (its ticket and shortened uid), in order."""
    short = b.user.uid[:8]
    out = []
    for rec in json_lines(logdir / "lambda.log"):
        f = rec.get("fields", {})
        if f.get("message") == "job handled" and f.get("ticket") == ticket and not f.get("watch") \
                and str(f.get("uid", "")).rstrip("…") == short:
            out.append(f)
    return out


def receive_counts(logdir: Path) -> dict[str, int]:
    """Message id -> the highest ApproximateReceiveCount the event source delivered it with."""
    out: dict[str, int] = {}
    for rec in json_lines(logdir / "event_source.log"):
        for mid, n in zip(rec.get("message_ids") or [], rec.get("receive_counts") or []):
            out[mid] = max(out.get(mid, 0), int(n))
    return out


def test_a_job_waiting_many_redeliveries_never_reaches_the_dlq(
    base_url: str, http: httpx.Client, sandbox: httpx.Client, new_user
) -> None:
    logdir = os.environ.get("DOTM_STACK_LOGDIR")
    assert logdir, "DOTM_STACK_LOGDIR is not set (run under `make test`)"
    logdir_p = Path(logdir)
    max_receives, visibility = queue_policy()
    # The last payers wait ~2 windows; re-sent every MAX_DELAY s, that is many more deliveries
    # than maxReceiveCount (the same wait under the default 900 s cap would need
    # maxReceiveCount x visibility = 5 x 180 s before SQS would dead-letter it).
    assert 2 * WINDOW / MAX_DELAY > max_receives + 2, (
        f"a wait of 2 windows ({2 * WINDOW}s) with delays capped at {MAX_DELAY}s is not enough "
        f"re-sends for maxReceiveCount {max_receives}: run with the test settings of `make test`")

    n = 3 * LIMIT
    bs = buyers(base_url, new_user, n)
    for b in bs:
        pay(sandbox, b)
    final = wait_all(http, bs, "active", time_for(n))
    for b in bs:
        line = one_line(sandbox, b.user.email)  # one line, made by one successful call
        check_active(final[b.purchase_id], line)

    ours = {b.purchase_id for b in bs}
    dead = [j for j in dlq_jobs() if j.get("purchase_id") in ours]
    assert dead == [], dead

    # The event source logs a batch after its invocation returns (and its messages are deleted),
    # so the last deliveries' lines trail the activations until the slowest message of their
    # batch is done (a sibling job may sleep until its slot): wait for them.
    tickets = {b.purchase_id: activation_record(b.user.uid, b.purchase_id)["ticket"] for b in bs}
    delivered = {f["message_id"] for b in bs for f in deliveries(logdir_p, b, tickets[b.purchase_id])}
    deadline = time.monotonic() + 90
    counts = receive_counts(logdir_p)
    while not delivered <= counts.keys() and time.monotonic() < deadline:
        time.sleep(0.5)
        counts = receive_counts(logdir_p)
    report = []
    longest = None
    for b in bs:
        ticket = activation_record(b.user.uid, b.purchase_id)["ticket"]
        seen = deliveries(logdir_p, b, ticket)
        assert seen and seen[-1]["outcome"] == "activated", (b.purchase_id, ticket, seen)
        # Waiting never raised a receive count: every delivery was its message's first.
        raised = {f["message_id"]: counts.get(f["message_id"]) for f in seen
                  if counts.get(f["message_id"]) != 1}
        assert not raised, (b.purchase_id, ticket, raised, max_receives)
        report.append((ticket, len(seen), [f["outcome"] for f in seen].count("waiting")))
        if longest is None or len(seen) > longest[1]:
            longest = (b.purchase_id, len(seen), seen)
    assert longest is not None
    pid, times, seen = longest
    # At least one job came to the worker more times than maxReceiveCount, waiting each time
    # but the last, and was still activated (not dead-lettered).
    assert times > max_receives, (
        f"no job was delivered more than maxReceiveCount={max_receives} times "
        f"(ticket, deliveries, waiting): {report}")
    assert [f["outcome"] for f in seen[:-1]] == ["waiting"] * (times - 1), (pid, seen)
    assert len({f["message_id"] for f in seen}) == times, (pid, seen)  # a new message each time
    print(f"longest wait: {pid} delivered {times} times (maxReceiveCount {max_receives}, "
          f"visibility {visibility}s); per job (ticket, deliveries, waiting): {report}")
