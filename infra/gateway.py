#!/usr/bin/env python3
"""Local stand-in for the HTTP API (API Gateway) in front of `cargo lambda watch`.

Reads template.yaml at start, takes every `AWS::Serverless::Function` event of type `HttpApi`
(Path + Method) as a route to that function's binary (`Metadata.BuildProperties.Binary`), turns
each matching request into the event that API Gateway's HTTP API gives a function (payload
format 2.0) and invokes the function with it through cargo lambda's invoke API, as Lambda's
service does:

    POST http://127.0.0.1:3000/mcp/api?x=1
      -> POST http://127.0.0.1:9000/2015-03-31/functions/mcp/invocations
         {"version": "2.0", "routeKey": "ANY /mcp/{proxy+}", "rawPath": "/mcp/api",
          "rawQueryString": "x=1", "headers": {...}, "body": "...", "isBase64Encoded": false, ...}

The function's answer (statusCode, headers, multiValueHeaders, cookies, body, isBase64Encoded)
goes back as the HTTP response, as API Gateway sends it.

The event, as API Gateway builds it: rawPath and requestContext.http.path are the path as sent
(still percent-encoded; the function sees `/mcp/api`), rawQueryString the query string as sent
(queryStringParameters decoded, repeated names joined with commas), pathParameters from the
route's `{name}` / `{proxy+}`, headers with lower-case names (repeated ones joined with commas;
hop-by-hop ones dropped; the gateway's Host, so the function sees `127.0.0.1:3000`), the Cookie
header as `cookies`, the connection's address as requestContext.http.sourceIp and appended to
X-Forwarded-For (after whatever the client sent), and the body as text when it is UTF-8 under a
textual Content-Type (none, text/*, application/json), otherwise base64-encoded with
`isBase64Encoded: true`, so any body arrives byte-exact. (cargo lambda's function URLs,
`/lambda-url/<binary>/...`, which this gateway used before, answer 500 before the function sees
the request when a body under such a Content-Type is not UTF-8: cargo-lambda 1.9 builds the
event with String::from_utf8.)

A request that matches no route gets 404 `application/problem+json`, as API Gateway answers 404
then; a function that cannot be reached 502, one that does not answer in time 504. When the
emulator rather than the function fails an invocation (an answer without the functions'
x-dotm-served-by header and status >= 500), the gateway tries once more.

Stdlib only, plus PyYAML (from the project's .venv) to read the template.

    gateway.py [--template template.yaml] [--host 127.0.0.1] [--port $PORT|3000]
               [--lambda-port $LAMBDA_PORT|9000]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import http.client
import json
import os
import re
import socket
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
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
    regex: re.Pattern[str]  # one group per path variable
    priority: tuple  # smaller sorts first: the most specific route wins
    variables: tuple[str, ...] = ()  # the path variables' names, in order ("proxy" for {proxy+})

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "ANY" or self.method == method) and bool(self.regex.fullmatch(path))

    @property
    def key(self) -> str:
        """The event's routeKey, as API Gateway writes it: `ANY /mcp/{proxy+}`, `$default`."""
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def path_parameters(self, path: str) -> dict[str, str]:
        m = self.regex.fullmatch(path)
        return dict(zip(self.variables, m.groups())) if m else {}


def _compile(path: str) -> tuple[re.Pattern[str], tuple, tuple[str, ...]]:
    if path == "$default":
        return re.compile(r"/.*"), (2, 0, 0), ()
    parts = []
    variables = []
    greedy = False
    literal_segments = 0
    for segment in path.strip("/").split("/"):
        if m := re.fullmatch(r"\{([^{}/]+)\+\}", segment):
            parts.append("(.+)")  # greedy path variable: one or more characters, slashes included
            variables.append(m[1])
            greedy = True
        elif m := re.fullmatch(r"\{([^{}/]+)\}", segment):
            parts.append("([^/]+)")
            variables.append(m[1])
        else:
            parts.append(re.escape(segment))
            literal_segments += 1
    regex = re.compile("/" + "/".join(parts))
    return regex, (1 if greedy else 0, -literal_segments, -len(path)), tuple(variables)


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
            regex, priority, variables = _compile(path)
            routes.append(Route(method, path, binary, regex, priority, variables))
    routes.sort(key=lambda r: (r.priority, r.method == "ANY"))
    return routes


# --------------------------------------------------------------------------- server


