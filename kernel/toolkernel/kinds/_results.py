"""Results in the JSON contract that kinds share, and sandbox failures named for a tool.

The contract (DESIGN.md): a tool's result is one JSON value, which becomes the
structured result; a non-zero exit is a failure reported with its stderr. Sandbox
failures are translated here, where the tool's name is known, into
`SandboxLimitExceeded` / `SandboxTimeout` / `SandboxError`.
"""

from __future__ import annotations

import json
from typing import Any

from toolkernel._spec import ToolResult
from toolkernel.errors import SandboxError, SandboxLimitExceeded, SandboxTimeout, ToolError

__all__ = ["json_result", "result_from_output", "sandbox_failure", "text_result"]

_STDERR_SHOWN = 2000
_STDOUT_SHOWN = 200


def sandbox_failure(name: str, exc: Exception) -> SandboxError:
    """Translate a `toolkernel_sandbox` error into ours, naming the tool and the limit."""
    from toolkernel_sandbox import LimitExceeded, TimeLimitExceeded  # noqa: PLC0415

    msg = f"{name}: {exc}"
    if isinstance(exc, TimeLimitExceeded):
        return SandboxTimeout(msg, tool=name, limit=exc.limit, value=exc.value)
    if isinstance(exc, LimitExceeded):
        return SandboxLimitExceeded(msg, tool=name, limit=exc.limit, value=exc.value)
    return SandboxError(msg, tool=name)


def json_result(name: str, value: Any) -> ToolResult:
    """A successful result holding the JSON value `value` (None gives no content)."""
    if value is None:
        return ToolResult(name)
    text = json.dumps(value, ensure_ascii=False)
    return ToolResult(name, content=[{"type": "text", "text": text}], structured=value)


def text_result(name: str, exit_code: int, stdout: bytes, stderr: bytes) -> ToolResult:
    """Turn a text tool's output into a result: stdout, as it was printed, is a string.

    Undecodable bytes become U+FFFD, as Skillz does. A non-zero exit is an error result
    with stderr, as for a JSON tool.
    """
    if exit_code != 0:
        return result_from_output(name, exit_code, stdout, stderr)
    text = stdout.decode("utf-8", "replace")
    return ToolResult(name, content=[{"type": "text", "text": text}])


def result_from_output(name: str, exit_code: int, stdout: bytes, stderr: bytes) -> ToolResult:
    """Turn a tool's exit code and output into a result, as the module contract says.

    A zero exit must come with one JSON value on stdout, which becomes the structured
    result, and its text the text content (`null` gives no content). A non-zero exit is
    an error result with stderr.

    Raises:
        ToolError: The tool exited 0 but its stdout is not one UTF-8 JSON value.
    """
    if exit_code != 0:
        err = stderr.decode("utf-8", "replace").strip()[-_STDERR_SHOWN:]
        text = f"{name} failed with exit code {exit_code}" + (f": {err}" if err else "")
        return ToolResult(name, content=[{"type": "text", "text": text}], is_error=True)
    try:
        text = stdout.decode("utf-8")
        value = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        shown = stdout[:_STDOUT_SHOWN].decode("utf-8", "replace")
        what = "nothing" if not stdout.strip() else f"{shown!r}"
        msg = (
            f"{name} printed {what} on stdout, which is not one JSON value ({exc}); a tool "
            "must print its result as JSON (and logs go to stderr)"
        )
        raise ToolError(msg, tool=name) from exc
    if value is None:
        return ToolResult(name)
    # The text the tool printed is already the value's JSON: not encoded a second time.
    return ToolResult(name, content=[{"type": "text", "text": text.strip()}], structured=value)
