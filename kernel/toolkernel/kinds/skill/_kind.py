"""The `skill` kind: a Python `async def`, or an Agent Skills folder; both run in the kernel."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from toolkernel.errors import RegistryError, ToolError
from toolkernel.kinds.skill._manifest import (
    SKILL_LANGUAGES,
    SKILL_NAMESPACE,
    markdown_skill_files,
    python_skill_fields,
    skill_tool_name,
)

if TYPE_CHECKING:
    from toolkernel._spec import ToolResult
    from toolkernel.kinds._draft import ToolDraft
    from toolkernel.kinds._protocol import CallContext, KindContext, LineSink, ToolIndex
    from toolkernel.registry import ToolVersion

__all__ = ["SkillKind"]


class SkillKind:
    """Skills: stored here, listed and searched; run by the kernel (`from skills import x`)."""

    name: str = "skill"
    namespace: str | None = SKILL_NAMESPACE
    served: bool = False

    def __init__(self, context: KindContext) -> None:
        """Store skills in `context.registry`."""
        self._context = context

    def default_name(self, source: object) -> str:
        """An Agent Skill's name, from its `SKILL.md` front matter.

        Raises:
            RegistryError: The source is not an Agent Skills folder (a Python skill).
        """
        if isinstance(source, Mapping) and "SKILL.md" in source:
            document, _ = markdown_skill_files(source)
            return skill_tool_name(document.name)
        msg = "a Python skill needs a name, e.g. 'summarize'"
        raise RegistryError(msg)

    def check(self, name: str, draft: ToolDraft, tools: ToolIndex) -> dict[str, Any]:
        """Read the description and schema from the source, without running anything."""
        if draft.language not in SKILL_LANGUAGES:
            msg = (
                "a skill's language is 'python' or 'markdown' (an Agent Skill), not "
                f"{draft.language!r}"
            )
            raise RegistryError(msg)
        manifest: dict[str, Any]
        if draft.language == "python":
            manifest = python_skill_fields(name, draft.source, draft.entry)
        else:
            document, _ = markdown_skill_files(draft.source)
            manifest = {
                "description": document.description,
                "input_schema": {"type": "object", "properties": {}},
                "language": "markdown",
                "entry": "SKILL.md",
                "title": document.name,
                "metadata": json.loads(json.dumps(document.metadata, default=str)),
            }
        if draft.description:
            manifest["description"] = draft.description
        if draft.input_schema is not None:
            manifest["input_schema"] = draft.input_schema
        return manifest | {"output_schema": None, "annotations": None}

    def build(
        self, name: str, draft: ToolDraft, manifest: dict[str, Any], on_line: LineSink | None
    ) -> dict[str, Any]:
        """Store the skill's files: `skill.py`, or the whole Agent Skills folder."""
        files: dict[str, bytes]
        if manifest["language"] == "python":
            files = {"skill.py": str(draft.source).encode("utf-8")}
        else:
            _, files = markdown_skill_files(draft.source)
        registry = self._context.registry
        return {"source": {path: registry.put_blob(data) for path, data in files.items()}}

    def install(self, name: str, manifest: dict[str, Any], on_line: LineSink | None) -> None:
        """Nothing to install: a skill runs in the kernel, with the kernel's packages."""

    async def run(
        self, version: ToolVersion, arguments: dict[str, Any], call: CallContext
    ) -> ToolResult:
        """Refuse: the host does not run skills (`served` is False)."""
        msg = f"{version.name} is a skill, run in the kernel: `from skills import {version.tool}`"
        raise ToolError(msg, tool=version.name)

    async def aclose(self) -> None:
        """Nothing runs in the host."""

    def close(self) -> None:
        """Nothing native to release."""
