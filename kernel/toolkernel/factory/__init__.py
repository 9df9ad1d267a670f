"""The tool factory: create registry tools from a `ToolDraft` at run time.

The kinds' own names below (`SKILL_NAMESPACE`, `WASM_LANGUAGES`, `parse_skill_md`, ...)
now live in `toolkernel.kinds.skill` and `toolkernel.kinds.wasm`; they are re-exported
here for the modules that still import them from the factory.
"""

from toolkernel.factory._changes import RegistryChanges, ToolChanges
from toolkernel.factory._create import (
    CRATE_REGISTRY_VARIABLE,
    DEFAULT_NAMESPACE,
    SANDBOX_BACKEND_VARIABLE,
    LiveTools,
    PreparedTool,
    ToolFactory,
)
from toolkernel.kinds import ToolDraft
from toolkernel.kinds.skill import SKILL_LANGUAGES, SKILL_NAMESPACE, SkillDocument, parse_skill_md
from toolkernel.kinds.wasm import WASM_LANGUAGES

__all__ = [
    "CRATE_REGISTRY_VARIABLE",
    "DEFAULT_NAMESPACE",
    "SANDBOX_BACKEND_VARIABLE",
    "SKILL_LANGUAGES",
    "SKILL_NAMESPACE",
    "WASM_LANGUAGES",
    "LiveTools",
    "PreparedTool",
    "RegistryChanges",
    "SkillDocument",
    "ToolChanges",
    "ToolDraft",
    "ToolFactory",
    "parse_skill_md",
]
