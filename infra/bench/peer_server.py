"""The benchmark's peer: DOTM's four public MCP tools on the official Python MCP SDK.

    python infra/bench/peer_server.py --port 3230 --catalog-url http://127.0.0.1:3220/mcp/api

What a team would write instead of functions/mcp: the SDK's high-level server (`MCPServer`,
formerly FastMCP) with typed tools, served over Streamable HTTP by the SDK's own `run()`
(uvicorn, one process), stateless, JSON responses (no SSE), as the Rust function is configured.
It serves calculate_pricing, search_services, get_service_details and compare_memberships over
the same catalog, read once at start from our `GET /mcp/api`, and answers what the Rust server
answers: the same structured content (validated by the SDK against each tool's output model,
as the SDK does for a declared output schema) and the same text. `make bench` checks that
before it measures anything (infra/bench/mcp_bench.py). Pricing is integer cents, cashback in
wei, as in dotm-domain/src/pricing.rs; search scores as dotm-domain/src/search.rs.

/mcp/api is a JSON object keyed by id, without the catalog's own order, which decides the order
of search results with equal scores and of the memberships; so the peer also reads our catalog
page (`GET /mcp`, the same URL without `/api`) once and takes each category's services in the
order the page lists them (categories in the order of /mcp/api's `categories`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.request
from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

CASHBACK_PERCENT = "10.33"
CASHBACK_PER_10K = 1033
WEI_PER_DOTM = 10**18
MICROS_PER_CENT = 10_000
MAX_QUERY_CHARS, MAX_ID_CHARS, MAX_SERVICES = 200, 64, 50
LABELS = {"one_time": "one-time", "monthly": "per month", "yearly": "per year", "free": "free",
          "info": "included"}
STOPWORDS = {"a", "an", "and", "the", "i", "me", "my", "we", "need", "want", "get", "buy", "for",
             "of", "to", "with", "please", "some", "how", "much", "is", "what", "do", "you",
             "have", "can"}
IN_NAME, IN_KEYWORDS, IN_CATEGORY, IN_DESCRIPTION, WHOLE_PHRASE = 6, 4, 2, 1, 5
RECOMMENDATION = (
    "Full Membership ($66.00 a year, $5.50 a month) includes priority support and network "
    "security, worth $60 a year on their own; Basic ($24.00 a year) suits members who mostly buy "
    "data. The Beta Program is free and needs approval.")
INSTRUCTIONS = (
    "DOTM sells global eSIM data, network add-ons and memberships, and rewards purchases with the "
    "DOTM token (10.33 % cashback). Use search_services to find a service id from what the person "
    "asks for, get_service_details for one service, calculate_pricing for totals of several, "
    "compare_memberships to choose a membership.")

Category = Literal["connectivity", "membership", "network_features", "physical", "token", "api",
                   "support"]
Billing = Literal["one_time", "monthly", "yearly", "free", "info"]


# ---- the answers (output schemas) ------------------------------------------------------------

class Service(BaseModel):
    id: str
    name: str
    category: Category
    description: str
    price: float
    price_cents: int
    currency: str
    billing: Billing
    billing_note: str
    features: list[str]
    keywords: list[str]


class Line(BaseModel):
    id: str
    name: str
    category: Category
    billing: Billing
    price: float
    price_cents: int


class Totals(BaseModel):
    monthly_recurring: float
    monthly_recurring_cents: int
    annual_total: float
    annual_total_cents: int
    one_time_total: float
    one_time_total_cents: int
    first_year_total: float
    first_year_total_cents: int
    currency: str
    dotm_cashback: str
    dotm_cashback_wei: str
    cashback_rate_percent: str


class Quote(BaseModel):
    services: list[Line]
    pricing: Totals


class SearchResult(BaseModel):
    id: str
    name: str
    category: Category
    description: str
    price: float
    price_cents: int
    billing: Billing
    score: int


class SearchAnswer(BaseModel):
    query: str
    results: list[SearchResult]
    total: int


class MembershipsAnswer(BaseModel):
    memberships: list[Service]
    recommendation: str


# ---- the rules (as in dotm-domain/src) ----------------------------------------------------------

def dollars(cents: int) -> float:
    return float(f"{cents // 100}.{cents % 100:02d}")


def display(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


def words(text: str) -> list[str]:
    return [w.lower() for w in re.split(r"[^\w]|_", text) if w]


def rust_debug(s: str) -> str:
    """Rust's `{:?}` of a string, for the plain text answers."""
    return json.dumps(s, ensure_ascii=False)


