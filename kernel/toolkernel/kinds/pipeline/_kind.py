"""The `pipeline` kind: declarative steps that call other tools, run by the host."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from toolkernel.errors import ToolError, ToolNotFound
from toolkernel.kinds._protocol import MAX_DEPTH, call_depth
from toolkernel.kinds._results import json_result
from toolkernel.kinds._sources import needs_a_name
from toolkernel.kinds.pipeline._check import check_pipeline
from toolkernel.kinds.pipeline._run import run_pipeline

if TYPE_CHECKING:
    from toolkernel._spec import ToolResult
    from toolkernel.kinds._draft import ToolDraft
    from toolkernel.kinds._protocol import CallContext, KindContext, LineSink, ToolIndex
    from toolkernel.registry import ToolVersion

__all__ = ["PipelineKind"]


class PipelineKind:
    """Pipelines: steps checked against the tools there are, run through `ToolHost.call`."""

    name: str = "pipeline"
    namespace: str | None = None
    served: bool = True

    def __init__(self, context: KindContext) -> None:
        """Pipelines keep nothing but their manifest; the registry resolves step names."""
        self._registry = context.registry

    def default_name(self, source: object) -> str:
        """A pipeline has no source to name it: refuse."""
        raise needs_a_name(self.name)

    def check(self, name: str, draft: ToolDraft, tools: ToolIndex) -> dict[str, Any]:
        """Check the steps: their tools exist, references resolve, no cycles."""
        known = set(tools.names())

        def pipeline_steps(tool: str) -> list[dict[str, Any]] | None:
            found = tools.current(tool)
            if found is None or found.kind != self.name:
                return None
            steps: list[dict[str, Any]] = found.manifest["steps"]
            return steps

        steps = draft.steps
        if isinstance(steps, list):
            steps = [self._original_tool(step, known) for step in steps]
        return check_pipeline(
            name,
            steps,
            output=draft.output,
            tool_exists=known.__contains__,
            pipeline_steps=pipeline_steps,
            known_tools=known,
        )

    def _original_tool(self, step: Any, known: set[str]) -> Any:
        """`step` with its tool as its server spells it, if given by its Python name.

        `my_server.class_` (as `list_tool_names` gives it) becomes `my-server.class`, so
        the stored pipeline calls the tool by the name the host serves.
        """
        tool = step.get("tool") if isinstance(step, Mapping) else None
        if not isinstance(tool, str) or tool in known:
            return step
        try:
            original = self._registry.get_tool(tool).qualified_name
        except ToolNotFound:
            return step
        return {**step, "tool": original} if original in known else step

    def build(
        self, name: str, draft: ToolDraft, manifest: dict[str, Any], on_line: LineSink | None
    ) -> dict[str, Any]:
        """Nothing to build: the steps are the pipeline."""
        return {}

    def install(self, name: str, manifest: dict[str, Any], on_line: LineSink | None) -> None:
        """Nothing to install."""

    async def run(
        self, version: ToolVersion, arguments: dict[str, Any], call: CallContext
    ) -> ToolResult:
        """Run the steps in order, each through `ToolHost.call`."""
        if call.host_call is None:
            msg = f"{version.name} needs a tool host to run"
            raise ToolError(msg, tool=version.name)
        manifest = version.manifest
        token = call_depth.set(call_depth.get() + 1)
        try:
            if call_depth.get() > MAX_DEPTH:
                msg = f"{version.name}: pipelines nest deeper than {MAX_DEPTH}; is there a loop?"
                raise ToolError(msg, tool=version.name)
            value = await run_pipeline(
                version.name,
                manifest["steps"],
                arguments,
                call.host_call,
                output=manifest.get("output"),
            )
        finally:
            call_depth.reset(token)
        return json_result(version.name, value)

    async def aclose(self) -> None:
        """Nothing runs between calls."""

    def close(self) -> None:
        """Nothing native to release."""
