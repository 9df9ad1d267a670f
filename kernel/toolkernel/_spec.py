"""Plain data that crosses every layer: what a tool is, and what a call returned.

These are dataclasses, not pydantic models, on purpose: the kernel builds bindings from
them before the MCP SDK (and pydantic) is imported, which keeps kernel start fast.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CHANNEL_ON_CONTROL",
    "CHANNEL_TARGET",
    "LOG_MIME",
    "PROGRESS_MIME",
    "PUBLISHED",
    "RELAY_MARK",
    "SOCKET_ENV_VAR",
    "START_FAILURE_NAME",
    "ClientRelay",
    "JSONObject",
    "KnownRelay",
    "ToolResult",
    "ToolSpec",
    "catalog_hash",
    "relay_can",
]

JSONObject = dict[str, Any]

CHANNEL_TARGET = "toolkernel.rpc"
"""The comm target of the typed channel from the bridge to a kernel's session (JSON-RPC)."""

PUBLISHED = "published"
"""In an execute_reply's `metadata["toolkernel"]`: how many IOPub messages the kernel had
published for the request when it replied (its `busy` status and `execute_input`
included). A client that has seen that many has all of the cell's output."""

CHANNEL_ON_CONTROL = "channel_on_control"
"""In a kernel_info reply's `toolkernel` object, true when the kernel serves the typed
channel's comm on its control channel as well (every Toolkernel kernel does; the bridge
opens it there when the kernel has no subshells, as the kernels it starts)."""

SOCKET_ENV_VAR = "TOOLKERNEL_HOST_SOCKET"
"""The variable naming a tool host's Unix socket: where a `RemoteToolHost` finds it when
given no path, and what the sandboxed kernel's launcher passes into the sandbox."""

START_FAILURE_NAME = "host-failed.txt"
"""A file beside a tool host's socket saying why the host never started: the sandboxed
kernel's launcher writes it, and the kernel's `RemoteToolHost` reads it."""

ClientRelay = Callable[[str, JSONObject], Awaitable[JSONObject]]
"""Answers a server's request to the client (`sampling/createMessage`,
`elicitation/create`) during a call: `(method, params)` in, the MCP result as JSON out."""


@dataclass(frozen=True)
class KnownRelay:
    """A `ClientRelay` that also says what the client behind it can answer.

    Attributes:
        ask: Answers one request, as a `ClientRelay`.
        capabilities: What the client can do: `sampling`, `elicitation`,
            `elicitation.url` (a notebook elicits through input prompts; it cannot sample).
        party: Who answers: `client` (an MCP client, through the bridge) or `person`
            (someone at a notebook); an approval it refuses is denied by them.
    """

    ask: ClientRelay
    capabilities: frozenset[str]
    party: str = "client"

    async def __call__(self, method: str, params: JSONObject) -> JSONObject:
        """Ask the client (`method`, `params`); return its MCP result as JSON."""
        return await self.ask(method, params)


def relay_can(relay: ClientRelay | None, capability: str) -> bool:
    """Whether `relay` can answer `capability` (`sampling`, `elicitation`) requests.

    No relay can answer nothing; a `KnownRelay` says; any other relay is assumed able.
    """
    if relay is None:
        return False
    if isinstance(relay, KnownRelay):
        return capability in relay.capabilities
    return True


RELAY_MARK = "\x00toolkernel-relay:"
"""Prefix of an `input_request` prompt that carries a relayed MCP request (JSON) from the
kernel to the bridge, as `sample()` sends it; any other prompt is a plain `input()`."""

PROGRESS_MIME = "application/vnd.toolkernel.progress+json"
"""Carried by a cell's progress display (and its updates) beside the text/html bar:
`{"label", "progress", "total", "message"}`. The bridge forwards it as MCP progress and
keeps it out of the reply."""

LOG_MIME = "application/vnd.toolkernel.log+json"
"""Carried by a tool's log message shown in a cell the bridge runs: `{"logger", "level",
"text"}`, with `level` an MCP logging level. The bridge forwards it at that level."""

INPUT_REFUSED_MARK = "\x00toolkernel-refused:"
"""Prefix of an `input_reply` that says no answer came (the rest says why: `decline`,
`cancel`, or the reason the client cannot be asked); `input()` then raises `EOFError`."""


@dataclass(frozen=True)
class ToolSpec:
    """One tool as the catalog knows it.

    Attributes:
        source: Where the tool lives: a configured MCP server's name, or a registry
            namespace such as `local`.
        name: The tool's own name, exactly as the server spells it (`get-weather`).
            This is what is sent on a call; bindings use a sanitized identifier.
        description: The tool's description, possibly empty.
        input_schema: The JSON Schema of the arguments object.
        output_schema: The JSON Schema of `structuredContent`, when declared.
        annotations: MCP tool annotations (`readOnlyHint`, `destructiveHint`, ...).
        title: A human-readable title, when the server gives one.
        kind: `mcp`, `wasm`, `script`, `pipeline` or `skill`.
    """

    source: str
    name: str
    description: str = ""
    input_schema: JSONObject = field(default_factory=lambda: {"type": "object"})
    output_schema: JSONObject | None = None
    annotations: JSONObject | None = None
    title: str | None = None
    kind: str = "mcp"

    @property
    def qualified_name(self) -> str:
        """`source.name`, the name every front door uses for this tool."""
        return f"{self.source}.{self.name}"

    def to_json(self) -> JSONObject:
        """Return the spec as a JSON-ready dict (the catalog cache's row format)."""
        return {
            "source": self.source,
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "annotations": self.annotations,
            "title": self.title,
            "kind": self.kind,
        }

    @classmethod
    def from_json(cls, data: JSONObject) -> ToolSpec:
        """Build a spec from `to_json` output."""
        return cls(
            source=data["source"],
            name=data["name"],
            description=data.get("description") or "",
            input_schema=data.get("input_schema") or {"type": "object"},
            output_schema=data.get("output_schema"),
            annotations=data.get("annotations"),
            title=data.get("title"),
            kind=data.get("kind", "mcp"),
        )


def catalog_hash(specs: list[ToolSpec]) -> str:
    """Return a stable sha256 of a source's tool list; any schema change changes it."""
    rows = sorted((spec.to_json() for spec in specs), key=lambda row: row["name"])
    blob = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class ToolResult:
    """What one tool call returned, in transport-neutral JSON form.

    Attributes:
        tool: The qualified name of the tool that was called.
        content: MCP content blocks as JSON dicts (`{"type": "text", "text": ...}`).
        structured: `structuredContent`, when the tool returned it.
        is_error: True when the tool reported failure (`isError`).
        meta: The result's `_meta`, if any.
        approval: How the tool policy approved the call (`allowed:person`,
            `allowed:client`, `remembered:<who>` for an earlier "for this session"
            answer), or None when it needed no approval.
    """

    tool: str
    content: list[JSONObject] = field(default_factory=list)
    structured: Any = None
    is_error: bool = False
    meta: JSONObject | None = None
    approval: str | None = None

    def error_message(self) -> str:
        """Return the text of an error result, joined from its text blocks."""
        texts = [
            str(block.get("text", "")) for block in self.content if block.get("type") == "text"
        ]
        return "\n".join(texts).strip() or f"tool {self.tool!r} reported an error with no message"
