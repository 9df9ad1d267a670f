from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkernel import ToolNotFound, ToolSpec
from toolkernel.registry import ToolRegistry


@pytest.fixture
def registry(home: Path) -> Iterator[ToolRegistry]:
    """A registry in the shared `home` fixture's empty toolkernel home."""
    with ToolRegistry(home) as reg:
        yield reg


@pytest.fixture
def filled(registry: ToolRegistry) -> ToolRegistry:
    registry.save_catalog(
        "fs",
        [
            ToolSpec("fs", "read_file", "Read a file"),
            ToolSpec("fs", "write_file", "Write a file"),
            ToolSpec("fs", "get-weather", "Weather by city"),
            ToolSpec("fs", "list.dir", "List a directory"),
        ],
    )
    registry.save_catalog("my.server", [ToolSpec("my.server", "ping", "Answer pong")])
    registry.save_catalog("web", [ToolSpec("web", "fetch", "Fetch a URL")])
    return registry


def test_get_tool_by_original_name(filled: ToolRegistry) -> None:
    spec = filled.get_tool("fs.get-weather")

    assert (spec.source, spec.name, spec.description) == ("fs", "get-weather", "Weather by city")


def test_get_tool_by_sanitized_identifier(filled: ToolRegistry) -> None:
    assert filled.get_tool("fs.get_weather").name == "get-weather"
    assert filled.get_tool("fs.list_dir").name == "list.dir"


def test_get_tool_with_dots_in_source_or_tool_name(filled: ToolRegistry) -> None:
    assert filled.get_tool("my.server.ping").qualified_name == "my.server.ping"
    assert filled.get_tool("fs.list.dir").name == "list.dir"


def test_sanitized_lookup_is_case_sensitive(filled: ToolRegistry) -> None:
    with pytest.raises(ToolNotFound):
        filled.get_tool("fs.Get_Weather")


def test_original_name_wins_over_another_tools_identifier(registry: ToolRegistry) -> None:
    registry.save_catalog("s", [ToolSpec("s", "a-b", "hyphen"), ToolSpec("s", "a_b", "under")])

    assert registry.get_tool("s.a_b").description == "under"
    assert registry.get_tool("s.a-b").description == "hyphen"


def test_missing_tool_suggests_close_names_and_search(filled: ToolRegistry) -> None:
    with pytest.raises(ToolNotFound) as caught:
        filled.get_tool("fs.red_file")

    message = str(caught.value)
    assert caught.value.tool == "fs.red_file"
    assert "'fs.red_file'" in message
    assert "did you mean 'fs.read_file'" in message
    assert "search_tools('red file')" in message


def test_missing_source_lists_the_known_sources(filled: ToolRegistry) -> None:
    with pytest.raises(ToolNotFound, match=r"sources: 'fs', 'my\.server', 'web'") as caught:
        filled.get_tool("filesystem.read_file")

    assert "did you mean 'fs.read_file'" in str(caught.value)


def test_unqualified_name_explains_the_server_tool_form(filled: ToolRegistry) -> None:
    with pytest.raises(ToolNotFound, match=r"'server\.tool'; did you mean 'web\.fetch'"):
        filled.get_tool("fetch")


def test_missing_tool_in_empty_registry_still_points_to_search(registry: ToolRegistry) -> None:
    with pytest.raises(ToolNotFound, match=r"none yet\)\. Call search_tools\('thing'\)"):
        registry.get_tool("x.thing")


def test_list_tools_is_sorted_by_source_then_name(filled: ToolRegistry) -> None:
    names = [spec.qualified_name for spec in filled.list_tools()]

    assert names == [
        "fs.get-weather",
        "fs.list.dir",
        "fs.read_file",
        "fs.write_file",
        "my.server.ping",
        "web.fetch",
    ]


def test_list_tools_filters_by_source_and_sources(filled: ToolRegistry) -> None:
    assert [s.name for s in filled.list_tools("web")] == ["fetch"]
    assert [s.qualified_name for s in filled.list_tools(sources=["web", "my.server"])] == [
        "my.server.ping",
        "web.fetch",
    ]
    assert [s.name for s in filled.list_tools("web", sources=["web", "fs"])] == ["fetch"]
    assert filled.list_tools("web", sources=["fs"]) == []
    assert filled.list_tools(sources=[]) == []
    assert filled.list_tools("nope") == []
