"""Check a declarative pipeline before it is stored: its steps, tools, references and cycles.

Everything a run could trip over that is knowable at creation is refused here, with a
message that names the step: a malformed step, an unknown tool, a `${...}` (or `$...`)
that is malformed or names a step that does not run before it, a `${prev}` in the first
step, a `${steps.<id>.error}` of a step that never continues on error, a `when` that
does not parse, and a pipeline that calls itself through other pipelines. The runner is
`toolkernel.kinds.pipeline._run.run_pipeline`; both use the parsers of `_templates`.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from toolkernel.errors import RegistryError
from toolkernel.kinds.pipeline._templates import (
    Reference,
    TemplateError,
    parse_condition,
    template_references,
)

__all__ = ["check_pipeline"]

_STEP_KEYS = ("id", "tool", "args", "when", "continue_on_error")
_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

StepsOf = Callable[[str], list[dict[str, Any]] | None]


def check_pipeline(
    name: str,
    steps: Any,
    *,
    output: Any = None,
    tool_exists: Callable[[str], bool],
    pipeline_steps: StepsOf,
    known_tools: Collection[str] = (),
) -> dict[str, Any]:
    """Check pipeline `name` and return it normalized, ready to store.

    Args:
        name: The pipeline's qualified name (`local.report`).
        steps: The steps: a non-empty list of `{"id", "tool", "args"?, "when"?,
            "continue_on_error"?}` dicts.
        output: An optional template for the pipeline's result; it may use `input`,
            `prev` and any step's result (null for a step that was skipped or failed).
        tool_exists: Whether a tool with this qualified name exists.
        pipeline_steps: The stored steps of a pipeline tool, or None for other tools;
            used to find cycles through other pipelines.
        known_tools: Qualified names to suggest from when a step's tool is unknown.

    Returns:
        `{"steps": [...], "output": output}`; each step has `id`, `tool` and `args`
        (default `{}`), plus `when` and `continue_on_error` (only when true) when given.

    Raises:
        RegistryError: The pipeline is invalid; the message names the step and says
            what to change.
    """
    if not isinstance(steps, list) or not steps:
        msg = (
            f"pipeline {name}: steps must be a non-empty list of dicts with keys "
            f"{', '.join(_STEP_KEYS)}, not {_shown(steps)}"
        )
        raise RegistryError(msg)
    checker = _StepChecker(name, tool_exists, known_tools)
    checked: list[dict[str, Any]] = []
    for number, step in enumerate(steps, 1):
        checked.append(checker.check(number, step, checked))
    where = f"pipeline {name}, output"
    _check_references(where, _references(where, output), checked)
    _check_cycles(name, checked, pipeline_steps)
    return {"steps": checked, "output": _json(where, output)}


@dataclass(frozen=True)
class _StepChecker:
    name: str
    tool_exists: Callable[[str], bool]
    known_tools: Collection[str]

    def check(self, number: int, step: Any, earlier: list[dict[str, Any]]) -> dict[str, Any]:
        """Return step `number` normalized, or raise `RegistryError` naming it."""
        where = f"pipeline {self.name}, step {number}"
        if not isinstance(step, Mapping):
            msg = f"{where} must be a dict with keys {', '.join(_STEP_KEYS)}, not {_shown(step)}"
            raise RegistryError(msg)
        where = _check_id(where, step, earlier)
        extra = sorted(map(str, set(step) - set(_STEP_KEYS)))
        if extra:
            msg = (
                f"{where}: unknown key {', '.join(map(repr, extra))}; a step has only "
                + ", ".join(_STEP_KEYS)
            )
            raise RegistryError(msg)
        args = step.get("args", {})
        if not isinstance(args, Mapping):
            msg = (
                f"{where}: args must be a dict of argument name to value or template, not "
                + _shown(args)
            )
            raise RegistryError(msg)
        tool = self._tool(where, step.get("tool"))
        normalized: dict[str, Any] = {"id": step["id"], "tool": tool, "args": _json(where, args)}
        refs = _references(where, normalized["args"])
        if step.get("when") is not None:
            normalized["when"] = step["when"]
            refs.append(_condition_reference(where, step["when"]))
        go_on = step.get("continue_on_error", False)
        if not isinstance(go_on, bool):
            msg = f"{where}: continue_on_error must be true or false, not {_shown(go_on)}"
            raise RegistryError(msg)
        if go_on:
            normalized["continue_on_error"] = True
        _check_references(where, refs, earlier)
        return normalized

    def _tool(self, where: str, tool: Any) -> str:
        if not isinstance(tool, str) or not tool:
            msg = f"{where}: tool must be a qualified tool name like 'server.tool', not {tool!r}"
            raise RegistryError(msg)
        # A call of the pipeline itself is reported as a cycle once every step is checked.
        if tool == self.name or self.tool_exists(tool):
            return tool
        close = difflib.get_close_matches(tool, list(self.known_tools), n=3)
        hint = (
            f"did you mean {' or '.join(map(repr, close))}?"
            if close
            else "list_tool_names() shows the tools there are"
        )
        msg = f"{where}: unknown tool {tool!r}; {hint}"
        raise RegistryError(msg)


def _check_id(where: str, step: Mapping[Any, Any], earlier: list[dict[str, Any]]) -> str:
    step_id = step.get("id")
    if not isinstance(step_id, str) or not _ID.fullmatch(step_id):
        msg = (
            f"{where}: id must be an identifier like 'fetch' (letters, digits and _, "
            f"not first a digit), not {step_id!r}; `${{steps.<id>...}}` refers to it"
        )
        raise RegistryError(msg)
    where = f"{where} ({step_id!r})"
    for number, other in enumerate(earlier, 1):
        if other["id"] == step_id:
            msg = f"{where}: step {number} already has id {step_id!r}; give each step its own id"
            raise RegistryError(msg)
    return where


def _condition_reference(where: str, when: Any) -> Reference:
    if not isinstance(when, str):
        msg = (
            f"{where}: when must be a str such as \"${{input.mode}} == 'fast'\", not {_shown(when)}"
        )
        raise RegistryError(msg)
    try:
        return parse_condition(when).reference
    except TemplateError as exc:
        msg = f"{where}: {exc}"
        raise RegistryError(msg) from exc


def _references(where: str, template: Any) -> list[Reference]:
    try:
        return list(template_references(template))
    except TemplateError as exc:
        msg = f"{where}: {exc}"
        raise RegistryError(msg) from exc


def _check_references(where: str, refs: Iterable[Reference], earlier: list[dict[str, Any]]) -> None:
    """Refuse a reference to a step that does not run before, or to a result never there."""
    ids = [step["id"] for step in earlier]
    for ref in refs:
        if ref.source == "prev" and not earlier:
            msg = (
                f"{where} uses {ref.text}, but the first step has no previous step; "
                "use ${input...} there"
            )
            raise RegistryError(msg)
        if ref.step is None:
            continue
        if ref.step not in ids:
            usable = ", ".join(ids) if ids else "none, as it is the first step"
            msg = (
                f"{where} refers to steps.{ref.step}, which is not an earlier step (in "
                f"{ref.text}); it can use ${{input...}}, ${{prev}} and the results of: {usable}"
            )
            raise RegistryError(msg)
        if ref.source == "error" and not earlier[ids.index(ref.step)].get("continue_on_error"):
            msg = (
                f"{where} uses {ref.text}, but step {ref.step!r} stops the pipeline when it "
                "fails, so its error is always null; give that step continue_on_error: true"
            )
            raise RegistryError(msg)


def _check_cycles(name: str, steps: list[dict[str, Any]], pipeline_steps: StepsOf) -> None:
    done: set[str] = set()
    for number, step in enumerate(steps, 1):
        cycle = _cycle_from(step["tool"], [name], pipeline_steps, done)
        if cycle is not None:
            msg = (
                f"pipeline {name}, step {number} ({step['id']!r}) makes a cycle: "
                f"{' -> '.join(cycle)}; a pipeline cannot call itself, directly or through "
                "other pipelines"
            )
            raise RegistryError(msg)


def _cycle_from(
    tool: str, path: list[str], pipeline_steps: StepsOf, done: set[str]
) -> list[str] | None:
    """Return the call path that leads from `path` through `tool` back onto `path`, if any."""
    if tool in path:
        return [*path, tool]
    if tool in done:
        return None
    for step in pipeline_steps(tool) or ():
        called = step.get("tool")
        if isinstance(called, str):
            found = _cycle_from(called, [*path, tool], pipeline_steps, done)
            if found is not None:
                return found
    done.add(tool)
    return None


def _json(where: str, value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        msg = f"{where}: templates must be JSON (str, number, bool, null, lists, dicts): {exc}"
        raise RegistryError(msg) from exc


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}..." if len(text) > 60 else text
