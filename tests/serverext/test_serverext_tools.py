"""`GET tools`, `GET tools/{name}`: listing, search ranking and binding details."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from panel_support import SKILL_SOURCE, error_of, get_json

from toolkernel.bindings import BindingCache, ToolsNamespace
from toolkernel.registry import ToolRegistry
from toolkernel.session import Discovery
from toolkernel.session._skills import SkillLibrary


async def test_tools_lists_every_tool_sorted_by_source_then_name(
    jp_fetch: Any, registry: ToolRegistry
) -> None:
    listed = await get_json(jp_fetch, "tools")
    expected = [spec.qualified_name for spec in registry.list_tools()]
    assert [tool["name"] for tool in listed["tools"]] == expected
    assert listed["total"] == len(expected) == 7
    assert listed["query"] == ""
    by_name = {tool["name"]: tool for tool in listed["tools"]}
    assert by_name["local.word_count"] | {"description": ""} == {
        "name": "local.word_count",
        "source": "local",
        "tool": "word_count",
        "kind": "wasm",
        "title": None,
        "description": "",
        "annotations": None,
        "version": 2,
    }
    assert by_name["filesystem.read_file"]["annotations"] == {"readOnlyHint": True}
    assert by_name["filesystem.read_file"]["version"] is None
    assert by_name["everything.get-weather"]["title"] == "Weather"
    assert by_name["skills.report"]["kind"] == "skill"


async def test_tools_without_query_honours_limit(jp_fetch: Any, registry: ToolRegistry) -> None:
    listed = await get_json(jp_fetch, "tools", limit=3)
    expected = [spec.qualified_name for spec in registry.list_tools()][:3]
    assert [tool["name"] for tool in listed["tools"]] == expected


@pytest.mark.parametrize(
    "query", ["read a file", "weather forecast", "word count", "directory", "echo"]
)
async def test_search_ranks_exactly_as_the_registry_search(
    jp_fetch: Any, registry: ToolRegistry, query: str
) -> None:
    found = await get_json(jp_fetch, "tools", q=query)
    expected = [hit.spec.qualified_name for hit in registry.search(query, limit=200)]
    assert expected, f"the fixture registry should match {query!r}"
    assert [tool["name"] for tool in found["tools"]] == expected
    assert found["query"] == query
    assert found["total"] == len(registry.list_tools()) == 7  # every tool, not the matches


async def test_search_limit_cuts_the_ranking(jp_fetch: Any, registry: ToolRegistry) -> None:
    found = await get_json(jp_fetch, "tools", q="file", limit=2)
    assert [tool["name"] for tool in found["tools"]] == [
        hit.spec.qualified_name for hit in registry.search("file", limit=2)
    ]
    assert len(found["tools"]) == 2


async def test_search_of_stop_words_only_finds_nothing(jp_fetch: Any) -> None:
    found = await get_json(jp_fetch, "tools", q="the a of")
    assert found["tools"] == []


def _kernel_details(home: Path, name: str) -> Any:
    """What a kernel's `get_tool_details` would say, from the same registry."""
    registry = ToolRegistry(home)
    namespace = ToolsNamespace(BindingCache(home / "kernel-bindings"))
    for source, specs in registry.load_catalogs().items():
        namespace.set_source(source, specs)
    skills = SkillLibrary(registry, scope=dict)
    sources = [*registry.load_catalogs()]
    try:
        return Discovery(registry, namespace, sources, skills).get_tool_details(name)
    finally:
        registry.close()


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("filesystem.read_file", 'await tools.filesystem.read_file(path="")'),
        (
            "everything.get-weather",
            "await tools.everything.get_weather(city=\"\", units='metric', verbose=False)",
        ),
        ("local.word_count", 'await tools.local.word_count(text="")'),
        ("skills.report", 'await skills.report(topic="")'),
    ],
)
async def test_details_give_the_kernels_signature_and_doc_and_a_ready_call(
    jp_fetch: Any, panel_home: Path, name: str, call: str
) -> None:
    details = await get_json(jp_fetch, "tools", name)
    kernel = _kernel_details(panel_home, name)
    assert details["signature"] == kernel.signature
    assert details["doc"] == kernel.doc
    assert details["call"] == call
    assert details["name"] == name
    assert details["input_schema"] == kernel.input_schema
    assert details["output_schema"] == kernel.output_schema


async def test_details_of_a_registry_tool_count_its_versions(jp_fetch: Any) -> None:
    details = await get_json(jp_fetch, "tools", "local.word_count")
    assert details["signature"] == "word_count(*, text: str) -> tools.local.WordCountResult"
    assert details["doc"].startswith("Count the words in a text, fast.")
    assert (details["kind"], details["version"], details["versions"]) == ("wasm", 2, 2)
    mcp = await get_json(jp_fetch, "tools", "filesystem.read_file")
    assert (mcp["kind"], mcp["version"], mcp["versions"]) == ("mcp", None, 0)


async def test_a_python_skill_is_described_without_running_it(jp_fetch: Any) -> None:
    details = await get_json(jp_fetch, "tools", "skills.report")
    namespace: dict[str, Any] = {}
    code = compile(SKILL_SOURCE, "<skill>", "exec", dont_inherit=True)
    exec(code, namespace)  # noqa: S102 - the test's own fixture source
    expected = f"report{inspect.signature(namespace['report'])}"
    assert details["signature"] == expected
    assert details["doc"] == "Write a short report on a topic."


async def test_an_unknown_tool_is_404_with_close_names(jp_fetch: Any) -> None:
    status, message = await error_of(jp_fetch, "tools", "filesystem.reed_file")
    assert status == 404
    assert "no tool 'filesystem.reed_file'" in message
    assert "did you mean 'filesystem.read_file'" in message


async def test_an_unknown_source_is_404_naming_the_sources(jp_fetch: Any) -> None:
    status, message = await error_of(jp_fetch, "tools", "nowhere.read_file")
    assert status == 404
    assert "'filesystem'" in message


@pytest.mark.parametrize(("params", "words"), [({"limit": "many"}, "'limit' must be an integer")])
async def test_a_bad_limit_is_400_saying_what_is_expected(
    jp_fetch: Any, params: dict[str, str], words: str
) -> None:
    status, message = await error_of(jp_fetch, "tools", params=params)
    assert status == 400
    assert words in message


async def test_a_negative_limit_is_400(jp_fetch: Any) -> None:
    status, message = await error_of(jp_fetch, "tools", params={"q": "file", "limit": "-1"})
    assert status == 400
    assert "'limit' must be >= 0, not -1" in message
