"""`sample()` in the kernel: MCP sampling, relayed by the bridge that runs the cell.

The bridge marks each execute request with what its MCP client can do. `sample()`
sends its request as a marked `input_request` on the stdin channel (the one channel a
running cell can use to ask its caller something); the bridge answers it through
`sampling/createMessage`. Code run from JupyterLab has no such client, and gets a
clear error instead.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from toolkernel._spec import RELAY_MARK
from toolkernel.errors import BridgeError

__all__ = ["make_sample", "relay_capabilities"]


def relay_capabilities(kernel: Any) -> set[str]:
    """What the client behind the running cell can do (empty outside the bridge)."""
    parent = kernel.get_parent("shell") or {}
    marks = (parent.get("metadata") or {}).get("toolkernel") or {}
    return set(marks.get("relay") or [])


def make_sample(kernel: Any) -> Any:
    """Return the `sample` coroutine function a kernel preloads."""

    async def sample(
        prompt: str,
        *,
        system: str | None = None,
        max_tokens: int = 1024,
        temperature: float | None = None,
    ) -> str:
        """Ask the MCP client's model for a completion of `prompt`; return its text.

        Works in code run through `toolkernel mcp` by a client that supports sampling.

        Raises:
            BridgeError: No MCP client can sample here (JupyterLab, or a client without
                sampling), or the client refused.
        """
        if "sampling" not in relay_capabilities(kernel):
            msg = (
                "sample() needs an MCP client that supports sampling: run this code "
                "through `toolkernel mcp` from such a client (a notebook cannot sample)"
            )
            raise BridgeError(msg)
        request = {
            "method": "sampling/createMessage",
            "params": {
                "prompt": prompt,
                "system": system,
                "max_tokens": max_tokens,
                "temperature": temperature,
            },
        }
        reply = await asyncio.to_thread(kernel.raw_input, RELAY_MARK + json.dumps(request))
        answer = json.loads(reply)
        if "error" in answer:
            msg = f"the MCP client could not sample: {answer['error']}"
            raise BridgeError(msg)
        text: str = answer["text"]
        return text

    return sample