def _utf8(text: str) -> str:
    """A request line's or header's text as sent: http.server decodes bytes as Latin-1, the
    event is JSON (UTF-8). Bytes that are no UTF-8 stay Latin-1 characters."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


class Gateway(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of clients connecting at once (20 assistants)
    # saw resets. The kernel caps it at net.core.somaxconn.
    request_queue_size = 1024

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
        raw_path, _, query = self.path.partition("?")
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
        event = json.dumps(self._event(route, raw_path, query, body)).encode()
        try:
            status, reason, headers, payload = self._invoke(route.binary, event)
            if status >= 500 and not any(k.lower() == SERVED_BY for k, _ in headers):
                # The emulator, not the function, failed to carry this invocation (our functions
                # mark every answer they make). API Gateway has no such failure; try once more.
                sys.stderr.write(f"gateway {self.command} {self.path} -> {route.binary} {status} "
                                 f"from the emulator: {payload[:200]!r}; retrying once\n")
                status, reason, headers, payload = self._invoke(route.binary, event)
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
        if not any(k.lower() == "date" for k, _ in headers):
            self.send_header("Date", self.date_time_string())  # as API Gateway (and hyper) add
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

    def _event(self, route: Route, raw_path: str, query: str, body: bytes | None) -> dict:
        """The HTTP API's event for this request (payload format 2.0)."""
        connection_tokens = {
            t.strip().lower() for v in self.headers.get_all("Connection", []) for t in v.split(",")
        }
        headers: dict[str, list[str]] = {}
        cookies: list[str] = []
        for name, value in self.headers.items():
            lname = name.lower()
            value = _utf8(value)
            if lname in HOP_BY_HOP or lname in connection_tokens or lname in (
                    "content-length", "x-forwarded-for"):
                continue
            if lname == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
                continue
            headers.setdefault(lname, []).append(value)
        # As API Gateway does: the connection's address goes last, after whatever the client
        # sent (the functions trust only the last hop, e.g. for the rate limit).
        sent = [_utf8(v).strip() for v in self.headers.get_all("X-Forwarded-For", []) if v.strip()]
        headers["x-forwarded-for"] = [", ".join([*sent, self.client_address[0]])]
        if body is not None:
            headers["content-length"] = [str(len(body))]
        host = _utf8(self.headers.get("Host", ""))
        raw_path, query = _utf8(raw_path), _utf8(query)
        domain = host.rsplit(":", 1)[0] if host and not host.endswith("]") else host
        now = datetime.now(timezone.utc)
        event: dict = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": {k: ",".join(v) for k, v in headers.items()},
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "local",
                "domainName": domain or "localhost",
                "domainPrefix": (domain or "localhost").split(".", 1)[0],
                "http": {
                    "method": self.command,
                    "path": raw_path,
                    "protocol": self.request_version,
                    "sourceIp": self.client_address[0],
                    "userAgent": _utf8(self.headers.get("User-Agent", "")),
                },
                "requestId": uuid.uuid4().hex,
                "routeKey": route.key,
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        params: dict[str, list[str]] = {}
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            params.setdefault(name, []).append(value)
        if params:
            event["queryStringParameters"] = {k: ",".join(v) for k, v in params.items()}
        if path_parameters := route.path_parameters(raw_path):
            event["pathParameters"] = path_parameters
        if body:
            content_type = self.headers.get("Content-Type", "").strip().lower()
            text = content_type == "" or content_type.startswith(("text/", "application/json"))
            try:
                event["body"] = body.decode("utf-8") if text else None
            except UnicodeDecodeError:
                event["body"] = None
            if event["body"] is None:
                event["body"] = base64.b64encode(body).decode("ascii")
                event["isBase64Encoded"] = True
        return event

    def _invoke(self, binary: str, event: bytes):
        """Invokes the function; its answer as (status, reason, headers, body)."""
        conn = http.client.HTTPConnection(
            self.server.lambda_host, self.server.lambda_port, timeout=self.server.upstream_timeout
        )
        try:
            conn.request("POST", f"/2015-03-31/functions/{binary}/invocations", body=event,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            payload = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            # The emulator's own answer (no such function, the function failed): as it is.
            content_type = resp.getheader("Content-Type") or "application/json"
            return resp.status, resp.reason, [("Content-Type", content_type)], payload
        try:
            answer = json.loads(payload)
        except ValueError:
            return self._unusable(binary, "not JSON")
        if not isinstance(answer, dict) or "statusCode" not in answer:
            if isinstance(answer, dict) and "errorType" in answer:
                # cargo lambda passes on a failed start (an init error) with 200.
                return 500, "Internal Server Error", [("Content-Type", "application/json")], payload
            # API Gateway: JSON without a statusCode is the body of a 200.
            return 200, "OK", [("Content-Type", "application/json")], payload
        return self._answer(binary, answer)

    @staticmethod
    def _answer(binary: str, answer: dict):
        """The HTTP response for a function's payload format 2.0 answer."""
        try:
            status = int(answer["statusCode"])
            if not 100 <= status <= 599:
                raise ValueError(f"statusCode {status}")
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = ""
            merged: dict[str, tuple[str, list[str]]] = {}
            for name, value in (answer.get("headers") or {}).items():
                merged[name.lower()] = (name, [str(value)])
            # cargo lambda's function URLs did the same: a multi-value header replaces the plain one.
            for name, values in (answer.get("multiValueHeaders") or {}).items():
                if values:
                    merged[name.lower()] = (name, [str(v) for v in values])
            headers = [(name, v) for name, values in merged.values() for v in values]
            headers += [("Set-Cookie", str(c)) for c in answer.get("cookies") or []]
            body = answer.get("body")
            if body is None:
                payload = b""
            elif answer.get("isBase64Encoded"):
                payload = base64.b64decode(body, validate=True)
            else:
                payload = str(body).encode("utf-8")
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as e:
            return Handler._unusable(binary, str(e))
        return status, reason, headers, payload

    @staticmethod
    def _unusable(binary: str, why: str):
        """API Gateway answers 500 to an answer it cannot use (an emulator failure: retried)."""
        doc = {"type": "about:blank", "title": "Internal Server Error", "status": 500,
               "detail": f"function '{binary}' returned an answer API Gateway cannot use ({why})"}
        return 500, "Internal Server Error", [("Content-Type", "application/problem+json")], \
            json.dumps(doc).encode()

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
        sys.stderr.write(f"gateway route {r.method:<6} {r.path:<24} -> {r.binary}\n")
    sys.stderr.write(
        f"gateway listening on http://{args.host}:{args.port} (functions invoked at "
        f"http://{args.lambda_host}:{args.lambda_port}/2015-03-31/functions/<binary>/invocations)\n"
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
