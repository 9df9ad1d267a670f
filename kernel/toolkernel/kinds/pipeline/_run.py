"""Run a declarative pipeline: resolve each step's templates, call its tool, keep its result.

A pipeline is a list of steps, `{"id", "tool", "args", "when", "continue_on_error"}`;
their templates and conditions are parsed by `toolkernel.kinds.pipeline._templates`.
Steps run in order, each through the one call it is given (`ToolHost.call`); a step
whose `when` is false is skipped, and one with `continue_on_error` that fails leaves a
null result and its error for the steps after it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from toolkernel._spec import ToolResult
from toolkernel.errors import ToolError
from toolkernel.kinds.pipeline._templates import (
    TemplateError,
    evaluate,
    parse_condition,
    resolve,
)

__all__ = ["ToolCall", "run_pipeline", "step_value"]

ToolCall = Callable[[str, dict[str, Any]], Awaitable[ToolResult]]
"""Calls any tool (pipelines included) by qualified name."""


def step_value(result: ToolResult) -> Any:
    """Return a tool result as a step's `result`.

    That is `structured` when set, else the text of a lone text block, else the list
    of content blocks.
    """
    if result.structured is not None:
        return result.structured
    if len(result.content) == 1 and result.content[0].get("type") == "text":
        return result.content[0].get("text", "")
    return result.content


async def run_pipeline(
    name: str,
    steps: list[dict[str, Any]],
    inputs: dict[str, Any],
    call: ToolCall,
    *,
    output: Any = None,
) -> Any:
    """Run pipeline `name`'s steps in order and return its output.

    A step with `continue_on_error` that fails (its `when`, its arguments or its call)
    does not stop the pipeline: its result is null and its error message is
    `${steps.<id>.error}`.

    Args:
        name: The pipeline's qualified name (used in error messages).
        steps: The checked steps (`check_pipeline` output).
        inputs: The pipeline's arguments (`${input...}`).
        call: Calls any tool (pipelines included) by qualified name.
        output: A template for the result, where a step that was skipped or failed
            gives null; by default the last run step's result (None when every step
            was skipped).

    Raises:
        ToolError: A step's tool failed or raised, or a reference or `when` could not be
            resolved, in a step without `continue_on_error`; the message names the step.
        asyncio.CancelledError: The run was cancelled; it is never wrapped.
    """
    scope: dict[str, Any] = {"input": inputs, "steps": {}, "prev": None}
    last: Any = None
    for number, step in enumerate(steps, 1):
        where = f"pipeline {name}, step {number} ({step['id']!r})"
        try:
            if not _should_run(name, step, scope, where):
                scope["steps"][step["id"]] = {"skipped": True, "result": None}
                continue
            args = _resolved(name, step.get("args", {}), scope, where)
            last = await _call_step(name, step, args, call)
        except _StepFailed as exc:
            if not step.get("continue_on_error"):
                raise
            last = None
            scope["steps"][step["id"]] = {"result": None, "error": exc.detail}
        else:
            scope["steps"][step["id"]] = {"result": last}
        scope["prev"] = step["id"]
    if output is None:
        return last
    return _resolved(name, output, scope, f"pipeline {name}, output", lenient=True)


class _StepFailed(ToolError):
    """A step failed; `detail` is why, without the pipeline's name (its `.error`)."""

    def __init__(
        self, message: str, *, tool: str, detail: str, content: list[Any] | None = None
    ) -> None:
        super().__init__(message, tool=tool, content=content)
        self.detail = detail


def _should_run(name: str, step: dict[str, Any], scope: dict[str, Any], where: str) -> bool:
    when = step.get("when")
    if when is None:
        return True
    try:
        return evaluate(parse_condition(when), scope)
    except TemplateError as exc:
        msg = f"{where}: {exc}; fix the step's `when`"
        raise _StepFailed(msg, tool=name, detail=str(exc)) from exc


def _resolved(
    name: str, template: Any, scope: dict[str, Any], where: str, *, lenient: bool = False
) -> Any:
    try:
        return resolve(template, scope, lenient=lenient)
    except TemplateError as exc:
        msg = f"{where}: {exc}; check the reference against the pipeline's input and results"
        raise _StepFailed(msg, tool=name, detail=str(exc)) from exc


async def _call_step(name: str, step: dict[str, Any], args: dict[str, Any], call: ToolCall) -> Any:
    what = f"pipeline {name}: step {step['id']!r} ({step['tool']}) failed"
    try:
        result = await call(step["tool"], args)
    except Exception as exc:
        detail = str(exc) or type(exc).__name__
        msg = f"{what}: {detail}"
        raise _StepFailed(msg, tool=name, detail=detail) from exc
    if result.is_error:
        detail = result.error_message()
        msg = f"{what}: {detail}"
        raise _StepFailed(msg, tool=name, detail=detail, content=result.content)
    return step_value(result)
