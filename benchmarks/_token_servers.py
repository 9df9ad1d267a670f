"""Deterministic MCP servers for `bench_tokens.py`, one per `--server` choice, over stdio.

Run: `python benchmarks/_token_servers.py --server docs|crm|sheets|weather|suite`.

- `docs`: `get_document(document_id)` returns a ~50 KB meeting transcript as plain text
  (the same bytes every run), beside `list_documents` and `search_documents`.
- `crm`: `attach_note(record_id, text)` stores nothing but answers with the note's length
  and sha256, so the benchmark can prove both modes attached the very same text; also
  `get_record`, `search_records`, `update_record`.
- `sheets`: `get_rows(sheet="orders")` returns a 10,000-row table; exactly 5 rows have
  status "chargeback". Also `list_sheets`.
- `weather`: `get_forecast(city, days=7)`, plus `get_current` and `get_alerts`.
- `suite`: 200 tools (20 products x 10 verbs), among them `billing_get_invoice` and
  `mail_send_message`, the two that scenario 4 needs.

Structured results are sent as `CallToolResult`s whose text block is `json.dumps(value)`
(one line, not the SDK's default `indent=2`), so the direct-mode text a model reads is
not padded with indentation: that keeps the comparison conservative.

No `from __future__ import annotations` here: the SDK reads the annotations of tools built
inside `_suite_tool`, which name that function's locals.
"""

import argparse
import hashlib
import json
import random
from collections.abc import Callable
from typing import Annotated, Any, Literal, NotRequired

from mcp.server import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import Field
from typing_extensions import TypedDict

DOCUMENT_ID = "doc-q3-planning-transcript"
DOCUMENT_BYTES = 50_000
SHEET_ROWS = 10_000
CHARGEBACK_ROWS = (417, 2290, 5123, 7781, 9654)
CITIES = (
    "Lisbon", "Oslo", "Nairobi", "Osaka", "Lima",
    "Toronto", "Cairo", "Auckland", "Reykjavik", "Hanoi",
)  # fmt: skip


def structured(value: Any) -> CallToolResult:
    """A result with `value` as structured content and as one line of JSON text."""
    text = json.dumps(value, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=value)


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


# --------------------------------------------------------------------------- documents

SPEAKERS = ("Priya", "Marcus", "Elena", "Tomasz", "Aiko", "Daniel")
OPENERS = (
    "I think", "Honestly,", "From the numbers I saw,", "Just to add to that,",
    "If I remember correctly,", "Looking at last quarter,", "To be clear,", "So",
)  # fmt: skip
SUBJECTS = (
    "the onboarding funnel", "our renewal pipeline", "the EMEA launch", "the pricing page",
    "the support backlog", "the data migration", "the mobile release", "the partner program",
    "the security review", "the hiring plan", "the Q3 forecast", "the analytics dashboard",
)  # fmt: skip
PREDICATES = (
    "is tracking about two weeks behind the plan we agreed in June",
    "needs a clearer owner before we commit to a date",
    "looks healthier than last month, mostly thanks to the new trial flow",
    "depends on legal signing off on the updated terms",
    "should be split into two phases so we can ship the first part sooner",
    "came up in three customer calls this week, all with the same complaint",
    "is blocked on the vendor sending us the final API credentials",
    "would benefit from a short design review with the platform team",
    "has a budget gap of roughly forty thousand that we still have to close",
    "can move forward once we have the metrics from the pilot accounts",
)  # fmt: skip
CLOSERS = (
    "Let's capture that as an action item.", "Can someone follow up by Friday?",
    "I'll put it in the notes.", "Does anyone disagree?", "We should revisit it next week.",
    "That's my main concern.", "I can take that one.", "Let's not lose track of it.",
)  # fmt: skip


def document_text(document_id: str = DOCUMENT_ID) -> str:
    """A meeting transcript of just under `DOCUMENT_BYTES` bytes, the same on every run."""
    rng = random.Random(_seed("document", document_id))
    lines = [
        "Q3 planning sync: transcript",
        "Attendees: " + ", ".join(SPEAKERS),
        "",
    ]
    seconds, size = 0, sum(len(line) + 1 for line in lines)
    while True:
        sentences = [
            f"{rng.choice(OPENERS)} {rng.choice(SUBJECTS)} {rng.choice(PREDICATES)}."
            for _ in range(rng.randint(1, 3))
        ]
        stamp = f"[{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}]"
        line = f"{stamp} {rng.choice(SPEAKERS)}: {' '.join(sentences)} {rng.choice(CLOSERS)}"
        if size + len(line) + 1 > DOCUMENT_BYTES:
            break
        lines.append(line)
        size += len(line) + 1
        seconds += rng.randint(8, 45)
    return "\n".join(lines) + "\n"


