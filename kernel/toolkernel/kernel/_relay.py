"""Requests that travel back to whoever runs the cell: sampling and elicitation.

Three things ask: `sample()` in the cell, an MCP server connected to the kernel (during
a tool call), and, later, script tools. All become a marked `input_request` on the
stdin channel (the one channel a running cell can use to ask its caller something),
which the bridge answers through its MCP client's `sampling/createMessage` or
`elicitation/create`. The bridge marks each execute request with what its client can
do, so a request the client cannot serve fails at once with a clear error.

In a notebook (no bridge), an elicitation becomes ordinary input prompts, one per
field; a URL-mode elicitation becomes a link in the cell and one prompt to confirm;
sampling is refused: a notebook has no model to ask. A tool policy's approval request
is a dialog when JupyterLab listens (`ApprovalComms`), else such a prompt.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable
from typing import Any

from toolkernel._spec import RELAY_MARK, KnownRelay
from toolkernel.errors import BridgeError
from toolkernel.host import ClientRelay
from toolkernel.kernel._approval import ApprovalComms, approval_about
from toolkernel.kernel._progress import show_link

__all__ = ["RelayFactory", "make_relay_factory", "make_sample", "relay_capabilities"]

RelayFactory = Callable[[], ClientRelay]

_NEEDS = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation"}


def relay_capabilities(kernel: Any) -> set[str] | None:
    """What the MCP client behind the running cell can do; None outside the bridge."""
    parent = kernel.get_parent("shell") or {}
    marks = (parent.get("metadata") or {}).get("toolkernel")
    if not isinstance(marks, dict):
        return None
    return set(marks.get("relay") or [])


def relay_request(kernel: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Answer one relayed MCP request from inside the running cell (blocking).

    Returns:
        The MCP result as JSON.

    Raises:
        BridgeError: Nobody here can answer it; the message says what would.
    """
    capabilities = relay_capabilities(kernel)
    needed = _NEEDS.get(method)
    if needed == "elicitation" and params.get("mode") == "url":
        needed = "elicitation.url"
    if needed is None:
        msg = f"toolkernel cannot relay {method!r}; only sampling and elicitation travel back"
        raise BridgeError(msg)
    if capabilities is None and needed == "elicitation.url":
        return _open_link_in_notebook(kernel, params)
    if capabilities is None and method == "elicitation/create":
        return _elicit_in_notebook(kernel, params)
    if capabilities is None or needed not in capabilities:
        where = "a notebook has no model to ask" if capabilities is None else "it does not"
        msg = (
            f"{method} needs an MCP client that supports {needed}: run this code through "
            f"`toolkernel mcp` from such a client ({where})"
        )
        raise BridgeError(msg)
    reply = kernel.raw_input(RELAY_MARK + json.dumps({"method": method, "params": params}))
    answer = json.loads(reply)
    if not isinstance(answer, dict) or "error" in answer:
        error = answer.get("error") if isinstance(answer, dict) else answer
        msg = f"the MCP client could not answer {method}: {error}"
        raise BridgeError(msg)
    return answer


def make_relay_factory(kernel: Any, approvals: ApprovalComms | None = None) -> RelayFactory:
    """Return what the toolbox calls, inside a cell, to get that cell's relay.

    The relay runs on the tool host's loop but must ask in the cell's context (the
    parent message decides who answers), so the context is captured when the call
    starts and each request runs in a copy of it on a worker thread. In a notebook, an
    approval request goes to JupyterLab's dialog through `approvals` when a JupyterLab
    listens, and to an input prompt otherwise.
    """

    def factory() -> ClientRelay:
        context = contextvars.copy_context()
        in_notebook = relay_capabilities(kernel) is None

        async def relay(method: str, params: dict[str, Any]) -> dict[str, Any]:
            about = approval_about(params) if method == "elicitation/create" else None
            if in_notebook and about is not None and approvals and approvals.listening:
                answer = await approvals.ask(about)
                if answer is not None:
                    return answer
            loop = asyncio.get_running_loop()
            ask = context.copy().run
            return await loop.run_in_executor(None, ask, relay_request, kernel, method, params)

        party = "person" if in_notebook else "client"
        return KnownRelay(relay, _cell_capabilities(kernel), party)

    return factory


def _cell_capabilities(kernel: Any) -> frozenset[str]:
    """What the running cell's relay can answer: the bridge client's, or a notebook's."""
    capabilities = relay_capabilities(kernel)
    if capabilities is not None:
        return frozenset(capabilities)
    if getattr(kernel, "_allow_stdin", False):  # input prompts; a notebook has no model
        return frozenset({"elicitation", "elicitation.url"})
    return frozenset({"elicitation.url"})  # the link is shown; nobody can confirm it


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
        params: dict[str, Any] = {
            "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
            "maxTokens": max_tokens,
        }
        if system is not None:
            params["systemPrompt"] = system
        if temperature is not None:
            params["temperature"] = temperature
        answer = await asyncio.to_thread(relay_request, kernel, "sampling/createMessage", params)
        content: Any = answer.get("content")
        if isinstance(content, list):
            content = next((c for c in content if c.get("type") == "text"), {})
        return str((content or {}).get("text", ""))

    return sample


def _elicit_in_notebook(kernel: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Ask a person at the notebook, one prompt per requested field."""
    if not getattr(kernel, "_allow_stdin", False):
        msg = "elicitation needs a frontend that accepts input (this one does not)"
        raise BridgeError(msg)
    print(str(params.get("message") or "A tool asks for input."), flush=True)
    schema = params.get("requestedSchema") or {}
    properties = schema.get("properties") or {}
    content: dict[str, Any] = {}
    for name, prop in properties.items():
        label = prop.get("description") or prop.get("title") or name
        text = kernel.raw_input(f"{label}: ")
        if text == "" and name not in (schema.get("required") or []):
            continue
        content[name] = _coerce(text, prop.get("type"))
    return {"action": "accept", "content": content}


def _open_link_in_notebook(kernel: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Show a server's link (URL-mode elicitation) in the cell; ask whether it was done.

    Accepting means the person will open the link and finish there; without a
    frontend that takes input nobody can say so, and the request is cancelled (the
    link stays in the cell).
    """
    url = str(params.get("url") or "")
    show_link(str(params.get("message") or "A tool asks you to open a link."), url)
    if not getattr(kernel, "_allow_stdin", False):
        return {"action": "cancel"}
    answer = kernel.raw_input("Open the link, finish there, then press Enter (or type 'no'): ")
    declined = answer.strip().lower() in ("n", "no", "decline")
    return {"action": "decline" if declined else "accept"}


def _coerce(text: str, kind: object) -> Any:
    if kind == "boolean":
        return text.strip().lower() in ("y", "yes", "true", "1")
    if kind in ("integer", "number"):
        try:
            return int(text) if kind == "integer" else float(text)
        except ValueError:
            return text
    return text
