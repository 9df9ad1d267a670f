"""A tool is found by the name its binding has: `tools.my_server.class_` names `my-server.class`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkernel import ToolNotFound, ToolSpec
from toolkernel.registry import ToolRegistry

NAMES = ["class", "2fa", "get-weather", "get_weather", "add_contacts"]


@pytest.fixture
def registry(home: Path) -> Iterator[ToolRegistry]:
    """`my-server` with tool names that are no identifiers, and a plain `web`."""
    with ToolRegistry(home) as reg:
        reg.save_catalog("my-server", [ToolSpec("my-server", name, name) for name in NAMES])
        reg.save_catalog("web", [ToolSpec("web", "fetch", "Fetch a URL")])
        yield reg


@pytest.mark.parametrize(
    ("python_name", "tool"),
    [
        ("my_server.class_", "class"),
        ("my_server._2fa", "2fa"),
        ("my_server.get_weather", "get_weather"),
        ("my_server.get_weather_2", "get-weather"),
        ("my_server.add_contacts", "add_contacts"),
        ("my-server.class_", "class"),
        ("my_server.class", "class"),
        ("my_server.get-weather", "get-weather"),
    ],
)
def test_get_tool_takes_the_python_spelling_of_source_and_tool(
    registry: ToolRegistry, python_name: str, tool: str
) -> None:
    spec = registry.get_tool(python_name)

    assert (spec.source, spec.name) == ("my-server", tool)


def test_a_sources_own_name_wins_over_another_sources_python_name(home: Path) -> None:
    with ToolRegistry(home) as registry:
        registry.save_catalog("a-b", [ToolSpec("a-b", "ping", "hyphen")])
        registry.save_catalog("a_b", [ToolSpec("a_b", "ping", "underscore")])

        assert registry.get_tool("a_b.ping").description == "underscore"
        assert registry.get_tool("a-b.ping").description == "hyphen"


def test_list_and_search_filter_by_a_sources_python_name(registry: ToolRegistry) -> None:
    by_python = registry.list_tools("my_server")
    by_original = registry.list_tools("my-server")

    assert [spec.name for spec in by_python] == sorted(NAMES)
    assert by_python == by_original
    assert registry.list_tools(sources=["my_server", "web"]) == registry.list_tools()
    hits = registry.search("weather", sources=["my_server"])
    assert {hit.spec.name for hit in hits} == {"get-weather", "get_weather"}


def test_search_for_a_python_name_ranks_that_tool_first(registry: ToolRegistry) -> None:
    for query, tool in [("my_server.class_", "class"), ("my_server.get_weather_2", "get-weather")]:
        assert registry.search(query)[0].spec.name == tool, query


def test_a_missing_tool_under_a_python_source_name_is_reported_in_that_source(
    registry: ToolRegistry,
) -> None:
    with pytest.raises(ToolNotFound, match=r"no tool 'my_server\.clas' in the registry") as caught:
        registry.get_tool("my_server.clas")

    assert "did you mean 'my-server.class'" in str(caught.value)