class DocumentInfo(TypedDict):
    """One document in a listing."""

    document_id: str
    title: str
    bytes: int
    modified: str


class DocumentList(TypedDict):
    """Documents found."""

    documents: list[DocumentInfo]


def _document_list() -> DocumentList:
    return {
        "documents": [
            {
                "document_id": DOCUMENT_ID,
                "title": "Q3 planning sync: transcript",
                "bytes": len(document_text().encode()),
                "modified": "2024-07-02T16:05:00Z",
            }
        ]
    }


def docs_server() -> MCPServer:
    server: MCPServer = MCPServer("docs", version="1.0.0", log_level="WARNING")

    @server.tool()
    def list_documents(
        folder: Annotated[
            str | None, Field(description="Folder path; all folders if omitted.")
        ] = None,
    ) -> Annotated[CallToolResult, DocumentList]:
        """List the documents in the shared drive, newest first."""
        return structured(_document_list())

    @server.tool()
    def search_documents(
        query: Annotated[str, Field(description="Words to look for in titles and text.")],
        limit: Annotated[int, Field(description="Most documents to return.", ge=1)] = 10,
    ) -> Annotated[CallToolResult, DocumentList]:
        """Full-text search over the shared drive's documents."""
        return structured(_document_list())

    @server.tool(structured_output=False)
    def get_document(
        document_id: Annotated[str, Field(description="The document's id, e.g. 'doc-123'.")],
    ) -> str:
        """Return a document's full text (plain text, every line)."""
        return document_text(document_id)

    return server


# --------------------------------------------------------------------------- crm


class CrmRecord(TypedDict):
    """A CRM record (a lead, contact or account)."""

    record_id: str
    kind: Literal["lead", "contact", "account"]
    name: str
    company: str
    email: str
    owner: str
    stage: str
    notes: int


class RecordList(TypedDict):
    """Records found."""

    records: list[CrmRecord]


class NoteReceipt(TypedDict):
    """What `attach_note` stored."""

    record_id: str
    note_id: str
    chars: int
    sha256: str


class UpdateReceipt(TypedDict):
    """What `update_record` changed."""

    record_id: str
    updated: list[str]


def _record(record_id: str) -> CrmRecord:
    return {
        "record_id": record_id,
        "kind": "lead",
        "name": "Jordan Alvarez",
        "company": "Northwind Logistics",
        "email": "jordan.alvarez@northwind.example",
        "owner": "Elena",
        "stage": "qualified",
        "notes": 3,
    }


