"""Skills in a real kernel: saved Python functions that compose tools, and Agent Skills."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tk_support import python_server, start_kernel

pytestmark = pytest.mark.timeout(300)

SKILL_MD = """---
name: release-notes
description: Write release notes from a list of merged pull requests.
license: MIT
---
# Release notes

1. Group the pull requests by label.
2. See template.md for the layout.
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_kernel(
        tmp_path_factory.mktemp("skills"), {"echo": python_server("echo_server.py")}
    )
    driver.execute("await wait_for_servers(30)")
    driver.execute(
        "import json\n"
        "async def add_and_echo(x: int, y: int = 1) -> str:\n"
        "    '''Add two numbers on the echo server, then echo the sum as JSON.'''\n"
        "    total = await tools.echo.add(a=x, b=y)\n"
        "    return await tools.echo.echo(text=json.dumps(total))\n"
        "saved = save_skill(add_and_echo, note='first')\n"
    )
    yield driver
    driver.shutdown()


def test_a_saved_skill_is_importable_and_composes_tools(kernel: Any) -> None:
    kernel.execute("from skills import add_and_echo as imported")
    assert kernel.value("await imported(x=2, y=3)") == "5"
    assert kernel.value("await skills.add_and_echo({'x': 4})") == "5"


def test_a_skill_keeps_the_modules_it_uses_as_imports(kernel: Any) -> None:
    source = kernel.value("saved.source")
    assert source.startswith("import json\n")
    assert "async def add_and_echo(x: int, y: int = 1) -> str:" in source


def test_a_skill_is_found_by_search_with_its_signature(kernel: Any) -> None:
    names = kernel.value("search_tools('add numbers echo sum', detail='name')")
    assert "skills.add_and_echo" in names
    signature = kernel.value("get_tool_details('skills.add_and_echo').signature")
    assert signature == "add_and_echo(x: int, y: int = 1) -> str"
    assert "skills.add_and_echo" in kernel.value("list_tool_names('skills')")


def test_wrong_arguments_are_refused_with_the_signature(kernel: Any) -> None:
    out = kernel.execute("await skills.add_and_echo(z=1)", allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "ToolInputError"
    assert "add_and_echo(x: int, y: int = 1) -> str" in out.error["evalue"]


def test_skill_versions_roll_back_and_pin(kernel: Any) -> None:
    kernel.execute(
        "async def versioned() -> int:\n"
        "    return 1\n"
        "save_skill(versioned)\n"
        "async def versioned() -> int:\n"
        "    return 2\n"
        "save_skill(versioned, note='two')\n"
    )
    assert kernel.value("await skills.versioned()") == 2
    assert kernel.value("await skills.versioned.at(1)()") == 1
    kernel.execute("rollback_tool('skills.versioned', 1)")
    assert kernel.value("await skills.versioned()") == 1
    assert kernel.value("[v.version for v in tool_versions('skills.versioned')]") == [1, 2, 3]


def test_the_skill_cell_magic_saves_the_whole_cell(kernel: Any) -> None:
    out = kernel.execute(
        "%%skill shout --note 'from a cell'\n"
        "import textwrap\n"
        "def _loud(text):\n"
        "    return text.upper()\n"
        "async def shout(text: str, times: int = 1) -> str:\n"
        "    '''Echo the text in capitals.'''\n"
        "    said = await tools.echo.echo(text=textwrap.dedent(text))\n"
        "    return ' '.join([_loud(said)] * times)\n"
    )
    assert "saved skills.shout v1: from skills import shout" in out.stdout
    assert kernel.value("await shout(text='hi', times=2)") == "HI HI"
    details = kernel.value("get_tool_details('skills.shout').to_json()")
    assert details["input_schema"]["properties"] == {
        "text": {"type": "string"},
        "times": {"type": "integer"},
    }


def test_a_skill_that_needs_a_notebook_global_is_refused(kernel: Any) -> None:
    out = kernel.execute(
        "LIMIT = 3\n"
        "async def capped(x: int) -> int:\n"
        "    return min(x, LIMIT)\n"
        "save_skill(capped)\n",
        allow_error=True,
    )
    assert out.error is not None
    assert "capped uses LIMIT from the notebook" in out.error["evalue"]
    assert "%%skill" in out.error["evalue"]


def test_an_agent_skill_loads_its_instructions_on_demand(kernel: Any) -> None:
    kernel.execute(
        f"create_tool(None, kind='skill', language='markdown', source={{'SKILL.md': {SKILL_MD!r},"
        " 'template.md': '## Features'})"
    )
    assert kernel.value("load_skill('release-notes').instructions") == SKILL_MD
    assert kernel.value("load_skill('release-notes').read('template.md')") == "## Features"
    assert kernel.value("load_skill('release-notes').files") == ["SKILL.md", "template.md"]
    names = kernel.value("search_tools('release notes pull requests', detail='name')")
    assert names[0] == "skills.release_notes"
    details = kernel.value("repr(get_tool_details('skills.release_notes'))")
    assert details.startswith("load_skill('release-notes')")


def test_an_unknown_skill_names_the_skills_there_are(kernel: Any) -> None:
    out = kernel.execute("skills.nope", allow_error=True)
    assert out.error is not None
    assert "no skill 'skills.nope'; skills: add_and_echo" in out.error["evalue"]
    out = kernel.execute("load_skill('nope')", allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "ToolNotFound"
    assert "Save one with save_skill(fn)" in out.error["evalue"]
