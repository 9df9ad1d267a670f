"""Skills in the kernel: moved to the skill kind (`toolkernel.kinds.skill`).

Re-exported here for the modules that still import them from the session.
"""

from toolkernel.kinds.skill._library import (
    AgentSkill,
    PythonSkill,
    SkillLibrary,
    skill_entry,
    skill_source,
)

__all__ = ["AgentSkill", "PythonSkill", "SkillLibrary", "skill_entry", "skill_source"]