def crm_server() -> MCPServer:
    server: MCPServer = MCPServer("crm", version="1.0.0", log_level="WARNING")

    @server.tool()
    def get_record(
        record_id: Annotated[str, Field(description="The record's id, e.g. 'lead-00417'.")],
    ) -> Annotated[CallToolResult, CrmRecord]:
        """Get one CRM record by id."""
        return structured(_record(record_id))

    @server.tool()
    def search_records(
        query: Annotated[str, Field(description="Name, company or email to look for.")],
        kind: Literal["lead", "contact", "account"] | None = None,
        limit: Annotated[int, Field(description="Most records to return.", ge=1)] = 10,
    ) -> Annotated[CallToolResult, RecordList]:
        """Search CRM records by name, company or email."""
        return structured({"records": [_record("lead-00417")]})

    @server.tool()
    def attach_note(
        record_id: Annotated[str, Field(description="The record to attach the note to.")],
        text: Annotated[str, Field(description="The note's full text.")],
    ) -> Annotated[CallToolResult, NoteReceipt]:
        """Attach a text note to a CRM record."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        receipt: NoteReceipt = {
            "record_id": record_id,
            "note_id": f"note-{digest[:10]}",
            "chars": len(text),
            "sha256": digest,
        }
        return structured(receipt)

    @server.tool()
    def update_record(
        record_id: Annotated[str, Field(description="The record to change.")],
        fields: Annotated[dict[str, str], Field(description="Field names and new values.")],
    ) -> Annotated[CallToolResult, UpdateReceipt]:
        """Change fields of a CRM record."""
        return structured({"record_id": record_id, "updated": sorted(fields)})

    return server


# --------------------------------------------------------------------------- sheets

SHEET_COLUMNS = ["order_id", "date", "customer", "region", "amount", "status"]
CUSTOMERS = (
    "Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises",
    "Tyrell", "Cyberdyne", "Soylent", "Wonka", "Gringotts", "Vandelay", "Dunder Mifflin",
)  # fmt: skip
REGIONS = ("EU", "NA", "APAC", "LATAM", "MEA")
STATUSES = ("paid", "paid", "paid", "pending", "refunded", "shipped", "cancelled")


def sheet_rows() -> list[list[Any]]:
    """The `orders` sheet: `SHEET_ROWS` rows, 5 of them (`CHARGEBACK_ROWS`) chargebacks."""
    rng = random.Random(_seed("sheet", "orders"))
    rows: list[list[Any]] = []
    for index in range(SHEET_ROWS):
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        status = "chargeback" if index in CHARGEBACK_ROWS else rng.choice(STATUSES)
        rows.append(
            [
                f"ORD-{100000 + index}",
                f"2024-{month:02d}-{day:02d}",
                rng.choice(CUSTOMERS),
                rng.choice(REGIONS),
                round(rng.uniform(5, 5000), 2),
                status,
            ]
        )
    return rows


class SheetInfo(TypedDict):
    """One sheet."""

    sheet: str
    rows: int
    columns: list[str]


class SheetList(TypedDict):
    """The workbook's sheets."""

    sheets: list[SheetInfo]


class Rows(TypedDict):
    """A sheet's rows; each row holds one value per column, in `columns` order."""

    sheet: str
    columns: list[str]
    rows: list[list[Any]]


def sheets_server() -> MCPServer:
    server: MCPServer = MCPServer("sheets", version="1.0.0", log_level="WARNING")

    @server.tool()
    def list_sheets() -> Annotated[CallToolResult, SheetList]:
        """List the workbook's sheets with their sizes and columns."""
        info: SheetInfo = {"sheet": "orders", "rows": SHEET_ROWS, "columns": SHEET_COLUMNS}
        return structured({"sheets": [info]})

    @server.tool()
    def get_rows(
        sheet: Annotated[str, Field(description="Sheet name.")] = "orders",
    ) -> Annotated[CallToolResult, Rows]:
        """Return every row of a sheet, with its column names."""
        return structured({"sheet": sheet, "columns": SHEET_COLUMNS, "rows": sheet_rows()})

    return server


# --------------------------------------------------------------------------- weather

CONDITIONS = ("sunny", "partly cloudy", "cloudy", "light rain", "rain", "thunderstorms", "snow")


class DayForecast(TypedDict):
    """One day of a forecast."""

    date: str
    high_c: int
    low_c: int
    conditions: str
    precip_mm: float
    wind_kph: int
    humidity_pct: int


class Forecast(TypedDict):
    """A daily forecast for one city."""

    city: str
    units: Literal["metric"]
    issued: str
    days: list[DayForecast]


class Current(TypedDict):
    """Current conditions in one city."""

    city: str
    temperature_c: int
    conditions: str
    wind_kph: int


class Alert(TypedDict):
    """A weather warning."""

    region: str
    severity: Literal["minor", "moderate", "severe"]
    headline: str


class Alerts(TypedDict):
    """Active weather warnings."""

    alerts: list[Alert]


def forecast(city: str, days: int = 7) -> Forecast:
    """The (made-up, deterministic) forecast for `city`."""
    rng = random.Random(_seed("forecast", city))
    base = rng.randint(-5, 28)
    out: list[DayForecast] = []
    for day in range(days):
        high = base + rng.randint(-3, 4)
        conditions = rng.choice(CONDITIONS)
        wet = conditions in {"light rain", "rain", "thunderstorms", "snow"}
        out.append(
            {
                "date": f"2024-07-{day + 1:02d}",
                "high_c": high,
                "low_c": high - rng.randint(4, 11),
                "conditions": conditions,
                "precip_mm": round(rng.uniform(0.5, 25.0), 1) if wet else 0.0,
                "wind_kph": rng.randint(3, 45),
                "humidity_pct": rng.randint(30, 95),
            }
        )
    return {"city": city, "units": "metric", "issued": "2024-06-30T06:00:00Z", "days": out}


