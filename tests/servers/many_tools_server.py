"""many_tools: an MCP server with N deterministic tools, for benchmarks and search tests.

Run: `python tests/servers/many_tools_server.py --count N --prefix P
[--transport stdio|http --host 127.0.0.1 --port N]`.

It exposes tools `P_tool_0` .. `P_tool_<N-1>`. Tool i takes one of eight argument shapes
(chosen by i % 8: strings, numbers, enums, arrays, a nested object, optional fields, no
arguments) and gets a description built from word lists, so descriptions and schemas vary
while staying the same on every run. Every tool echoes its arguments back as structured
output: `{"tool": "<name>", "arguments": {...}}`, with defaults filled in.
"""

import argparse
from collections.abc import Callable
from typing import Annotated, Any, Literal, NotRequired

from _shared import add_transport_arguments, serve
from mcp.server import MCPServer
from pydantic import Field
from typing_extensions import TypedDict

VERBS = (
    "Search", "List", "Fetch", "Create", "Update", "Delete", "Convert", "Validate",
    "Summarise", "Export", "Import", "Count", "Compare", "Archive", "Translate", "Schedule",
)  # fmt: skip
NOUNS = (
    "invoices", "customer records", "log files", "images", "calendar events", "repositories",
    "support tickets", "spreadsheets", "emails", "sensor readings", "orders", "documents",
    "weather stations", "playlists", "build artifacts", "map tiles", "payments",
)  # fmt: skip
PLACES = (
    "the local cache", "the remote archive", "the shared drive", "the staging database",
    "the public API", "the team workspace", "the data lake",
)  # fmt: skip
SHAPES = (
    "Takes a search query and a result limit.",
    "Takes a path, a recursive flag and an optional glob pattern.",
    "Takes two numbers and an arithmetic operation.",
    "Takes a list of strings and a separator.",
    "Takes one record object (id, name, optional tags) and an overwrite flag.",
    "Takes a list of ids, a mode and an optional timeout in seconds.",
    "Takes a text and a target language.",
    "Takes no arguments.",
)


class Echoed(TypedDict):
    """The tool's name and the arguments it received, defaults filled in."""

    tool: str
    arguments: dict[str, Any]


class Record(TypedDict):
    """A record to store."""

    id: int
    name: str
    tags: NotRequired[list[str]]


ToolFn = Callable[..., Echoed]


def _search(name: str) -> ToolFn:
    def tool(
        query: Annotated[str, Field(description="Words to look for.")],
        limit: Annotated[int, Field(description="Most results to return.", ge=1)] = 10,
    ) -> Echoed:
        return {"tool": name, "arguments": {"query": query, "limit": limit}}

    return tool


def _files(name: str) -> ToolFn:
    def tool(
        path: Annotated[str, Field(description="Directory or file path.")],
        recursive: bool = False,
        pattern: Annotated[str | None, Field(description="Optional glob, e.g. *.csv.")] = None,
    ) -> Echoed:
        args = {"path": path, "recursive": recursive, "pattern": pattern}
        return {"tool": name, "arguments": args}

    return tool


def _math(name: str) -> ToolFn:
    def tool(a: float, b: float, op: Literal["add", "sub", "mul", "div"] = "add") -> Echoed:
        return {"tool": name, "arguments": {"a": a, "b": b, "op": op}}

    return tool


def _join(name: str) -> ToolFn:
    def tool(
        items: Annotated[list[str], Field(description="Strings to join.")],
        separator: str = ",",
    ) -> Echoed:
        return {"tool": name, "arguments": {"items": items, "separator": separator}}

    return tool


def _record(name: str) -> ToolFn:
    def tool(record: Record, overwrite: bool = False) -> Echoed:
        return {"tool": name, "arguments": {"record": dict(record), "overwrite": overwrite}}

    return tool


def _batch(name: str) -> ToolFn:
    def tool(
        ids: list[int],
        mode: Literal["fast", "safe"] = "safe",
        timeout: Annotated[float | None, Field(description="Seconds; none means no limit.")] = None,
    ) -> Echoed:
        return {"tool": name, "arguments": {"ids": ids, "mode": mode, "timeout": timeout}}

    return tool


def _translate(name: str) -> ToolFn:
    def tool(
        text: str,
        target: Annotated[Literal["en", "fr", "de", "ja"], Field(description="Language code.")],
        formal: bool = False,
    ) -> Echoed:
        return {"tool": name, "arguments": {"text": text, "target": target, "formal": formal}}

    return tool


def _ping(name: str) -> ToolFn:
    def tool() -> Echoed:
        return {"tool": name, "arguments": {}}

    return tool


FACTORIES: tuple[Callable[[str], ToolFn], ...] = (
    _search, _files, _math, _join, _record, _batch, _translate, _ping,
)  # fmt: skip


def describe(index: int, prefix: str) -> str:
    """The description of tool `index`: varied, and the same on every run."""
    verb = VERBS[index % len(VERBS)]
    noun = NOUNS[(index * 7 + 3) % len(NOUNS)]
    place = PLACES[(index // 3) % len(PLACES)]
    text = f"{verb} {noun} in {place} of {prefix}. {SHAPES[index % len(SHAPES)]}"
    if index % 5 == 0:
        text += (
            f" Results are returned in a stable order. Use this tool when you need {noun}"
            f" from {place} rather than from another source; it does not change anything"
            " unless the verb says so."
        )
    return text


def build_server(count: int, prefix: str) -> MCPServer:
    """An MCPServer named `prefix` with `count` generated tools."""
    server: MCPServer = MCPServer(prefix, version="1.0.0", log_level="WARNING")
    for index in range(count):
        name = f"{prefix}_tool_{index}"
        fn = FACTORIES[index % len(FACTORIES)](name)
        fn.__name__ = fn.__qualname__ = name  # names the schemas' titles after the tool
        server.add_tool(fn, name=name, description=describe(index, prefix))
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="number of tools (default 100)")
    parser.add_argument("--prefix", default="many", help="server name and tool-name prefix")
    add_transport_arguments(parser)
    args = parser.parse_args()
    serve(build_server(args.count, args.prefix), args)


if __name__ == "__main__":
    main()
