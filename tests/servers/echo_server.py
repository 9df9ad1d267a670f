"""echo: a deterministic MCP server that exercises every result shape the kernel handles.

Run: `python tests/servers/echo_server.py [--transport stdio|http --host 127.0.0.1 --port N]`.
Over HTTP it serves streamable HTTP at `/mcp` and prints `READY <url>` to stderr once
listening (see `_shared.py`).

Tools:

- `echo(text)`: plain text, no structured content (`echo("123")` is the text "123").
- `add(a, b)`: structured output `{"result": a + b}`.
- `describe(item)`: a nested object with a `Literal` enum and an optional list in,
  a structured dict out.
- `get-weather(city)`: a hyphenated tool name; structured, made-up but stable weather.
- `image(size=8)`: one PNG image block (a checkerboard, `size` x `size` pixels).
- `mixed()`: a text block followed by an image block.
- `fail(message)`: an `isError` result whose text is exactly `message`.
- `raise_error(message)`: raises the SDK's `ToolError`, which mcp 2.3.0 turns into an
  `isError` result with the text `Error executing tool raise_error: <message>`.
- `slow(seconds)`: sleeps; when cancelled it appends `cancelled slow <seconds>` to the
  file named by `$ECHO_CANCEL_LOG` (if set). It reports progress 0/seconds with the
  message "started" first, so a test can wait for that before cancelling.
- `progress(steps)`: reports progress i/steps and logs `step i/steps` at info, per step.
- `crash()`: the server process exits with code 3 in the middle of the call.
- `add_tool(name)`: registers a tool `name` (which echoes `text` prefixed by its name) and
  sends `notifications/tools/list_changed`.
- `cancellations(wait_for=0, timeout=10)`: the calls seen cancelled so far, waiting (bounded)
  until there are `wait_for` of them, so tests need no sleep.
- `rendezvous(parties, timeout=10)`: returns only once `parties` calls are in flight at
  the same time; sequential calls fail. Proves concurrency without timing anything.
- `ask_model(question)`: asks the client's model (`sampling/createMessage`) mid-call and
  returns `model said: <text>`.
- `ask_user(question)`: asks the client's user (`elicitation/create`, one `answer` field)
  mid-call and returns `<action>: <answer>`.
- `tricky_docs(text)`: echoes `text`; its descriptions hold `\"\"\"`, `'''`, backslashes
  and non-ASCII text, and end in a backslash, to prove generated bindings survive them.
"""

import argparse
import os
import warnings
from pathlib import Path
from typing import Annotated, Literal

import anyio
from _shared import add_transport_arguments, advertise_tools_list_changed, checker_png, serve
from mcp.server import MCPServer
from mcp.server.mcpserver import Context, Image
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import CallToolResult, SamplingMessage, TextContent
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

# Context.info() is deprecated for the 2026-07-28 protocol but is still how a server logs to
# handshake-era clients; keep the warning off this script's stderr.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

TRICKY_DESCRIPTION = (
    "Echo text back. Edge cases for binding generators: triple quotes \"\"\" and ''' inside, "
    "a backslash \\ and a literal \\n (two characters), a Windows path C:\\Users\\x, "
    "non-ASCII: café, naïve, Größe, 日本語, emoji 🚀. It ends in a backslash \\"
)
TRICKY_PARAM_DESCRIPTION = 'The text; may hold """ or \\ or é. Ends in a backslash \\'

server: MCPServer = MCPServer(
    "echo",
    version="1.0.0",
    instructions="Deterministic tools for testing toolkernel.",
    log_level="WARNING",
)
advertise_tools_list_changed(server)


class Size(BaseModel):
    """Physical size of an item."""

    width: float = Field(description="Width in centimetres.")
    height: float = Field(description="Height in centimetres.")


class Item(BaseModel):
    """An item to describe."""

    name: str = Field(description="Display name of the item.")
    kind: Literal["a", "b"] = Field(description="Category of the item: 'a' or 'b'.")
    tags: list[str] | None = Field(default=None, description="Optional labels.")
    size: Size | None = Field(default=None, description="Optional physical size.")


class ItemSummary(TypedDict):
    """What `describe` reports about an item."""

    name: str
    kind: Literal["a", "b"]
    tags: list[str]
    tag_count: int
    area: float | None
    summary: str


class Weather(TypedDict):
    """Made-up weather for a city; the same city always gets the same weather."""

    city: str
    temperature_c: int
    conditions: Literal["sunny", "cloudy", "rainy", "snowy"]


class ProgressSummary(TypedDict):
    """What `progress` did."""

    steps: int


@server.tool(structured_output=False)
def echo(text: str) -> str:
    """Return `text` unchanged, as one plain text block."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers; the sum comes back as structured output {"result": sum}."""
    return a + b


@server.tool()
def describe(item: Item) -> ItemSummary:
    """Summarise an item: its kind, its tags and its area."""
    tags = item.tags or []
    area = item.size.width * item.size.height if item.size else None
    return {
        "name": item.name,
        "kind": item.kind,
        "tags": tags,
        "tag_count": len(tags),
        "area": area,
        "summary": f"{item.name} is a kind-{item.kind} item with {len(tags)} tag(s)",
    }