def weather_server() -> MCPServer:
    server: MCPServer = MCPServer("weather", version="1.0.0", log_level="WARNING")

    @server.tool()
    def get_forecast(
        city: Annotated[str, Field(description="City name, e.g. 'Lisbon'.")],
        days: Annotated[int, Field(description="Number of days, 1 to 14.", ge=1, le=14)] = 7,
    ) -> Annotated[CallToolResult, Forecast]:
        """Daily forecast for a city: highs, lows, conditions, precipitation, wind, humidity."""
        return structured(forecast(city, days))

    @server.tool()
    def get_current(
        city: Annotated[str, Field(description="City name, e.g. 'Lisbon'.")],
    ) -> Annotated[CallToolResult, Current]:
        """Current conditions in a city."""
        today = forecast(city, 1)["days"][0]
        return structured(
            {
                "city": city,
                "temperature_c": today["high_c"],
                "conditions": today["conditions"],
                "wind_kph": today["wind_kph"],
            }
        )

    @server.tool()
    def get_alerts(
        region: Annotated[str, Field(description="Country or region name.")],
    ) -> Annotated[CallToolResult, Alerts]:
        """Active weather warnings for a region."""
        return structured({"alerts": []})

    return server


# --------------------------------------------------------------------------- suite (200 tools)

# (tool prefix, product name, object, plural, id example)
PRODUCTS = (
    ("billing", "Billing", "invoice", "invoices", "INV-2048"),
    ("mail", "Mail", "message", "messages", "msg-5521"),
    ("calendar", "Calendar", "event", "events", "evt-301"),
    ("github", "GitHub", "issue", "issues", "1874"),
    ("jira", "Jira", "ticket", "tickets", "OPS-412"),
    ("slack", "Slack", "message", "messages", "C042:1712"),
    ("drive", "Drive", "file", "files", "file-88a1"),
    ("notion", "Notion", "page", "pages", "pg-7f2c"),
    ("hr", "HR", "employee", "employees", "emp-0193"),
    ("support", "Support", "case", "cases", "CASE-9931"),
    ("inventory", "Inventory", "item", "items", "SKU-4410"),
    ("shipping", "Shipping", "shipment", "shipments", "SHP-7702"),
    ("analytics", "Analytics", "report", "reports", "rpt-55"),
    ("ads", "Ads", "campaign", "campaigns", "cmp-2231"),
    ("contracts", "Contracts", "contract", "contracts", "CTR-118"),
    ("expenses", "Expenses", "expense", "expenses", "EXP-6407"),
    ("recruiting", "Recruiting", "candidate", "candidates", "cand-340"),
    ("assets", "Assets", "device", "devices", "DEV-0912"),
    ("wiki", "Wiki", "article", "articles", "wiki-77"),
    ("forms", "Forms", "submission", "submissions", "sub-1450"),
)
VERBS = (
    "get",
    "list",
    "search",
    "create",
    "update",
    "delete",
    "archive",
    "export",
    "share",
    "send",
)
INVOICE_ID = "INV-2048"


class SuiteRecord(TypedDict):
    """One object, with its common fields and product-specific ones."""

    id: str
    title: str
    status: str
    owner: str
    created: str
    updated: str
    url: str
    fields: dict[str, str]


class SuitePage(TypedDict):
    """One page of objects."""

    items: list[SuiteRecord]
    next_cursor: str | None
    total: int


class SuiteAction(TypedDict):
    """The outcome of a change."""

    ok: bool
    id: str
    url: str
    message: str


class SuiteExport(TypedDict):
    """A finished export."""

    url: str
    format: str
    rows: int
    expires: str


class LineItem(TypedDict):
    """One invoice line."""

    sku: str
    description: str
    quantity: int
    unit_price: float
    amount: float


class Invoice(TypedDict):
    """An invoice with its lines and totals."""

    invoice_id: str
    customer: str
    billing_email: str
    currency: str
    issued: str
    due_date: str
    status: Literal["draft", "open", "paid", "overdue", "void"]
    subtotal: float
    tax: float
    total: float
    line_items: list[LineItem]
    notes: NotRequired[str]


class SentMessage(TypedDict):
    """A message that was sent."""

    message_id: str
    to: list[str]
    subject: str
    status: Literal["queued", "sent"]


