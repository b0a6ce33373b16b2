"""`make up` and `make test` leave nothing behind when they are stopped: on SIGTERM (a supervisor; make passes TERM
on to up.sh), SIGINT (Ctrl-C) and SIGHUP (a closed terminal) it stops moto, the sandbox, anvil,
`cargo lambda watch` with every function instance, the event source and the gateway, waits for
them and exits 143, 130 or 129; a second signal while it stops (Ctrl-C again, the terminal
closing after a supervisor's TERM) does not cut that short.

Each case starts a `make up` of its own on free ports in 3400-3499 (started in a session of its
own, with a marker in its environment that every process of its stack inherits), waits until its
gateway answers GET /api/health (up to 600 s: `make up` builds what changed; with nothing to
build a start takes some 10-20 s), sends the signal, and then checks for 30 s that none of its
ports takes connections and no process is left whose command line names one of them or whose
environment carries the marker (/proc). INT and HUP go to make's process group, as a terminal sends them
(make passes only TERM on to its recipe); TERM goes to make alone, as a supervisor sends it.

Needs no stack of its own (it does not use DOTM_BASE_URL); Linux only (/proc).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 600  # the first start may build every function
STOP_SECONDS = 30
PORT_RANGE = range(3400, 3500)
# What a `make test` run exports that must not reach this `make up` (its stack sets its own).
SCRUBBED = {
    "MCP_ALLOWED_HOSTS", "MCP_ALLOWED_ORIGINS", "DOTM_STACK_ID", "CARGO_LAMBDA_IGNORE_FILE",
    "_DOTM_UP_WORKER", "_DOTM_TEST_WORKER", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
    # The test stack's providers: a `make up` given CARRIER_API_BASE, STRIPE_API_BASE,
    # MAIL_API_BASE or CHAIN_RPC_URL would use those instead of its own (README, "Providers
    # elsewhere").
    "CARRIER_API_BASE", "CARRIER_LINE_SERVICES", "OXIO_API_KEY", "OXIO_AUTH_TOKEN",
    "OXIO_BRAND_ID", "OXIO_ESIM_PLAN_ID", "OXIO_BETA_PLAN_ID", "OXIO_BOOSTER_PLAN_ID",
    "STRIPE_API_BASE", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "MAIL_API_BASE",
    "RESEND_API_KEY", "MAIL_FROM", "CHAIN_RPC_URL", "CHAIN_ID", "DOTM_TOKEN_ADDRESS",
    "DOTM_MINTER_PRIVATE_KEY", "CHAIN_RECEIPT_WAIT_SECS", "CHAIN_CONFIRMATIONS",
    "CHAIN_MAX_FEE_GWEI",
}

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")


@dataclass(frozen=True)
class Case:
    first: signal.Signals
    to_group: bool  # the whole process group of make (a terminal) or make alone (a supervisor)
    then: tuple[signal.Signals, ...] = ()  # sent to the group while the stack stops
    status: int | None = None  # up.sh's exit status, as make reports it ("Error 143")


CASES = {
    "TERM": Case(signal.SIGTERM, to_group=False, status=143),
    "INT": Case(signal.SIGINT, to_group=True, status=130),
    "HUP": Case(signal.SIGHUP, to_group=True, status=129),
    # A supervisor's TERM, then Ctrl-C and a closing terminal while the stack stops (make itself
    # dies at once of the second signal, so there is no status to check).
    "TERM-then-INT-HUP": Case(signal.SIGTERM, to_group=False,
                              then=(signal.SIGINT, signal.SIGHUP)),
}


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(n: int) -> list[int]:
    ports = [p for p in PORT_RANGE if bindable(p) and not listening(p)][:n]
    if len(ports) < n:
        pytest.skip(f"fewer than {n} free ports in {PORT_RANGE.start}-{PORT_RANGE.stop - 1}")
    return ports


def stragglers(ports: list[int], marker: str, logdir: Path) -> list[str]:
    """Processes that name one of the ports on their command line, or carry the marker."""
    names = re.compile(r"(?<!\d)(?:" + "|".join(map(str, ports)) + r")(?!\d)")
    mark = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        if not cmdline:
            continue  # a zombie: it holds nothing
        if mark in environ or names.search(cmdline) or str(logdir) in cmdline:
            found.append(f"{entry.name} {cmdline.strip()[:160]}")
    return found


def kill_stragglers(ports: list[int], marker: str, logdir: Path) -> None:
    for line in stragglers(ports, marker, logdir):
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_healthy(make: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if make.poll() is not None:
            pytest.fail(f"make up exited ({make.returncode}) before it was healthy:\n{tail(log)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"make up was not healthy in {START_SECONDS}s:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    # cargo lambda's and the functions' INFO lines drown everything else out.
    quiet = [line for line in text if not line.startswith(" INFO") and '"level":"INFO"' not in line]
    return "\n".join(quiet[-lines:])


def own_env(marker: str, **settings: str) -> dict[str, str]:
    """This process's environment without what the running `make test` exported for its own
    stack, with `settings` and the marker every process of the new stack inherits."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(settings)
    env.update([marker.split("=", 1)])
    return env


