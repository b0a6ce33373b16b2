"""An operator's redrive of the dead-letter queue (issue 15): a job parked after five carrier
503s, redriven once the carrier is healthy, is put in line again from the start and activates
exactly once; a redrive with nothing parked changes nothing. Moving the raw messages back
(SQS's own redrive) would strand the person: the worker reads a failed activation as done."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from activation_support import (
    MAX_ATTEMPTS,
    arm,
    buyers,
    carrier_calls,
    dlq_jobs,
    line_number,
    one_line,
    pay,
    states,
    time_for,
    wait_all,
    wait_until,
)

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "dotm-target"))


def redrive(*args: str) -> dict:
    """The binary `make redrive` runs (built by `make test`), on the test stack's settings."""
    binary = TARGET / "debug" / "redrive"
    assert binary.exists(), f"{binary} is missing: `make test` builds it (cargo build --bins)"
    done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_parked_job_is_redriven_and_activates_once(base_url, http, sandbox, new_user):
    [b] = buyers(base_url, new_user, 1)
    email = b.user.email  # the carrier's calls and faults are the person's (their end user's)
    arm(sandbox, fail_next=MAX_ATTEMPTS, status=503, emails=[email])
    pay(sandbox, b)
    wait_all(http, [b], "failed", time_for(MAX_ATTEMPTS) + 2 + 4 + 8 + 16 + 60)
    wait_until(lambda: [j for j in dlq_jobs() if j.get("purchase_id") == b.purchase_id],
               30, "the job on the dead-letter queue")
    assert len(carrier_calls(sandbox, email)) == MAX_ATTEMPTS

    # The carrier is healthy again (its faults for this email are used up): redrive this job only.
    def redriven():
        time.sleep(1)  # dlq_jobs() peeks with a 3 s visibility timeout
        return b.purchase_id in redrive("--purchase", b.purchase_id)["requeued"]

    wait_until(redriven, 30, "the redrive to requeue the job")
    assert states(http, [b])[b.purchase_id]["status"] in ("queued", "active")
    final = wait_all(http, [b], "active", time_for(1))[b.purchase_id]
    assert final["phone_number"]
    calls = carrier_calls(sandbox, email)
    assert len(calls) == MAX_ATTEMPTS + 1 and calls[-1]["status"] in (200, 201), calls
    line = one_line(sandbox, email)  # one line, made by one successful call: the last one
    assert calls[-1]["line_id"] == line["lineId"] and final["phone_number"] == line_number(line)
    assert not [j for j in dlq_jobs() if j.get("purchase_id") == b.purchase_id]

    # Nothing parked for it any more: a second redrive finds nothing and calls nobody.
    again = redrive("--purchase", b.purchase_id)
    assert b.purchase_id not in again["requeued"], again
    time.sleep(2)
    assert len(carrier_calls(sandbox, email)) == MAX_ATTEMPTS + 1


def test_the_redrive_refuses_a_bad_command_line():
    binary = TARGET / "debug" / "redrive"
    done = subprocess.run([str(binary), "--everything"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "usage: redrive" in done.stderr