class Catalog:
    def __init__(self, doc: dict, page: str, usd_micros_per_dotm: int):
        self.category_names = {c["id"]: c["name"] for c in doc["categories"]}
        order = {c["id"]: i for i, c in enumerate(doc["categories"])}

        def on_page(sid: str) -> int:
            m = re.search(rf"\b{re.escape(sid)}\b", page)
            return m.start() if m else len(page)

        self.services = sorted(doc["services"].values(),
                               key=lambda s: (order[s["category"]], on_page(s["id"]), s["id"]))
        self.by_id = {s["id"]: s for s in self.services}
        self.usd_micros = usd_micros_per_dotm
        # What each service is searched by, computed once (the Rust server recomputes it per
        # call; precomputing only helps the peer).
        self.index = [{
            "name": set(words(s["name"])) | set(words(s["id"].replace("_", " "))),
            "keywords": {w for k in s["keywords"] for w in words(k)},
            "category": set(words(self.category_names[s["category"]])),
            "description": set(words(s["description"])),
            "name_lower": s["name"].lower(),
            "keywords_lower": [k.lower() for k in s["keywords"]],
        } for s in self.services]

    def cashback_wei(self, cents: int) -> int:
        return cents * MICROS_PER_CENT * CASHBACK_PER_10K * WEI_PER_DOTM // 10_000 // self.usd_micros

    @staticmethod
    def dotm(wei: int) -> str:
        whole, frac = divmod(wei, WEI_PER_DOTM)
        if frac == 0:
            return str(whole)
        return f"{whole}.{f'{frac:018d}'.rstrip('0')}"

    def quote(self, ids: list[str]) -> Quote:
        seen, lines, unknown = set(), [], []
        for raw in ids:
            i = raw.strip()
            if not i or i in seen:
                continue
            seen.add(i)
            s = self.by_id.get(i)
            if s is None:
                unknown.append(i)
            else:
                lines.append(Line(id=s["id"], name=s["name"], category=s["category"],
                                  billing=s["billing"], price=s["price"], price_cents=s["price_cents"]))
        if unknown:
            raise ValueError(f"unknown service id{'' if len(unknown) == 1 else 's'}: {', '.join(unknown)}")
        if not lines:
            raise ValueError("no services given: name at least one service id")

        def total(billing: str) -> int:
            return sum(ln.price_cents for ln in lines if ln.billing == billing)

        monthly, yearly, one_time = total("monthly"), total("yearly"), total("one_time")
        monthly_recurring = monthly + (yearly + 6) // 12
        annual = yearly + monthly * 12
        first_year = annual + one_time
        wei = self.cashback_wei(first_year)
        return Quote(services=lines, pricing=Totals(
            monthly_recurring=dollars(monthly_recurring), monthly_recurring_cents=monthly_recurring,
            annual_total=dollars(annual), annual_total_cents=annual,
            one_time_total=dollars(one_time), one_time_total_cents=one_time,
            first_year_total=dollars(first_year), first_year_total_cents=first_year,
            currency="USD", dotm_cashback=self.dotm(wei), dotm_cashback_wei=str(wei),
            cashback_rate_percent=CASHBACK_PERCENT))

    def search(self, query: str, category: str | None, limit: int) -> list[tuple[dict, int]]:
        terms = [w for w in words(query) if w not in STOPWORDS]
        phrase = " ".join(terms)
        hits = []
        for s, ix in zip(self.services, self.index):
            if category is not None and s["category"] != category:
                continue
            score = 0
            for t in terms:
                if t in ix["name"]:
                    score += IN_NAME
                if t in ix["keywords"]:
                    score += IN_KEYWORDS
                if t in ix["category"]:
                    score += IN_CATEGORY
                if t in ix["description"]:
                    score += IN_DESCRIPTION
            if phrase and (phrase in ix["name_lower"] or phrase in ix["keywords_lower"]):
                score += WHOLE_PHRASE
            if not terms or score > 0:
                hits.append((s, score))
        hits.sort(key=lambda h: -h[1])  # stable: ties keep catalog order
        return hits[:limit]


# ---- the text half of each answer (as functions/mcp/src/render.rs) ------------------------------

def render_quote(q: Quote) -> str:
    out = "Pricing:\n"
    for ln in q.services:
        out += f"- {ln.name} ({ln.id}): {display(ln.price_cents)} {LABELS[ln.billing]}\n"
    p = q.pricing
    return out + (f"Monthly recurring: {display(p.monthly_recurring_cents)}\n"
                  f"Annual total: {display(p.annual_total_cents)}\n"
                  f"One-time total: {display(p.one_time_total_cents)}\n"
                  f"First-year total: {display(p.first_year_total_cents)}\n"
                  f"DOTM cashback: {p.dotm_cashback} DOTM ({p.cashback_rate_percent} % of the first year)")


def render_search(a: SearchAnswer) -> str:
    if not a.results:
        return (f"No DOTM service matches {rust_debug(a.query)}. Try other words, or a category "
                "such as connectivity or network_features.")
    out = f"{a.total} result(s) for {rust_debug(a.query)}:\n"
    for r in a.results:
        out += f"- {r.name} ({r.id}): {display(r.price_cents)} {LABELS[r.billing]} — {r.description}\n"
    return out.rstrip()


