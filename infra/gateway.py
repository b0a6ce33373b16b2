#!/usr/bin/env python3
"""Local stand-in for the HTTP API (API Gateway) in front of `cargo lambda watch`.

Reads template.yaml at start, takes every `AWS::Serverless::Function` event of type `HttpApi`
(Path + Method) as a route to that function's binary (`Metadata.BuildProperties.Binary`), and
forwards each matching request to cargo lambda's function-URL emulation:

    http://127.0.0.1:3000/mcp/api?x=1  ->  http://127.0.0.1:9000/lambda-url/mcp/mcp/api?x=1

cargo lambda (1.9.x) puts everything after `/lambda-url/<binary>` verbatim (still
percent-encoded) into the event's `rawPath` / `requestContext.http.path` and passes the query
string and every request header through, Host included. So the function sees the original path
(`/mcp/api`) and the gateway's Host (`127.0.0.1:3000`), as it would behind API Gateway.

Method, query string, headers (except hop-by-hop ones) and body go through byte-exact; status,
headers (repeated ones such as Set-Cookie included) and body come back the same way. A request
that matches no route gets 404 `application/problem+json`, as API Gateway answers 404 then.

Stdlib only, plus PyYAML (from the project's .venv) to read the template.

    gateway.py [--template template.yaml] [--host 127.0.0.1] [--port $PORT|3000]
               [--lambda-port $LAMBDA_PORT|9000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_yaml import TemplateLoader  # noqa: E402

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


# --------------------------------------------------------------------------- template


# The header every answer of our functions carries (dotm::web::access_log).
SERVED_BY = "x-dotm-served-by"




@dataclass(frozen=True)
class Route:
    method: str  # "ANY" or an upper-case HTTP method
    path: str  # the template's path, e.g. /mcp/{proxy+}; "$default" for a catch-all
    binary: str
    regex: re.Pattern[str]
    priority: tuple  # smaller sorts first: the most specific route wins

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "ANY" or self.method == method) and bool(self.regex.fullmatch(path))


def _compile(path: str) -> tuple[re.Pattern[str], tuple]:
    if path == "$default":
        return re.compile(r"/.*"), (2, 0, 0)
    parts = []
    greedy = False
    literal_segments = 0
    for segment in path.strip("/").split("/"):
        if re.fullmatch(r"\{[^{}/]+\+\}", segment):
            parts.append(".+")  # greedy path variable: one or more characters, slashes included
            greedy = True
        elif re.fullmatch(r"\{[^{}/]+\}", segment):
            parts.append("[^/]+")
        else:
            parts.append(re.escape(segment))
            literal_segments += 1
    regex = re.compile("/" + "/".join(parts))
    return regex, (1 if greedy else 0, -literal_segments, -len(path))


def load_routes(template_path: Path) -> list[Route]:
    with open(template_path, encoding="utf-8") as f:
        template = yaml.load(f, Loader=TemplateLoader)  # noqa: S506 - SafeLoader subclass
    routes: list[Route] = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event_name, event in events.items():
            if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                continue
            if not binary:
                raise SystemExit(
                    f"gateway: {logical_id} has an HttpApi event but no Metadata.BuildProperties.Binary"
                )
            props = event.get("Properties") or {}
            path = props.get("Path", "$default")
            method = props.get("Method", "ANY")
            if not isinstance(path, str) or not isinstance(method, str):
                raise SystemExit(f"gateway: {logical_id}.{event_name}: Path/Method must be plain strings")
            method = method.upper()
            if method in ("*", "X-AMAZON-APIGATEWAY-ANY-METHOD"):
                method = "ANY"
            regex, priority = _compile(path)
            routes.append(Route(method, path, binary, regex, priority))
    routes.sort(key=lambda r: (r.priority, r.method == "ANY"))
    return routes


# --------------------------------------------------------------------------- server


class Gateway(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, routes: list[Route], lambda_host: str, lambda_port: int, timeout: float):
        self.routes = routes
        self.lambda_host = lambda_host
        self.lambda_port = lambda_port
        self.upstream_timeout = timeout
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Gateway
    server_version = "dotm-gateway"

    # One handler for every method.
    def do_request(self) -> None:
        started = time.monotonic()
        raw_path, sep, query = self.path.partition("?")
        if raw_path.startswith(("http://", "https://")):  # absolute-form request target
            raw_path = "/" + raw_path.split("/", 3)[3] if raw_path.count("/") >= 3 else "/"
        try:
            body = self._read_body()
        except ValueError as e:
            self._problem(400, "Bad Request", str(e))
            self._log(started, "-", 400, 0)
            self.close_connection = True
            return
        route = next((r for r in self.server.routes if r.matches(self.command, raw_path)), None)
        if route is None:
            n = self._problem(404, "Not Found", f"No route for {self.command} {raw_path}")
            self._log(started, "-", 404, n)
            return
        target = f"/lambda-url/{route.binary}{raw_path}{sep}{query}"
        try:
            status, reason, headers, payload = self._forward(target, body)
            if status >= 500 and not any(k.lower() == SERVED_BY for k, _ in headers):
                # The emulator, not the function, failed to carry this invocation (our functions
                # mark every answer they make). API Gateway has no such failure; try once more.
                sys.stderr.write(f"gateway {self.command} {self.path} -> {route.binary} {status} "
                                 f"from the emulator: {payload[:200]!r}; retrying once\n")
                status, reason, headers, payload = self._forward(target, body)
        except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected) as e:
            n = self._problem(502, "Bad Gateway", f"function '{route.binary}' is not reachable ({e.__class__.__name__})")
            self._log(started, route.binary, 502, n)
            return
        except (TimeoutError, socket.timeout):
            n = self._problem(504, "Gateway Timeout", f"function '{route.binary}' did not answer in time")
            self._log(started, route.binary, 504, n)
            return
        self.send_response_only(status, reason)
        for name, value in headers:
            lname = name.lower()
            if lname in HOP_BY_HOP or lname == "content-length":
                continue
            self.send_header(name, value)
        if self.command == "HEAD":
            length = next((v for k, v in headers if k.lower() == "content-length"), None)
            if length is not None:
                self.send_header("Content-Length", length)
        else:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self._log(started, route.binary, status, len(payload))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_request

    def _read_body(self) -> bytes | None:
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ValueError("malformed chunked body") from None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        try:
            n = int(length)
        except ValueError:
            raise ValueError("invalid Content-Length") from None
        if n < 0:
            raise ValueError("invalid Content-Length")
        return self.rfile.read(n)

    def _forward(self, target: str, body: bytes | None):
        conn = http.client.HTTPConnection(
            self.server.lambda_host, self.server.lambda_port, timeout=self.server.upstream_timeout
        )
        try:
            conn.putrequest(self.command, target, skip_host=True, skip_accept_encoding=True)
            connection_tokens = {
                t.strip().lower() for v in self.headers.get_all("Connection", []) for t in v.split(",")
            }
            for name, value in self.headers.items():
                lname = name.lower()
                if lname in HOP_BY_HOP or lname in connection_tokens or lname in (
                        "content-length", "x-forwarded-for"):
                    continue
                conn.putheader(name, value)
            # As API Gateway does: the connection's address goes last, after whatever the client
            # sent (the functions trust only the last hop, e.g. for the rate limit).
            sent = [v.strip() for v in self.headers.get_all("X-Forwarded-For", []) if v.strip()]
            conn.putheader("X-Forwarded-For", ", ".join([*sent, self.client_address[0]]))
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            payload = resp.read()
            return resp.status, resp.reason, resp.getheaders(), payload
        finally:
            conn.close()

    def _problem(self, status: int, title: str, detail: str) -> int:
        doc = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        payload = json.dumps(doc).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Date", self.date_time_string())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        return len(payload)

    def _log(self, started: float, function: str, status: int, size: int) -> None:
        ms = (time.monotonic() - started) * 1000
        sys.stderr.write(
            f"gateway {self.command} {self.path} -> {function} {status} {size}B {ms:.1f}ms\n"
        )
        sys.stderr.flush()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        sys.stderr.write("gateway %s\n" % (format % args))


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", default=str(here.parent / "template.yaml"))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--lambda-host", default="127.0.0.1")
    parser.add_argument("--lambda-port", type=int, default=int(os.environ.get("LAMBDA_PORT", "9000")))
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("GATEWAY_UPSTREAM_TIMEOUT", "300")),
        help="seconds to wait for a function (its first call may start a cargo build)",
    )
    args = parser.parse_args()

    routes = load_routes(Path(args.template))
    if not routes:
        raise SystemExit(f"gateway: no HttpApi routes in {args.template}")
    server = Gateway((args.host, args.port), routes, args.lambda_host, args.lambda_port, args.timeout)
    for r in routes:
        sys.stderr.write(f"gateway route {r.method:<6} {r.path:<24} -> lambda-url/{r.binary}\n")
    sys.stderr.write(
        f"gateway listening on http://{args.host}:{args.port} "
        f"(functions at http://{args.lambda_host}:{args.lambda_port}/lambda-url/<binary>)\n"
    )
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
