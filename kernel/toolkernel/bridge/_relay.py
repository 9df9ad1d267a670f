"""Answer a running cell's input requests through the MCP client of the current call.

`input()` in the cell becomes `elicitation/create`. Relayed requests (from `sample()`,
or from an MCP server connected to the kernel) are forwarded as they are:
`sampling/createMessage` and `elicitation/create`. The relay says what the client
declared, so the kernel can refuse early (with a clear error) what the client cannot do.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp.types import CreateMessageRequest, CreateMessageResult, ElicitRequest, ElicitResult
from pydantic import BaseModel, Field, ValidationError

from toolkernel._spec import INPUT_REFUSED_MARK, RELAY_MARK
from toolkernel.errors import BridgeError

__all__ = ["McpClientRelay"]


def _has_back_channel(ctx: Context) -> bool:
    """Whether the server may send requests to the client in the middle of a call.

    From protocol 2026-07-28 on, a server asks for input by ending the call with an
    `InputRequiredResult` that the client answers by calling again. A running cell
    cannot be ended and re-run, so the relay serves only the earlier protocols.
    """
    version = ctx.protocol_version
    return version is None or version < _FIRST_WITHOUT_BACK_CHANNEL


_FIRST_WITHOUT_BACK_CHANNEL = "2026-07-28"


class _Answer(BaseModel):
    """The text the code asked for with input()."""

    value: str = Field(description="Your answer.")


class McpClientRelay:
    """Asks the MCP client of one bridge call.

    It is a `StdinRelay` for `execute_code`, and its `ask` is a `ClientRelay` for the
    calls the bridge forwards over the channel.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        declared = ctx.client_capabilities
        capabilities = set()
        if declared is not None and _has_back_channel(ctx):
            if declared.elicitation is not None:
                capabilities.add("elicitation")
                if declared.elicitation.url is not None:
                    capabilities.add("elicitation.url")
            if declared.sampling is not None:
                capabilities.add("sampling")
        self.capabilities = frozenset(capabilities)

    async def answer(self, prompt: str, *, password: bool) -> str:
        """Answer one input request: a relayed sampling request, or an input() prompt."""
        if prompt.startswith(RELAY_MARK):
            request = json.loads(prompt[len(RELAY_MARK) :])
            return json.dumps(await self._relay(request))
        return await self._elicit(prompt)

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Forward one server request to the client and return its result.

        Raises:
            BridgeError: The client cannot do it, refused it, or the request is invalid.
        """
        answer = await self._relay({"method": method, "params": params})
        if "error" in answer:
            raise BridgeError(str(answer["error"]))
        return answer

    async def _elicit(self, prompt: str) -> str:
        """Ask the client for the text; a refusal is marked so `input()` raises `EOFError`."""
        if "elicitation" not in self.capabilities:
            return INPUT_REFUSED_MARK + "this MCP client does not support elicitation"
        result = await self._ctx.elicit(prompt.strip() or "The code asks for input", _Answer)
        if result.action != "accept":
            return INPUT_REFUSED_MARK + result.action
        return result.data.value if result.data is not None else ""

    async def _relay(self, request: dict[str, Any]) -> dict[str, Any]:
        method = request.get("method")
        wanted = _RELAYED.get(str(method))
        if wanted is None:
            return {"error": f"unknown relay request {method!r}"}
        capability, request_type, result_type = wanted
        if capability == "elicitation" and (request.get("params") or {}).get("mode") == "url":
            capability = "elicitation.url"  # form-only clients declare no `url`
        if capability not in self.capabilities:
            return {"error": f"this MCP client does not support {capability}"}
        try:
            outgoing = request_type.model_validate(
                {"method": method, "params": request.get("params") or {}}
            )
        except ValidationError as exc:
            return {"error": f"invalid {method} request: {exc.errors()[0]['msg']}"}
        metadata = ServerMessageMetadata(related_request_id=self._ctx.request_id)
        try:
            result = await self._ctx.session.send_request(outgoing, result_type, metadata=metadata)
        except MCPError as exc:
            return {"error": exc.error.message}
        answer: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return answer


_RELAYED: dict[str, tuple[str, Any, Any]] = {
    "sampling/createMessage": ("sampling", CreateMessageRequest, CreateMessageResult),
    "elicitation/create": ("elicitation", ElicitRequest, ElicitResult),
}
