"""What a running script tool can ask of the host, and where its notifications go.

- `tools/call` calls any tool through `ToolHost.call` (MCP or registry), with a depth
  limit so tools calling tools cannot recurse forever;
- `memory/get|set|list|delete` use the registry's memory, in the tool's own namespace
  (`tool:<namespace.tool>`);
- `elicitation/create` and `sampling/createMessage` go to the relay of the call (the
  bridge's MCP client, or input prompts in a notebook);
- `resources/list` and `resources/read` reach the connected MCP servers;
- `log` (`logging/message`), `progress` (`progress/update`, `notifications/progress`)
  and `stream/chunk` (`stream`) notifications go to the kernel log, the cell's progress
  line and the cell's output. Secret values are redacted from all of them.

A tool whose manifest says `"protocol": "skillz"` gets Skillz's reply shapes: a
`tools/call` answers `{"output": value}`, a `memory/set` `{"success": true}`, a
`memory/get` `{"value": ...}`, and a request that fails answers `{"error": message}` as
its result (not a JSON-RPC error). Other tools get ours (see `HostPeer.request`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from toolkernel._spec import relay_can
from toolkernel.errors import ToolkernelError
from toolkernel.host._jsonrpc import RpcFailure, method_not_found
from toolkernel.host._secrets import redact, secret_in
from toolkernel.kinds._protocol import MAX_DEPTH, call_depth

if TYPE_CHECKING:
    from toolkernel._spec import ToolResult
    from toolkernel.kinds._protocol import HostCall, Relay, Resources
    from toolkernel.registry import ToolRegistry

__all__ = ["HostPeer"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS |= {"error": logging.ERROR, "critical": logging.CRITICAL, "notice": logging.INFO}
_LEVELS |= {"warn": logging.WARNING, "alert": logging.CRITICAL, "emergency": logging.CRITICAL}
_LOG = ("log", "logging/message")
_PROGRESS = ("progress", "progress/update", "notifications/progress")
_STREAM = ("stream/chunk", "stream")
_SERVED = frozenset(
    {"tools/call", "memory/get", "memory/set", "memory/list", "memory/delete"}
    | {"elicitation/create", "sampling/createMessage", "resources/list", "resources/read"}
)


class HostPeer:
    """Serves one call of one script tool."""

    def __init__(
        self,
        *,
        tool: str,
        host_call: HostCall,
        registry: ToolRegistry,
        secrets: Mapping[str, str],
        relay: Relay | None = None,
        resources: Resources | None = None,
        on_progress: Callable[[float, float | None, str | None], None] | None = None,
        on_output: Callable[[str], None] | None = None,
        on_log: Callable[[str, int, str], None] | None = None,
        protocol: str = "toolkernel",
    ) -> None:
        """Serve `tool`'s requests with these callbacks (any may be None: then refused).

        `protocol` is the manifest's: `skillz` answers in Skillz's shapes.
        """
        self._tool = tool
        self._skillz = protocol == "skillz"
        self._host_call = host_call
        self._registry = registry
        self._secrets = secrets
        self._relay = relay
        self._resources = resources
        self._on_progress = on_progress
        self._on_output = on_output
        self._on_log = on_log
        self._namespace = f"tool:{tool}"

    def capabilities(self) -> dict[str, bool]:
        """What this call can do for the script: the truth about its client's relay.

        `sampling` and `elicitation` are true only when the client behind the call can
        answer them (a notebook elicits through input prompts but has no model to
        sample); `resources` when MCP servers can be reached; `memory` always.
        """
        return {
            "sampling": relay_can(self._relay, "sampling"),
            "elicitation": relay_can(self._relay, "elicitation"),
            "memory": True,
            "resources": self._resources is not None,
        }

    # -- notifications ---------------------------------------------------------------

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Route log, progress and stream notifications, by any of their names."""
        if method in _LOG:
            level = _LEVELS.get(str(params.get("level", "info")).lower(), logging.INFO)
            text = self._clean(params.get("message", params.get("data", "")))
            if self._on_log is not None:
                self._on_log(self._tool, level, text)
        elif method in _PROGRESS and self._on_progress is not None:
            # Skillz sends `current`; MCP sends `progress`. Anything but a number is ignored.
            done = _number(params.get("progress", params.get("current")))
            message = params.get("message")
            if done is not None:
                self._on_progress(
                    done,
                    _number(params.get("total")),
                    self._clean(message) if message is not None else None,
                )
        elif method in _STREAM and self._on_output is not None:
            chunk = params.get("chunk", params.get("text", params.get("data", "")))
            self._on_output(self._clean(chunk))

    # -- requests --------------------------------------------------------------------

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """Answer one request of the script.

        Our shapes: `tools/call` answers `{"content", "isError", "structuredContent"}`
        (MCP's), `memory/set` `{"key", "stored"}`, `memory/get` `{"key", "found",
        "value"}`. Skillz's (`protocol: skillz`): `{"output": value}`, `{"success":
        true}`, `{"value": ...}`, and `{"error": message}` for a request that fails.

        Raises:
            RpcFailure: The request is unknown, or (our shapes) malformed or not
                possible here.
        """
        if not self._skillz or method not in _SERVED:
            return await self._serve(method, params)
        try:
            return await self._serve(method, params)
        except ToolkernelError as exc:  # Skillz answers a failure as a result
            return {"error": str(exc)}

    async def _serve(self, method: str, params: dict[str, Any]) -> Any:
        if method == "tools/call":
            return await self._call_tool(params)
        if method.startswith("memory/"):
            return self._memory(method, params)
        if method in ("elicitation/create", "sampling/createMessage"):
            if self._relay is None:
                msg = f"{method} is not possible here: no client can answer this call"
                raise RpcFailure(msg)
            return await self._relay(method, params)
        if method in ("resources/list", "resources/read"):
            if self._resources is None:
                msg = f"{method} is not possible here: no MCP server is connected"
                raise RpcFailure(msg)
            return await self._resources(method, params)
        raise method_not_found(method)

    async def _call_tool(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        arguments = params.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(arguments, dict):
            msg = 'tools/call takes {"name": "server.tool", "arguments": {...}}'
            raise RpcFailure(msg)
        leaked = secret_in(arguments, self._secrets)
        if leaked is not None:
            msg = (
                f"tools/call refused: the arguments for {name!r} hold the secret {leaked}; "
                "a secret goes only to the tools that declare it"
            )
            raise RpcFailure(msg)
        if call_depth.get() >= MAX_DEPTH:
            msg = (
                f"tools/call depth limit ({MAX_DEPTH}) reached calling {name!r}: do tools "
                "call each other in a loop?"
            )
            raise RpcFailure(msg)
        if self._skillz:
            try:
                return _skillz_output(name, await self._host_call(name, arguments))
            except ToolkernelError as exc:
                return {"error": f"Tool '{name}' failed: {exc}"}
        result = await self._host_call(name, arguments)
        reply: dict[str, Any] = {"content": result.content, "isError": result.is_error}
        if result.structured is not None:
            reply["structuredContent"] = result.structured
        return reply

    def _memory(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        key = params.get("key")
        registry, namespace = self._registry, self._namespace
        if method == "memory/list":
            return {"keys": registry.memory_list(namespace, str(params.get("prefix") or ""))}
        if not isinstance(key, str):
            msg = f'{method} takes {{"key": "..."}}'
            raise RpcFailure(msg)
        if method == "memory/get":
            missing = object()
            value = registry.memory_get(namespace, key, missing)
            found = value is not missing
            if self._skillz:
                return {"value": value if found else None}
            return {"key": key, "found": found, "value": value if found else None}
        if method == "memory/set":
            leaked = secret_in([key, params.get("value")], self._secrets)
            if leaked is not None:
                msg = f"memory/set refused: the key or value holds the secret {leaked}; "
                msg += "secrets are never stored"
                raise RpcFailure(msg)
            registry.memory_set(namespace, key, params.get("value"), ttl=params.get("ttl"))
            return {"success": True} if self._skillz else {"key": key, "stored": True}
        if method == "memory/delete":
            return {"key": key, "deleted": registry.memory_delete(namespace, key)}
        raise method_not_found(method)

    def _clean(self, value: object) -> str:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return redact(text, self._secrets)


def _skillz_output(name: str, result: ToolResult) -> dict[str, Any]:
    """A tool's result as Skillz gives it to a script: its value, or its error."""
    if result.is_error:
        return {"error": f"Tool '{name}' failed: {result.error_message()}"}
    if result.structured is not None:
        return {"output": result.structured}
    texts = [block.get("text") for block in result.content if block.get("type") == "text"]
    if len(result.content) == 1 and len(texts) == 1:
        return {"output": texts[0]}
    return {"output": result.content or None}


def _number(value: object) -> float | None:
    """`value` as a float when it is a JSON number (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
