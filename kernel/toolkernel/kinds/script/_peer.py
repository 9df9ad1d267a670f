"""What a running script tool can ask of the host, and where its notifications go.

- `tools/call` calls any tool through `ToolHost.call` (MCP or registry), with a depth
  limit so tools calling tools cannot recurse forever;
- `memory/get|set|list|delete` use the registry's memory, in the tool's own namespace
  (`tool:<namespace.tool>`);
- `elicitation/create` and `sampling/createMessage` go to the relay of the call (the
  bridge's MCP client, or input prompts in a notebook);
- `resources/list` and `resources/read` reach the connected MCP servers;
- `log`, `progress` and `stream/chunk` notifications go to the kernel log, the cell's
  progress line and the cell's output. Secret values are redacted from all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from toolkernel.host._jsonrpc import RpcFailure, method_not_found
from toolkernel.host._secrets import redact, secret_in
from toolkernel.kinds._protocol import MAX_DEPTH, call_depth

if TYPE_CHECKING:
    from toolkernel.kinds._protocol import HostCall, Relay, Resources
    from toolkernel.registry import ToolRegistry

__all__ = ["HostPeer"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS |= {"error": logging.ERROR, "critical": logging.CRITICAL, "notice": logging.INFO}


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
    ) -> None:
        """Serve `tool`'s requests with these callbacks (any may be None: then refused)."""
        self._tool = tool
        self._host_call = host_call
        self._registry = registry
        self._secrets = secrets
        self._relay = relay
        self._resources = resources
        self._on_progress = on_progress
        self._on_output = on_output
        self._on_log = on_log
        self._namespace = f"tool:{tool}"

    # -- notifications ---------------------------------------------------------------

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Route `log`, `progress` (`progress/update`) and `stream/chunk`."""
        if method == "log":
            level = _LEVELS.get(str(params.get("level", "info")).lower(), logging.INFO)
            text = self._clean(params.get("message", params.get("data", "")))
            if self._on_log is not None:
                self._on_log(self._tool, level, text)
        elif method in ("progress", "progress/update") and self._on_progress is not None:
            # Skillz sends `current`; MCP sends `progress`. Anything but a number is ignored.
            done = _number(params.get("progress", params.get("current")))
            message = params.get("message")
            if done is not None:
                self._on_progress(
                    done,
                    _number(params.get("total")),
                    self._clean(message) if message is not None else None,
                )
        elif method == "stream/chunk" and self._on_output is not None:
            chunk = params.get("chunk", params.get("text", params.get("data", "")))
            self._on_output(self._clean(chunk))

    # -- requests --------------------------------------------------------------------

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """Answer one request of the script.

        Raises:
            RpcFailure: The request is unknown, malformed, or not possible here.
        """
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
            return {"key": key, "found": found, "value": value if found else None}
        if method == "memory/set":
            leaked = secret_in([key, params.get("value")], self._secrets)
            if leaked is not None:
                msg = f"memory/set refused: the key or value holds the secret {leaked}; "
                msg += "secrets are never stored"
                raise RpcFailure(msg)
            registry.memory_set(namespace, key, params.get("value"), ttl=params.get("ttl"))
            return {"key": key, "stored": True}
        if method == "memory/delete":
            return {"key": key, "deleted": registry.memory_delete(namespace, key)}
        raise method_not_found(method)

    def _clean(self, value: object) -> str:
        return redact(value if isinstance(value, str) else str(value), self._secrets)


def _number(value: object) -> float | None:
    """`value` as a float when it is a JSON number (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
