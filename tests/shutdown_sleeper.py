"""Not a test of its own (pytest does not collect it from tests/): what tests/test_shutdown.py
has a `make test` run, so that it can stop that run while pytest is in the middle of it. It says
it has started (the file named by DOTM_SHUTDOWN_READY) and waits to be stopped."""

import os
import time
from pathlib import Path


def test_waits_to_be_stopped() -> None:
    Path(os.environ["DOTM_SHUTDOWN_READY"]).write_text("started\n")
    time.sleep(600)