@server.tool(name="get-weather")
def get_weather(city: str) -> Weather:
    """Get the (made-up, deterministic) current weather for a city."""
    score = sum(city.encode("utf-8"))
    conditions: tuple[Literal["sunny", "cloudy", "rainy", "snowy"], ...] = (
        "sunny",
        "cloudy",
        "rainy",
        "snowy",
    )
    return {"city": city, "temperature_c": score % 35 - 5, "conditions": conditions[score % 4]}


@server.tool()
def image(size: int = 8) -> Image:
    """Return a PNG checkerboard image of `size` x `size` pixels (1 to 256)."""
    if not 1 <= size <= 256:
        msg = f"size must be between 1 and 256, got {size}"
        raise ToolError(msg)
    return Image(data=checker_png(size), format="png")


@server.tool()
def mixed() -> list[str | Image]:
    """Return a text block followed by a 4x4 PNG image block."""
    return ["here is an image", Image(data=checker_png(4), format="png")]


@server.tool()
def fail(message: str) -> CallToolResult:
    """Always fail: the result has isError set and exactly `message` as its text."""
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


@server.tool(structured_output=False)
def raise_error(message: str) -> str:
    """Always fail by raising the SDK's ToolError (text "Error executing tool ...: message")."""
    raise ToolError(message)


@server.tool(structured_output=False)
async def slow(seconds: float, ctx: Context) -> str:
    """Sleep for `seconds`, then say so. Records cancellation in $ECHO_CANCEL_LOG."""
    await ctx.report_progress(0, seconds, "started")
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        _record_cancellation(seconds)
        raise
    return f"slept {seconds}"


_cancelled: list[str] = []
_cancel_seen = anyio.Event()


def _record_cancellation(seconds: float) -> None:
    # Synchronous on purpose: inside a cancelled scope every await would be cancelled too.
    global _cancel_seen  # noqa: PLW0603 - anyio events are one-shot; replace after firing
    line = f"cancelled slow {seconds}"
    _cancelled.append(line)
    _cancel_seen.set()
    _cancel_seen = anyio.Event()
    log = os.environ.get("ECHO_CANCEL_LOG")
    if log:
        with Path(log).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


@server.tool()
async def cancellations(wait_for: int = 0, timeout: float = 10) -> list[str]:
    """Return the calls this server saw cancelled, first waiting until there are `wait_for`."""
    with anyio.move_on_after(timeout):
        while len(_cancelled) < wait_for:
            await _cancel_seen.wait()
    return list(_cancelled)


_arrived = 0
_all_arrived = anyio.Event()


@server.tool()
async def rendezvous(parties: int, timeout: float = 10) -> int:
    """Wait until `parties` calls are in flight at once, then return how many arrived.

    Only concurrent calls can meet: sequential ones give an error after `timeout`.
    """
    global _arrived, _all_arrived  # noqa: PLW0603
    _arrived += 1
    if _arrived >= parties:
        _all_arrived.set()
    try:
        with anyio.fail_after(timeout):
            await _all_arrived.wait()
    except TimeoutError:
        msg = f"only {_arrived} of {parties} calls were in flight together"
        raise ToolError(msg) from None
    finally:
        _arrived -= 1
        if _arrived == 0:
            _all_arrived = anyio.Event()
    return parties


@server.tool()
async def progress(steps: int, ctx: Context) -> ProgressSummary:
    """Report progress once per step (i of `steps`) and log each step at info level."""
    for i in range(1, steps + 1):
        await ctx.report_progress(i, steps, f"step {i}/{steps}")
        await ctx.info(f"step {i}/{steps}")
    return {"steps": steps}


@server.tool(structured_output=False)
def crash() -> str:
    """Kill the server process (exit code 3) in the middle of this call."""
    os._exit(3)


@server.tool(structured_output=False)
async def add_tool(name: str, ctx: Context) -> str:
    """Register tool `name` (text -> "<name>: <text>") and send tools/list_changed."""
    if server._tool_manager.get_tool(name) is not None:  # no public lookup in mcp 2.3.0
        msg = f"tool {name!r} already exists"
        raise ToolError(msg)

    def added(text: str = "") -> str:
        return f"{name}: {text}"

    server.add_tool(
        added,
        name=name,
        description=f"Added at runtime by add_tool; returns '{name}: <text>'.",
        structured_output=False,
    )
    # Handshake-era clients get the notification on the session; 2026-07-28 clients get it
    # through subscriptions/listen.
    await ctx.session.send_tool_list_changed()
    await ctx.notify_tools_changed()
    return f"added {name}"


class Answer(BaseModel):
    answer: str = Field(description="Your answer")


@server.tool(structured_output=False)
async def ask_model(question: str, ctx: Context) -> str:
    """Ask the client's model `question` through sampling; return what it said."""
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=question))],
        max_tokens=50,
        related_request_id=ctx.request_id,
    )
    content = result.content
    return f"model said: {content.text if isinstance(content, TextContent) else content}"


@server.tool(structured_output=False)
async def ask_user(question: str, ctx: Context) -> str:
    """Ask the client's user `question` through elicitation; return the action and answer."""
    result = await ctx.elicit(question, Answer)
    answer = result.data.answer if result.action == "accept" and result.data else ""
    return f"{result.action}: {answer}"


@server.tool(description=TRICKY_DESCRIPTION, structured_output=False)
def tricky_docs(text: Annotated[str, Field(description=TRICKY_PARAM_DESCRIPTION)]) -> str:
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_transport_arguments(parser)
    serve(server, parser.parse_args())


if __name__ == "__main__":
    main()
