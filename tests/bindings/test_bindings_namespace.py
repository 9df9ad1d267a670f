from __future__ import annotations

import asyncio
import importlib
import sys

import pytest
from bindings_support import RecordingCaller, obj, tool

from toolkernel import ToolNotFound, ToolSpec
from toolkernel.bindings import ToolsNamespace

ECHO = tool("echo", source="my-server", input_schema=obj({"text": {"type": "string"}}, ["text"]))


def test_every_import_form_reaches_the_bindings(
    namespace: ToolsNamespace, demo_specs: list[ToolSpec]
) -> None:
    namespace.set_source("demo-server", demo_specs)
    import tools.demo_server  # type: ignore[import-not-found,unused-ignore]
    from tools.demo_server import read_file  # type: ignore[import-not-found,unused-ignore]

    assert tools.demo_server.read_file is read_file
    assert sys.modules["tools"] is namespace
    assert sys.modules["tools.demo_server"].read_file is read_file
    assert importlib.import_module("tools.demo_server") is namespace.demo_server
    assert read_file.__module__ == "tools.demo_server"


def test_hyphenated_server_name_leaves_other_servers_working(
    namespace: ToolsNamespace, caller: RecordingCaller
) -> None:
    namespace.set_source("my-server", [ECHO])
    namespace.set_source("plain", [tool("ping", source="plain")])
    from tools.my_server import echo  # type: ignore[import-not-found,unused-ignore]
    from tools.plain import ping  # type: ignore[import-not-found,unused-ignore]

    asyncio.run(echo(text="hi"))
    asyncio.run(ping())
    assert caller.calls == [("my-server", "echo", {"text": "hi"}), ("plain", "ping", {})]


def test_set_source_with_a_changed_catalog_replaces_the_module(
    namespace: ToolsNamespace, caller: RecordingCaller
) -> None:
    old = namespace.set_source("my-server", [ECHO])
    from tools.my_server import echo  # type: ignore[import-not-found,unused-ignore]

    new = namespace.set_source("my-server", [tool("shout", source="my-server")])
    assert new is not old
    assert namespace.my_server is new
    assert sys.modules["tools.my_server"] is new
    assert hasattr(new, "shout")
    assert not hasattr(new, "echo")
    asyncio.run(echo(text="still routed"))  # imported before the refresh
    assert caller.calls == [("my-server", "echo", {"text": "still routed"})]


def test_set_source_with_an_unchanged_catalog_keeps_the_module(namespace: ToolsNamespace) -> None:
    first = namespace.set_source("my-server", [ECHO])
    assert namespace.set_source("my-server", [ECHO]) is first


def test_remove_source_drops_attribute_and_import(namespace: ToolsNamespace) -> None:
    namespace.set_source("my-server", [ECHO])
    namespace.remove_source("my-server")
    namespace.remove_source("never-added")
    assert namespace.sources() == []
    assert "tools.my_server" not in sys.modules
    with pytest.raises(ImportError):
        import tools.my_server  # type: ignore[import-not-found,unused-ignore]  # noqa: F401


def test_missing_source_error_lists_sources_and_suggests_a_close_match(
    namespace: ToolsNamespace,
) -> None:
    namespace.set_source("filesystem", [tool("read", source="filesystem")])
    with pytest.raises(AttributeError) as info:
        _ = namespace.filesytem
    message = str(info.value)
    assert "no tool source 'filesytem'" in message
    assert "filesystem (1 tool)" in message
    assert "did you mean tools.filesystem?" in message


def test_missing_source_error_on_an_empty_namespace_says_none_connected(
    namespace: ToolsNamespace,
) -> None:
    with pytest.raises(AttributeError, match="no server has connected yet"):
        _ = namespace.github


def test_dir_offers_sources_and_methods_for_completion(namespace: ToolsNamespace) -> None:
    namespace.set_source("my-server", [ECHO])
    names = dir(namespace)
    assert "my_server" in names
    assert "set_source" in names
    assert not [name for name in names if name.startswith("_")]


def test_sources_and_python_names_map_back_to_originals(
    namespace: ToolsNamespace, demo_specs: list[ToolSpec]
) -> None:
    namespace.set_source("demo-server", demo_specs)
    namespace.set_source("my-server", [ECHO])
    assert namespace.sources() == ["demo-server", "my-server"]
    assert namespace.python_name("demo-server", "get-weather") == "get_weather_2"
    assert namespace.python_source("my-server") == "my_server"
    assert namespace.python_source("not-loaded") == "not_loaded"
    assert namespace.module("my-server") is namespace.my_server
    with pytest.raises(ToolNotFound, match="has no tool 'nope'; its tools: echo"):
        namespace.python_name("my-server", "nope")
    with pytest.raises(ToolNotFound, match="no tool source 'other'"):
        namespace.module("other")


def test_colliding_source_names_get_distinct_modules(namespace: ToolsNamespace) -> None:
    namespace.set_source("my-server", [ECHO])
    namespace.set_source("my_server", [tool("other", source="my_server")])
    assert hasattr(namespace.my_server, "echo")
    assert hasattr(namespace.my_server_2, "other")
    assert sys.modules["tools.my_server_2"].__toolkernel_source__ == "my_server"


def test_source_named_like_a_namespace_method_does_not_shadow_it(
    namespace: ToolsNamespace,
) -> None:
    namespace.set_source("sources", [tool("x", source="sources")])
    assert callable(namespace.sources)
    assert namespace.sources() == ["sources"]
    assert hasattr(namespace.sources_, "x")


def test_repr_and_markdown_list_sources_with_tool_counts(
    namespace: ToolsNamespace, demo_specs: list[ToolSpec]
) -> None:
    namespace.set_source("demo-server", demo_specs)
    namespace.set_source("my-server", [ECHO])
    assert repr(namespace) == "<tools: demo_server (8 tools), my_server (1 tool)>"
    markdown = namespace._repr_markdown_()
    assert "| `tools.demo_server` | demo-server | 8 |" in markdown
    assert "| `tools.my_server` | my-server | 1 |" in markdown


def test_uninstall_removes_the_namespace_from_sys_modules(namespace: ToolsNamespace) -> None:
    namespace.set_source("my-server", [ECHO])
    namespace.uninstall()
    assert "tools" not in sys.modules
    assert "tools.my_server" not in sys.modules
    namespace.install()
    assert sys.modules["tools.my_server"] is namespace.my_server


def test_uninstalled_namespace_still_serves_attributes(namespace: ToolsNamespace) -> None:
    namespace.uninstall()
    namespace.set_source("my-server", [ECHO])
    assert "tools.my_server" not in sys.modules
    assert hasattr(namespace.my_server, "echo")
