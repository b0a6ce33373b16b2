"""The local servers we wrote take a burst of clients connecting at once: 200 connections opened
together through the gateway (to a function) and to the provider sandbox are all answered,
none reset. (With socketserver's default listen backlog of 5, 20 MCP clients at once lost about
a third of their requests.)"""

from __future__ import annotations

import http.client
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

CLIENTS = 200


def burst(url: str, path: str) -> list[str]:
    """Opens CLIENTS connections at the same moment, one GET each: what each one got."""
    parts = urlsplit(url)
    ready = threading.Barrier(CLIENTS)

    def one(_: int) -> str:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            ready.wait(30)
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            return str(response.status)
        except Exception as e:  # a reset, a refused or dropped connection: what we look for
            return f"{type(e).__name__}: {e}"
        finally:
            conn.close()

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(CLIENTS)))


def test_the_gateway_answers_200_clients_at_once(base_url: str) -> None:
    got = burst(base_url, "/api/health")
    failed = [g for g in got if g != "200"]
    assert not failed, f"{len(failed)} of {CLIENTS}: {sorted(set(failed))}"


def test_the_sandbox_answers_200_clients_at_once(sandbox_url: str) -> None:
    got = burst(sandbox_url, "/__sandbox/health")
    failed = [g for g in got if g != "200"]
    assert not failed, f"{len(failed)} of {CLIENTS}: {sorted(set(failed))}"
