"""Request/response values shared by the sandbox's providers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    path: str  # without the query string, leading slashes collapsed to one
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    raw_query: str = ""
    received_at: float = 0.0  # unix seconds when the request arrived (before its body was read)
    peer: str = ""  # the caller's address:port (which process is calling, for the chaos run)

    def q(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[0] if vals else default

    def json(self) -> dict:
        if not self.body:
            return {}
        try:
            v = json.loads(self.body)
        except ValueError as e:
            raise BadRequest(f"body is not JSON: {e}") from None
        if not isinstance(v, dict):
            raise BadRequest("body must be a JSON object")
        return v


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    pass


def json_response(status: int, obj, headers: dict[str, str] | None = None) -> Response:
    return Response(status, (json.dumps(obj, indent=2) + "\n").encode(), "application/json",
                    dict(headers or {}))


def html_response(status: int, html: str) -> Response:
    return Response(status, html.encode(), "text/html; charset=utf-8")
