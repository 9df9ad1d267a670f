"""One `execute` conversation with a script tool, in JSON-RPC 2.0 over its stdio.

The host sends `{"jsonrpc": "2.0", "method": "execute", "params": {"arguments": ...,
"context": ...}, "id": N}` as one line. While the script runs it may send:

- notifications: `log` (or `logging/message`), `progress` (or `progress/update`,
  `notifications/progress`), `stream/chunk` (or `stream`);
- requests: `tools/call`, `memory/get|set|list|delete`, `elicitation/create`,
  `sampling/createMessage`, `resources/list`, `resources/read`, which the `ScriptPeer`
  answers on the script's stdin.

A persistent script's answer is the line holding `result` or `error` for our id. A
one-shot script has one conversation per process, so any such line answers, whatever
its id (Skillz scripts answer with a fixed `"id": 1`), and the last one counts; its
stdin is closed at the first, so a script that keeps reading sees end of file. Lines that are not
JSON are kept as noise and shown if the script never answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from toolkernel.errors import ToolError, ToolkernelError
from toolkernel.host._secrets import clip, redact

__all__ = ["NoAnswer", "RpcFailure", "ScriptPeer", "converse", "method_not_found"]

log = logging.getLogger("toolkernel.host")

_NOISE_LINES = 10
_METHOD_NOT_FOUND = -32601
_INVALID_PARAMS = -32602
_INTERNAL_ERROR = -32603


class RpcFailure(ToolkernelError):
    """A script's request failed; sent back to it as a JSON-RPC error.

    Attributes:
        code: The JSON-RPC error code.
    """

    def __init__(self, message: str, *, code: int = _INVALID_PARAMS) -> None:
        super().__init__(message)
        self.code = code


class ScriptPeer(Protocol):
    """What serves a running script: its notifications and its requests."""

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Handle a notification (`log`, `progress`, `stream/chunk`)."""

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """Answer a request; raise `RpcFailure` (or `ToolkernelError`) to refuse it."""

    def capabilities(self) -> dict[str, bool]:
        """What it can do for the script (`sampling`, `elicitation`, ...), truthfully."""


class _Worker(Protocol):
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close_stdin(self) -> None: ...
    async def readline(self) -> bytes: ...


async def converse(
    worker: _Worker,
    request_id: int,
    params: dict[str, Any],
    peer: ScriptPeer,
    *,
    name: str,
    until_eof: bool,
    secrets: Mapping[str, str] | None = None,
) -> Any:
    """Send one `execute` request and serve the script until it answers.

    Args:
        worker: The running script (a `SandboxedProcess`).
        request_id: The id of our request.
        params: `{"arguments": ..., "context": ...}`.
        peer: Serves the script's requests and notifications.
        name: The tool's name, for messages.
        until_eof: A one-shot script: take its last answer whatever its id, close
            its stdin at the first, and keep reading until it exits. Otherwise
            (a persistent one) return at the answer that carries `request_id`.
        secrets: Values redacted from every line kept, logged or raised, before any cut.

    Returns:
        The `result` value, or a `NoAnswer` when the script closed stdout unanswered.

    Raises:
        ToolError: The script answered with a JSON-RPC error.
    """
    await _send(worker, {"jsonrpc": "2.0", "method": "execute", "params": params, "id": request_id})
    secrets = secrets or {}
    noise = _Noise(secrets)
    answer: dict[str, Any] | None = None
    pending: set[asyncio.Task[None]] = set()
    try:
        while line := await worker.readline():
            message = _parse(line, noise)
            if message is None:
                continue
            if "method" in message:
                _dispatch(worker, message, peer, pending, secrets=secrets)
            elif _answers(message, None if until_eof else request_id):
                if not until_eof:
                    answer = message
                    break
                if answer is None:
                    worker.close_stdin()  # nothing more to say: a script still reading ends
                answer = message
            else:
                noise.append(line.decode("utf-8", "replace").strip())
    finally:
        for task in pending:
            task.cancel()
    if answer is None:
        return NoAnswer(list(noise.lines), noise.first)
    return _outcome(name, answer, secrets)


