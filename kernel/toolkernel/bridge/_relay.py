"""Answer a running cell's input requests through the MCP client of the current call.

`input()` in the cell becomes `elicitation/create`; `sample()` becomes
`sampling/createMessage`. The relay says what the client declared, so the kernel can
refuse early (with a clear error) what the client cannot do.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from mcp.server.mcpserver import Context
from mcp.types import SamplingMessage, TextContent
from pydantic import BaseModel, Field

from toolkernel._spec import RELAY_MARK

__all__ = ["ClientRelay"]


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


class ClientRelay:
    """A `StdinRelay` backed by the MCP client of one `execute_code` call."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        declared = ctx.client_capabilities
        capabilities = set()
        if declared is not None and _has_back_channel(ctx):
            if declared.elicitation is not None:
                capabilities.add("elicitation")
            if declared.sampling is not None:
                capabilities.add("sampling")
        self.capabilities = frozenset(capabilities)

    async def answer(self, prompt: str, *, password: bool) -> str:
        """Answer one input request: a relayed sampling request, or an input() prompt."""
        if prompt.startswith(RELAY_MARK):
            request = json.loads(prompt[len(RELAY_MARK) :])
            return json.dumps(await self._relay(request))
        return await self._elicit(prompt)

    async def _elicit(self, prompt: str) -> str:
        if "elicitation" not in self.capabilities:
            return ""
        result = await self._ctx.elicit(prompt.strip() or "The code asks for input", _Answer)
        if result.action == "accept" and result.data is not None:
            return result.data.value
        return ""

    async def _relay(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("method") != "sampling/createMessage":
            return {"error": f"unknown relay request {request.get('method')!r}"}
        if "sampling" not in self.capabilities:
            return {"error": "this MCP client does not support sampling"}
        params = request.get("params") or {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = await self._ctx.session.create_message(
                messages=[
                    SamplingMessage(
                        role="user", content=TextContent(type="text", text=params["prompt"])
                    )
                ],
                max_tokens=int(params.get("max_tokens") or 1024),
                system_prompt=params.get("system"),
                temperature=params.get("temperature"),
                related_request_id=self._ctx.request_id,
            )
        content = result.content
        text = content.text if isinstance(content, TextContent) else str(content)
        return {"text": text, "model": result.model, "stop_reason": result.stop_reason}