def start_make_up(tmp_path: Path, marker_name: str, **settings: str):
    """A `make up` of its own on free ports, in a session of its own: (the process, its ports
    [gateway, functions, sandbox, moto, chain], its marker, its log folder, make's log)."""
    port, lambda_port, sandbox_port, moto_port, chain_port = ports = free_ports(5)
    marker = f"{marker_name}={uuid.uuid4().hex}"
    logdir = tmp_path / "stack"
    log = tmp_path / "make-up.log"
    env = own_env(
        marker, PORT=str(port), LAMBDA_PORT=str(lambda_port), SANDBOX_PORT=str(sandbox_port),
        MOTO_PORT=str(moto_port), CHAIN_PORT=str(chain_port), UP_LOGDIR=str(logdir), **settings,
    )
    with open(log, "wb") as out:
        make = subprocess.Popen(["make", "--no-print-directory", "up"], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return make, ports, marker, logdir, log


def stop(make: subprocess.Popen, case: Case, what: str, ports: list[int], marker: str,
         logdir: Path, log: Path) -> float:
    """Sends `case`'s signals to `make` and checks that everything it started stopped; returns
    the seconds that took."""
    signalled = time.monotonic()
    if case.to_group:
        os.killpg(make.pid, case.first)
    else:
        os.kill(make.pid, case.first)
    for sig in case.then:
        time.sleep(0.5)
        try:
            os.killpg(make.pid, sig)
        except ProcessLookupError:
            pass  # make is gone already; the script goes on stopping the stack
    try:
        make.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} still runs {STOP_SECONDS}s after {case.first.name}:\n{tail(log)}")

    busy, left = ports, ["?"]
    while time.monotonic() - signalled < STOP_SECONDS:
        busy = [p for p in ports if listening(p)]
        left = stragglers(ports, marker, logdir)
        if not busy and not left:
            break
        time.sleep(0.5)
    stopped = time.monotonic() - signalled
    assert not busy and not left, (
        f"{stopped:.0f}s after {case.first.name}: ports {busy} still take connections; "
        f"left running: {left}\n{tail(log)}")
    if case.status is not None:
        assert f"Error {case.status}" in log.read_text(errors="replace"), (
            f"{what} did not exit {case.status} on {case.first.name}:\n{tail(log)}")
    return stopped


def clean_up(make: subprocess.Popen, ports: list[int], marker: str, logdir: Path) -> None:
    if make.poll() is None:
        os.killpg(make.pid, signal.SIGKILL)
        make.wait()
    # Whatever is left after a failure must not hold the ports for the next case.
    deadline = time.monotonic() + 10
    while stragglers(ports, marker, logdir) and time.monotonic() < deadline:
        kill_stragglers(ports, marker, logdir)
        time.sleep(0.5)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_make_up_leaves_nothing_behind(case: Case, tmp_path: Path) -> None:
    started = time.monotonic()
    make, ports, marker, logdir, log = start_make_up(tmp_path, "DOTM_SHUTDOWN_TEST")
    port = ports[0]
    try:
        wait_healthy(make, port, log)
        up = time.monotonic() - started
        stopped = stop(make, case, "make up", ports, marker, logdir, log)
        print(f"{case.first.name}: healthy after {up:.1f}s, everything stopped {stopped:.1f}s "
              f"after the signal")
    finally:
        clean_up(make, ports, marker, logdir)


def test_make_test_stops_in_the_middle_of_pytest(tmp_path: Path) -> None:
    """A supervisor's TERM to `make test` (a CI job cancelled) while pytest runs: pytest, the
    stack and every process of it stop within seconds, and make reports 143. (bash runs a trap
    only once the command in the foreground returns, so test.sh has its work done by a second
    test.sh in a session of its own and only waits for it.)"""
    port, lambda_port, sandbox_port, moto_port, chain_port = ports = free_ports(5)
    marker = f"DOTM_SHUTDOWN_TEST={uuid.uuid4().hex}"
    logdir = tmp_path / "stack"
    log = tmp_path / "make-test.log"
    ready = tmp_path / "pytest-started"
    env = own_env(
        marker, TEST_E2E_ONLY="1", TEST_PORT=str(port), TEST_LAMBDA_PORT=str(lambda_port),
        TEST_SANDBOX_PORT=str(sandbox_port), TEST_MOTO_PORT=str(moto_port),
        TEST_CHAIN_PORT=str(chain_port), TEST_LOGDIR=str(logdir),
        TEST_PYTEST_ARGS="tests/shutdown_sleeper.py", DOTM_SHUTDOWN_READY=str(ready),
    )
    with open(log, "wb") as out:
        make = subprocess.Popen(["make", "--no-print-directory", "test"], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not ready.exists():
            if make.poll() is not None:
                pytest.fail(f"make test exited ({make.returncode}) before pytest ran:\n{tail(log)}")
            assert time.monotonic() < deadline, f"pytest did not start:\n{tail(log)}"
            time.sleep(0.5)
        stopped = stop(make, Case(signal.SIGTERM, to_group=False, status=143), "make test",
                       ports, marker, logdir, log)
        print(f"make test: everything stopped {stopped:.1f}s after TERM")
    finally:
        clean_up(make, ports, marker, logdir)