def _answers(message: dict[str, Any], request_id: int | None) -> bool:
    """Whether `message` is an answer (to `request_id`, or to any id when None)."""
    if "result" not in message and "error" not in message:
        return False
    return request_id is None or message.get("id") == request_id


class _Noise:
    """The last lines a script printed that were not ours to read, redacted, then cut."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self.lines: deque[str] = deque(maxlen=_NOISE_LINES)
        self.first: str | None = None
        self._secrets = secrets

    def append(self, text: str) -> None:
        if self.first is None:
            self.first = redact(text, self._secrets)
        self.lines.append(clip(text, 200, self._secrets))


class NoAnswer:
    """The script closed its stdout without answering.

    Attributes:
        noise: The last lines it printed that were not JSON-RPC (redacted, cut).
        first: The first such line, whole (redacted); None when there was none.
    """

    def __init__(self, noise: list[str], first: str | None = None) -> None:
        self.noise = noise
        self.first = first

    def describe(self) -> str:
        """`; it printed: a | b` (empty when it printed nothing else)."""
        return "; it printed: " + " | ".join(self.noise) if self.noise else ""


def _parse(line: bytes, noise: _Noise) -> dict[str, Any] | None:
    text = line.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        message = json.loads(text)
    except ValueError:
        noise.append(text)
        return None
    if not isinstance(message, dict):
        noise.append(text)
        return None
    return message


def _dispatch(
    worker: _Worker,
    message: dict[str, Any],
    peer: ScriptPeer,
    pending: set[asyncio.Task[None]],
    *,
    secrets: Mapping[str, str],
) -> None:
    method = str(message["method"])
    params = message.get("params")
    params = params if isinstance(params, dict) else {}
    if "id" not in message:
        try:
            peer.notify(method, params)
        except Exception as exc:  # a script's bad notification must not end its call
            # Only the message, redacted: a traceback's locals could hold the secret.
            log.warning("a script's %s notification failed: %s", method, redact(repr(exc), secrets))
        return
    task = asyncio.get_running_loop().create_task(
        _answer(worker, message["id"], method, params, peer, secrets=secrets)
    )
    pending.add(task)
    task.add_done_callback(pending.discard)


async def _answer(
    worker: _Worker,
    request_id: Any,
    method: str,
    params: dict[str, Any],
    peer: ScriptPeer,
    *,
    secrets: Mapping[str, str],
) -> None:
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    try:
        reply["result"] = await peer.request(method, params)
    except RpcFailure as exc:
        reply["error"] = {"code": exc.code, "message": str(exc)}
    except ToolkernelError as exc:
        reply["error"] = {"code": _INTERNAL_ERROR, "message": str(exc)}
    except Exception as exc:  # the script gets an error reply; the host goes on
        text = redact(repr(exc), secrets)
        log.warning("answering a script's %s request failed: %s", method, text)
        reply["error"] = {"code": _INTERNAL_ERROR, "message": f"{method} failed: {text}"}
    try:
        await _send(worker, reply)
    except (ConnectionError, RuntimeError):
        log.debug("the script exited before its %s request was answered", method)


async def _send(worker: _Worker, message: dict[str, Any]) -> None:
    worker.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
    await worker.drain()


def _outcome(name: str, answer: dict[str, Any], secrets: Mapping[str, str]) -> Any:
    if "error" not in answer:
        return answer["result"]
    error = answer["error"]
    if isinstance(error, dict):
        message = str(error.get("message") or "no message")
        code = error.get("code")
        data = error.get("data")
        detail = f" ({clip(json.dumps(data), 500, secrets)})" if data is not None else ""
        msg = f"{name}: {message}{detail} [JSON-RPC error {code}]"
        raise ToolError(msg, tool=name)
    msg = f"{name}: {error}"
    raise ToolError(msg, tool=name)


def method_not_found(method: str) -> RpcFailure:
    """The error for a request method the host does not serve."""
    known = "tools/call, memory/get|set|list|delete, elicitation/create, "
    known += "sampling/createMessage, resources/list, resources/read"
    return RpcFailure(f"unknown method {method!r}; the host serves {known}", code=_METHOD_NOT_FOUND)