def invoice(invoice_id: str) -> Invoice:
    """The (made-up, deterministic) invoice `invoice_id`."""
    rng = random.Random(_seed("invoice", invoice_id))
    products = (
        ("PLAT-ENT", "Platform, Enterprise tier (annual)"),
        ("SEAT-ADD", "Additional seats"),
        ("SUP-PREM", "Premium support"),
        ("TRN-ONS", "On-site training day"),
        ("API-OVG", "API overage, per 10k calls"),
    )
    lines: list[LineItem] = []
    for sku, description in products:
        quantity, price = rng.randint(1, 25), round(rng.uniform(40, 2400), 2)
        lines.append(
            {
                "sku": sku,
                "description": description,
                "quantity": quantity,
                "unit_price": price,
                "amount": round(quantity * price, 2),
            }
        )
    subtotal = round(sum(line["amount"] for line in lines), 2)
    tax = round(subtotal * 0.2, 2)
    return {
        "invoice_id": invoice_id,
        "customer": "Northwind Logistics",
        "billing_email": "ap@northwind.example",
        "currency": "EUR",
        "issued": "2024-06-01",
        "due_date": "2024-07-01",
        "status": "overdue",
        "subtotal": subtotal,
        "tax": tax,
        "total": round(subtotal + tax, 2),
        "line_items": lines,
        "notes": "Net 30. Bank transfer to the account on file; quote the invoice id.",
    }


def _suite_url(prefix: str, obj: str, ident: str) -> str:
    return f"https://{prefix}.example.com/{obj}s/{ident}"


def _suite_record(prefix: str, obj: str, ident: str) -> SuiteRecord:
    return {
        "id": ident,
        "title": f"{obj.capitalize()} {ident}",
        "status": "open",
        "owner": "elena@example.com",
        "created": "2024-05-02T09:00:00Z",
        "updated": "2024-06-28T14:12:00Z",
        "url": _suite_url(prefix, obj, ident),
        "fields": {},
    }


Tool = Callable[..., CallToolResult]