def render_service(s: dict, category_name: str) -> str:
    out = (f"{s['name']} ({s['id']})\nCategory: {category_name}\n"
           f"Price: {display(s['price_cents'])} ({s['billing_note']})\n{s['description']}\nFeatures:\n")
    for f in s["features"]:
        out += f"- {f}\n"
    return out.rstrip()


def render_memberships(m: MembershipsAnswer) -> str:
    out = "DOTM memberships:\n"
    for s in m.memberships:
        out += (f"- {s.name} ({s.id}): {display(s.price_cents)} {LABELS[s.billing]} — "
                f"{'; '.join(s.features)}\n")
    return out + m.recommendation


def answer(model: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=model.model_dump(mode="json"))


def refuse(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


# ---- the server --------------------------------------------------------------------------------

def build(catalog: Catalog) -> MCPServer:
    server = MCPServer("dotm-peer", version="0.1.0", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(description="Price a set of DOTM services together: per-item lines, monthly "
                 "recurring, annual total, one-time total, first-year total and the DOTM cashback "
                 "earned. Unknown ids are reported by name.")
    def calculate_pricing(
        services: Annotated[list[str], Field(min_length=1, max_length=MAX_SERVICES, description=(
            'Service ids to price together, e.g. ["basic_membership", "network_security"]. Use '
            "search_services to find ids."))],
    ) -> Annotated[CallToolResult, Quote]:
        if any(len(i) > MAX_ID_CHARS for i in services):
            return refuse(f"Invalid arguments for calculate_pricing: a service id is too long; at most {MAX_ID_CHARS}")
        try:
            q = catalog.quote(services)
        except ValueError as e:
            return refuse(f"{e}. Use search_services to find valid service ids.")
        return answer(q, render_quote(q))

    @server.tool(description='Search the DOTM catalog with the person\'s own words (e.g. "Global '
                 'Data eSIM", "DOT eSIM", "vpn"). Returns the best matching services first, with '
                 "ids and prices.")
    def search_services(
        query: Annotated[str, Field(max_length=MAX_QUERY_CHARS, description=(
            'What the person is looking for, in their words, e.g. "Global Data eSIM".'))],
        category: Annotated[Category | None, Field(description="Only services of this category.")] = None,
        limit: Annotated[int | None, Field(ge=1, le=23, description="How many results at most (1-23, default 5).")] = None,
    ) -> Annotated[CallToolResult, SearchAnswer]:
        hits = catalog.search(query, category, 5 if limit is None else limit)
        results = [SearchResult(id=s["id"], name=s["name"], category=s["category"],
                                description=s["description"], price=s["price"],
                                price_cents=s["price_cents"], billing=s["billing"], score=score)
                   for s, score in hits]
        found = SearchAnswer(query=query, results=results, total=len(results))
        return answer(found, render_search(found))

    @server.tool(description="Everything about one DOTM service: description, features, price and billing.")
    def get_service_details(
        service_id: Annotated[str, Field(max_length=MAX_ID_CHARS, description='A service id, e.g. "global_data_10gb".')],
    ) -> Annotated[CallToolResult, Service]:
        s = catalog.by_id.get(service_id.strip())
        if s is None:
            return refuse(f"unknown service id: {service_id}. Use search_services to find valid service ids.")
        return answer(Service(**s), render_service(s, catalog.category_names[s["category"]]))

    @server.tool(description="Compare the DOTM memberships (Beta Program, Basic, Full): prices and what each includes.")
    def compare_memberships() -> Annotated[CallToolResult, MembershipsAnswer]:
        m = MembershipsAnswer(memberships=[Service(**s) for s in catalog.services if s["category"] == "membership"],
                              recommendation=RECOMMENDATION)
        return answer(m, render_memberships(m))

    return server


def usd_micros(text: str) -> int:
    whole, _, frac = text.strip().partition(".")
    return int(whole or "0") * 1_000_000 + int(f"{frac:0<6}"[:6] or "0")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3230)
    p.add_argument("--catalog-url", required=True, help="our GET /mcp/api (and so GET /mcp)")
    a = p.parse_args()
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(a.catalog_url, timeout=5) as r:
                doc = json.load(r)
            page_url = a.catalog_url.rstrip("/").removesuffix("/api")
            req = urllib.request.Request(page_url, headers={"Accept": "text/html"})
            with urllib.request.urlopen(req, timeout=5) as r:
                page = r.read().decode("utf-8", "replace")
            break
        except OSError as e:
            if time.monotonic() > deadline:
                print(f"cannot read the catalog at {a.catalog_url}: {e}", file=sys.stderr)
                return 2
            time.sleep(0.05)
    catalog = Catalog(doc, page, usd_micros(os.environ.get("DOTM_USD_PRICE", "1")))
    build(catalog).run("streamable-http", host=a.host, port=a.port, stateless_http=True, json_response=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
