"""Skill manifests: SKILL.md front matter, and Python skills read without running them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from toolkernel.errors import RegistryError
from toolkernel.factory import ToolFactory, parse_skill_md
from toolkernel.kinds.skill import AgentSkill, SkillLibrary
from toolkernel.kinds.skill._manifest import python_skill_fields
from toolkernel.registry import ToolRegistry


def test_skill_md_front_matter_gives_name_description_and_body() -> None:
    doc = parse_skill_md(
        "\ufeff---\nname: pdf-tools\ndescription: >\n  Fill PDF forms.\n"
        "license: MIT\n---\n\n# Use\n"
    )
    assert (doc.name, doc.description, doc.body) == ("pdf-tools", "Fill PDF forms.", "# Use\n")
    assert doc.metadata == {"license": "MIT"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# no header\n", "must start with YAML front matter"),
        ("---\nname: [a\n---\n", "not valid YAML"),
        ("---\n- a\n---\n", "must be a mapping"),
        ("---\nname: PDF Tools\ndescription: x\n---\n", "lowercase letters, digits"),
        ("---\nname: pdf\n---\n", "needs a non-empty description"),
    ],
)
def test_bad_skill_md_is_refused_with_what_to_write(text: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        parse_skill_md(text)


def test_a_python_skill_schema_comes_from_annotations_without_running_it() -> None:
    source = (
        "raise SystemExit('top-level code must not run')\n"
        "from typing import Literal, Optional\n"
        "async def report(city: str, days: int = 3, *, units: Literal['c', 'f'] = 'c',\n"
        "                 tags: list[str] | None = None, extra: Optional[dict] = None,\n"
        "                 scale: 'float', raw=None) -> str:\n"
        "    '''Weather report for a city.'''\n"
    )
    fields = python_skill_fields("skills.report", source, None)
    assert fields["description"] == "Weather report for a city."
    schema = fields["input_schema"]
    assert schema["required"] == ["city", "scale"]
    assert schema["additionalProperties"] is False
    assert schema["properties"] == {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "units": {"enum": ["c", "f"]},
        "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
        "extra": {"anyOf": [{"type": "object"}, {"type": "null"}]},
        "scale": {"type": "number"},
        "raw": {},
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def report(): ...", "no top-level `async def report"),
        ("async def other(): ...", "it defines other"),
        ("async def report(:", "does not parse: line 1"),
        ("async def report(*args): ...", "keyword arguments only"),
    ],
)
def test_bad_python_skills_are_refused(source: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        python_skill_fields("skills.report", source, None)


@pytest.fixture
def factory(tmp_path: Path) -> Any:
    registry = ToolRegistry(tmp_path / "home")
    yield ToolFactory(registry, reserved=(), cache_dir=tmp_path / "cache")
    registry.close()


def test_skills_live_in_their_own_namespace(factory: Any) -> None:
    with pytest.raises(RegistryError, match="holds skills only"):
        factory.create("skills.tool", kind="pipeline", steps=[])
    with pytest.raises(RegistryError, match=r"name it 'skills\.report'"):
        factory.create(
            "local.report", kind="skill", language="python", source="async def report(): ..."
        )
    created = factory.create(
        "report", kind="skill", language="python", source="async def report(): ..."
    )
    assert (created.name, created.kind, created.manifest["entry"]) == (
        "skills.report",
        "skill",
        "report",
    )


def test_an_agent_skill_is_named_by_its_front_matter_and_keeps_binary_files(factory: Any) -> None:
    files = {
        "SKILL.md": "---\nname: logo-maker\ndescription: Draw logos.\n---\nSteps\n",
        "a.png": b"\x89PNG\x00",
    }
    created = factory.create(None, kind="skill", language="markdown", source=files)
    assert created.name == "skills.logo_maker"
    assert created.manifest["title"] == "logo-maker"
    assert factory._registry.get_blob(created.manifest["source"]["a.png"]) == b"\x89PNG\x00"
    spec = factory._registry.get_tool("skills.logo_maker")
    assert (spec.kind, spec.description) == ("skill", "Draw logos.")


def test_an_imported_skills_text_is_shown_as_text_never_as_live_html(factory: Any) -> None:
    evil = "<img src=x onerror=alert(1)>"
    files = {"SKILL.md": f"---\nname: evil\ndescription: '{evil} | x'\n---\n```\n{evil}\n"}
    created = factory.create(None, kind="skill", language="markdown", source=files)
    registry = factory._registry
    markdown = AgentSkill(registry, created)._repr_markdown_()
    assert markdown.startswith("````markdown\n")
    assert markdown.endswith("\n````")
    table = SkillLibrary(registry, scope=dict)._repr_markdown_()
    assert "&lt;img src=x onerror=alert(1)&gt; &#124; x" in table
    assert "<img" not in table