def _suite_tool(verb: str, product: tuple[str, str, str, str, str]) -> tuple[Tool, str]:
    """The function and description of tool `<prefix>_<verb>_<object or plural>`."""
    prefix, name, obj, plural, example = product
    ident = Annotated[str, Field(description=f"The {obj}'s id, e.g. '{example}'.")]

    def action(ident_value: str, message: str) -> CallToolResult:
        result: SuiteAction = {
            "ok": True,
            "id": ident_value,
            "url": _suite_url(prefix, obj, ident_value),
            "message": message,
        }
        return structured(result)

    def page() -> CallToolResult:
        return structured(
            {"items": [_suite_record(prefix, obj, example)], "next_cursor": None, "total": 1}
        )

    def get_tool(id: ident) -> Annotated[CallToolResult, SuiteRecord]:
        return structured(_suite_record(prefix, obj, id))

    def list_tool(
        status: Annotated[
            Literal["open", "closed", "all"], Field(description=f"Which {plural} to include.")
        ] = "open",
        limit: Annotated[int, Field(description="Page size.", ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Field(description="From a previous page.")] = None,
    ) -> Annotated[CallToolResult, SuitePage]:
        return page()

    def search_tool(
        query: Annotated[str, Field(description="Words to look for.")],
        limit: Annotated[int, Field(description="Most results.", ge=1, le=100)] = 20,
    ) -> Annotated[CallToolResult, SuitePage]:
        return page()

    def create_tool(
        title: Annotated[str, Field(description=f"Title of the new {obj}.")],
        body: Annotated[str | None, Field(description="Longer description.")] = None,
        tags: Annotated[list[str] | None, Field(description="Labels to add.")] = None,
    ) -> Annotated[CallToolResult, SuiteAction]:
        return action(example, f"created {obj}")

    def update_tool(
        id: ident,
        fields: Annotated[dict[str, str], Field(description="Field names and new values.")],
    ) -> Annotated[CallToolResult, SuiteAction]:
        return action(id, f"updated {len(fields)} field(s)")

    def delete_tool(
        id: ident,
        confirm: Annotated[bool, Field(description="Must be true; deletion is permanent.")],
    ) -> Annotated[CallToolResult, SuiteAction]:
        return action(id, f"deleted {obj}")

    def archive_tool(
        id: ident,
        reason: Annotated[str | None, Field(description="Why, for the audit log.")] = None,
    ) -> Annotated[CallToolResult, SuiteAction]:
        return action(id, f"archived {obj}")

    def export_tool(
        format: Annotated[
            Literal["csv", "json", "xlsx"], Field(description="File format.")
        ] = "csv",
        since: Annotated[str | None, Field(description="ISO date; all time if omitted.")] = None,
    ) -> Annotated[CallToolResult, SuiteExport]:
        return structured(
            {
                "url": f"https://{prefix}.example.com/exports/{plural}.{format}",
                "format": format,
                "rows": 1,
                "expires": "2024-07-08T00:00:00Z",
            }
        )

    def share_tool(
        id: ident,
        email: Annotated[str, Field(description="Who to share with.")],
        role: Annotated[Literal["viewer", "editor"], Field(description="Access level.")] = "viewer",
    ) -> Annotated[CallToolResult, SuiteAction]:
        return action(id, f"shared with {email} as {role}")

    def send_tool(
        id: ident,
        to: Annotated[list[str], Field(description="Recipient email addresses.")],
        note: Annotated[str | None, Field(description="A short covering note.")] = None,
    ) -> Annotated[CallToolResult, SuiteAction]:
        return action(id, f"sent to {len(to)} recipient(s)")

    tools: dict[str, tuple[Tool, str]] = {
        "get": (get_tool, f"Get one {name} {obj} by its id, with every field."),
        "list": (list_tool, f"List {name} {plural}, newest first, one page at a time."),
        "search": (search_tool, f"Search {name} {plural} by keywords in their text."),
        "create": (create_tool, f"Create a new {name} {obj}."),
        "update": (update_tool, f"Change fields of a {name} {obj}."),
        "delete": (delete_tool, f"Delete a {name} {obj} permanently."),
        "archive": (archive_tool, f"Archive a {name} {obj}; it can be restored later."),
        "export": (export_tool, f"Export {name} {plural} to a downloadable file."),
        "share": (share_tool, f"Share a {name} {obj} with a person."),
        "send": (send_tool, f"Send a {name} {obj} to recipients by email."),
    }
    return tools[verb]


def _suite_name(verb: str, product: tuple[str, str, str, str, str]) -> str:
    prefix, _, obj, plural, _ = product
    noun = plural if verb in {"list", "search", "export"} else obj
    return f"{prefix}_{verb}_{noun}"


def suite_server() -> MCPServer:
    server: MCPServer = MCPServer("suite", version="1.0.0", log_level="WARNING")
    for product in PRODUCTS:
        for verb in VERBS:
            name = _suite_name(verb, product)
            if name == "billing_get_invoice":
                server.add_tool(billing_get_invoice, name=name)
                continue
            if name == "mail_send_message":
                server.add_tool(mail_send_message, name=name)
                continue
            fn, description = _suite_tool(verb, product)
            fn.__name__ = fn.__qualname__ = name  # names the schemas' titles after the tool
            server.add_tool(fn, name=name, description=description)
    return server


def billing_get_invoice(
    invoice_id: Annotated[str, Field(description="The invoice's id, e.g. 'INV-2048'.")],
) -> Annotated[CallToolResult, Invoice]:
    """Get one Billing invoice by its id: customer, billing email, dates, status, lines, totals."""
    return structured(invoice(invoice_id))


def mail_send_message(
    to: Annotated[list[str], Field(description="Recipient email addresses.")],
    subject: Annotated[str, Field(description="Subject line.")],
    body: Annotated[str, Field(description="Plain-text body.")],
    cc: Annotated[list[str] | None, Field(description="Copy recipients.")] = None,
) -> Annotated[CallToolResult, SentMessage]:
    """Send a Mail message (plain text) to one or more recipients."""
    digest = hashlib.sha256(f"{to}|{subject}|{body}".encode()).hexdigest()
    sent: SentMessage = {
        "message_id": f"msg-{digest[:12]}",
        "to": to,
        "subject": subject,
        "status": "queued",
    }
    return structured(sent)


SERVERS: dict[str, Callable[[], MCPServer]] = {
    "docs": docs_server,
    "crm": crm_server,
    "sheets": sheets_server,
    "weather": weather_server,
    "suite": suite_server,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=sorted(SERVERS), required=True)
    args = parser.parse_args()
    SERVERS[args.server]().run("stdio")


if __name__ == "__main__":
    main()
