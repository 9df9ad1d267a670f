"""The tool factory: create registry tools from source at run time."""

from toolkernel.factory._create import (
    DEFAULT_NAMESPACE,
    SANDBOX_BACKEND_VARIABLE,
    WASM_LANGUAGES,
    ToolFactory,
)
from toolkernel.factory._skills import (
    SKILL_LANGUAGES,
    SKILL_NAMESPACE,
    SkillDocument,
    parse_skill_md,
)

__all__ = [
    "DEFAULT_NAMESPACE",
    "SANDBOX_BACKEND_VARIABLE",
    "SKILL_LANGUAGES",
    "SKILL_NAMESPACE",
    "WASM_LANGUAGES",
    "SkillDocument",
    "ToolFactory",
    "parse_skill_md",
]
