"""Issue 5, done when: with duplicate deliveries of every job (Stripe redelivering every paid event,
SQS delivering every job twice), a carrier failing the first two calls of some jobs, and a
carrier call the worker gives up on (timeout) that the carrier completes anyway (as a worker
killed between the carrier call and the store write would leave it): every purchase ends with
exactly one carrier line, one active record, one email, and nothing on the dead-letter queue."""

from __future__ import annotations

import time

import httpx

from activation_support import (
    Buyer,
    arm,
    buyers,
    carrier_calls,
    carrier_lines,
    check_active,
    check_email,
    check_window,
    dlq_jobs,
    line_number,
    made_calls,
    one_line,
    pay,
    phone_numbers,
    send_duplicate_job,
    states,
    time_for,
    wait_all,
    wait_until,
)

N = 6
CARRIER_CLIENT_TIMEOUT_S = 10  # shared/src/adapters/carrier.rs


def test_duplicates_carrier_failures_and_timeouts_end_with_one_line_each(
    base_url: str, http: httpx.Client, sandbox: httpx.Client, new_user
) -> None:
    bs: list[Buyer] = buyers(base_url, new_user, N)
    # The carrier's faults are armed by the person's email (their OXIO end user's).
    flaky = [b.user.email for b in bs[:3]]  # the first two line-creation calls fail
    slow = bs[3].user.email  # the first call outlasts the worker's carrier timeout
    arm(sandbox, fail_next=2, status=503, emails=flaky)
    arm(sandbox, fail_next=1, status=None, delay_ms=(CARRIER_CLIENT_TIMEOUT_S + 2) * 1000,
        emails=[slow])

    for b in bs:
        pay(sandbox, b)
    # Stripe delivers every paid event again; SQS delivers every job a second time.
    events = sandbox.get("/__sandbox/stripe/events", params={"type": "invoice.paid"}).json()["data"]
    for b in bs:
        [ev] = [e for e in events if e["invoice"] == b.invoice_id]
        r = sandbox.post(f"/__sandbox/stripe/events/{ev['id']}/redeliver", json={})
        assert r.status_code == 200 and r.json()["delivery"]["status"] in range(200, 300), r.text
        send_duplicate_job(b)

    final = wait_all(http, bs, "active", time_for(N) + 2 * CARRIER_CLIENT_TIMEOUT_S + 60)
    # ... and once more after they are active.
    for b in bs:
        send_duplicate_job(b)
    time.sleep(3)

    # The call the worker gave up on may still be running at the carrier: let it finish.
    wait_until(lambda: all("ended_at" in c for c in carrier_calls(sandbox, slow)), 30,
               "the slow carrier call to end")
    for b in bs:
        key, email = b.purchase_id, b.user.email
        # One purchase, one line: exactly one line for the person at the carrier, made by
        # exactly one successful line-creation call (OXIO has no idempotency key).
        line = one_line(sandbox, email)
        calls = carrier_calls(sandbox, email)
        made = made_calls(calls)
        assert len(made) == 1, (email, calls)
        if email in flaky:
            assert [c["status"] for c in calls][:3] == [503, 503, 201], (email, calls)
        if email == slow:
            # The worker gave up on the first call, which the carrier finished anyway and which
            # made the line. The worker listed the person's lines before calling again, so no
            # later call made a second line: the one line is the first call's.
            assert calls[0]["fault"] and calls[0]["ended_at"] - calls[0]["at"] >= CARRIER_CLIENT_TIMEOUT_S
            assert made == [calls[0]] and calls[0]["line_id"] == line["lineId"], (email, calls)
            assert all(c["line_id"] is None for c in calls[1:]), (email, calls)
        state = states(http, [b])[key]
        check_active(state, line)
        assert state["activated_at"] == final[key]["activated_at"], (state, final[key])
        numbers = phone_numbers(http, b.user)
        assert [n["phone_number"] for n in numbers] == [line_number(line)], numbers
        check_email(sandbox, b, line)

    check_window(sandbox)
    ours = {b.purchase_id for b in bs}
    dead = [j for j in dlq_jobs() if j.get("purchase_id") in ours]
    assert dead == [], dead


def test_a_job_the_carrier_rejects_for_good_lands_in_the_dlq_at_once_and_shows_failed(
    base_url: str, http: httpx.Client, sandbox: httpx.Client, new_user
) -> None:
    [b] = buyers(base_url, new_user, 1)
    arm(sandbox, permanent=True, emails=[b.user.email], status=422)
    pay(sandbox, b)

    # A 4xx is the carrier's final word: one call, no retries spending permits.
    wait_all(http, [b], "failed", time_for(1) + 60)
    state = states(http, [b])[b.purchase_id]
    assert state["status"] == "failed" and state["reason"] and state["next_steps"], state
    assert state["purchase_id"] == b.purchase_id

    calls = carrier_calls(sandbox, b.user.email)
    assert [c["status"] for c in calls] == [422], calls
    assert carrier_lines(sandbox, b.user.email) == []
    assert phone_numbers(http, b.user) == []

    dead = wait_until(lambda: [j for j in dlq_jobs() if j.get("purchase_id") == b.purchase_id],
                      30, "the job on the dead-letter queue")
    assert len(dead) == 1, dead
    assert dead[0]["uid"] == b.user.uid and dead[0]["attempts"] == 1, dead
    # Failed for good: asking again changes nothing and calls nobody.
    time.sleep(2)
    assert states(http, [b])[b.purchase_id]["status"] == "failed"
    assert len(carrier_calls(sandbox, b.user.email)) == 1
