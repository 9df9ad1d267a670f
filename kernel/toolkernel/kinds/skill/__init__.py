"""The `skill` kind: Python skills and Agent Skills folders, run in the kernel.

A Python skill is the source of one `async def` that composes tools; its schema is read
from its annotations without running it, and `from skills import name` runs it in the
kernel with the kernel's preloads. An Agent Skill is a `SKILL.md` (YAML front matter,
then instructions) plus files; only the front matter is indexed, the rest loads on
demand.
"""

from toolkernel.kinds.skill._kind import SkillKind
from toolkernel.kinds.skill._library import (
    AgentSkill,
    PythonSkill,
    SkillLibrary,
    skill_entry,
    skill_source,
)
from toolkernel.kinds.skill._manifest import (
    SKILL_LANGUAGES,
    SKILL_NAMESPACE,
    SkillDocument,
    parse_skill_md,
)

__all__ = [
    "SKILL_LANGUAGES",
    "SKILL_NAMESPACE",
    "AgentSkill",
    "PythonSkill",
    "SkillDocument",
    "SkillKind",
    "SkillLibrary",
    "parse_skill_md",
    "skill_entry",
    "skill_source",
]
