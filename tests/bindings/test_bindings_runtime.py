from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest
from bindings_support import RecordingCaller, load_generated

from toolkernel import BindingError, ToolError, ToolInputError, ToolResult, ToolSpec
from toolkernel.bindings import binding, call_tool, get_caller, set_caller, to_python


def test_keyword_call_sends_original_argument_names(
    caller: RecordingCaller, demo_specs: list[ToolSpec], tmp_path: Path
) -> None:
    module = load_generated("demo-server", demo_specs, tmp_path)
    asyncio.run(module.get_weather_2(city_name="Paris", units="metric"))
    assert caller.calls == [
        ("demo-server", "get-weather", {"city-name": "Paris", "units": "metric"})
    ]


def test_optional_arguments_left_as_none_are_not_sent(
    caller: RecordingCaller, demo_specs: list[ToolSpec], tmp_path: Path
) -> None:
    module = load_generated("demo-server", demo_specs, tmp_path)
    asyncio.run(module.read_file(path="/tmp/x"))
    asyncio.run(module.read_file(path="/tmp/x", head=None, encoding="utf-8"))
    assert [arguments for _, _, arguments in caller.calls] == [
        {"path": "/tmp/x"},
        {"path": "/tmp/x", "encoding": "utf-8"},
    ]


def test_required_argument_given_as_none_is_sent(caller: RecordingCaller, tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {"x": {"type": ["string", "null"]}},
        "required": ["x"],
    }
    module = load_generated(
        "demo", [ToolSpec(source="demo", name="t", input_schema=schema)], tmp_path
    )
    asyncio.run(module.t(x=None))
    assert caller.calls == [("demo", "t", {"x": None})]


def test_dict_call_sends_original_names_untouched(
    caller: RecordingCaller, demo_specs: list[ToolSpec], tmp_path: Path
) -> None:
    module = load_generated("demo-server", demo_specs, tmp_path)
    arguments = {"city-name": "Oslo", "units": None, "extra": [1, 2]}
    asyncio.run(module.get_weather_2(arguments))
    assert caller.calls == [("demo-server", "get-weather", arguments)]


def test_dict_call_returns_the_callers_value(
    caller: RecordingCaller, demo_specs: list[ToolSpec], tmp_path: Path
) -> None:
    caller.reply = {"content": "hello"}
    module = load_generated("demo-server", demo_specs, tmp_path)
    assert asyncio.run(module.read_file({"path": "/x"})) == {"content": "hello"}


def test_echo_of_digits_returns_a_string_not_an_int(
    caller: RecordingCaller, demo_specs: list[ToolSpec], tmp_path: Path
) -> None:
    def reply(source: str, name: str, arguments: dict[str, Any]) -> Any:
        text = arguments["text"]
        return to_python(
            ToolResult(tool=f"{source}.{name}", content=[{"type": "text", "text": text}])
        )

    caller.reply = reply
    module = load_generated("demo-server", demo_specs, tmp_path)
    assert asyncio.run(module.echo(text="123")) == "123"


def test_positional_non_dict_argument_raises_type_error_showing_the_call_forms(
    caller: RecordingCaller, demo_specs: list[ToolSpec], tmp_path: Path
) -> None:
    module = load_generated("demo-server", demo_specs, tmp_path)
    with pytest.raises(TypeError, match=r"read_file\(path=\.\.\., head=None, encoding=None\)"):
        asyncio.run(module.read_file("/tmp/x"))
    assert caller.calls == []


def test_dict_together_with_keywords_raises_tool_input_error(
    caller: RecordingCaller, demo_specs: list[ToolSpec], tmp_path: Path
) -> None:
    module = load_generated("demo-server", demo_specs, tmp_path)
    with pytest.raises(ToolInputError, match="not both") as info:
        asyncio.run(module.read_file({"path": "/x"}, head=3))
    assert info.value.tool == "demo-server.read_file"
    assert caller.calls == []


def test_unknown_or_missing_keyword_raises_tool_input_error_before_sending(
    caller: RecordingCaller, demo_specs: list[ToolSpec], tmp_path: Path
) -> None:
    module = load_generated("demo-server", demo_specs, tmp_path)
    with pytest.raises(ToolInputError, match="unexpected keyword argument 'paht'"):
        asyncio.run(module.read_file(paht="/x"))
    with pytest.raises(ToolInputError, match="missing 1 required keyword-only argument: 'path'"):
        asyncio.run(module.read_file())
    assert caller.calls == []


def test_tool_error_from_the_caller_propagates(
    caller: RecordingCaller, demo_specs: list[ToolSpec], tmp_path: Path
) -> None:
    def reply(source: str, name: str, arguments: dict[str, Any]) -> Any:
        result = ToolResult(
            tool=f"{source}.{name}",
            content=[{"type": "text", "text": "no such file"}],
            is_error=True,
        )
        return to_python(result)

    caller.reply = reply
    module = load_generated("demo-server", demo_specs, tmp_path)
    with pytest.raises(ToolError, match="no such file"):
        asyncio.run(module.read_file(path="/missing"))


def test_call_without_a_caller_says_how_to_install_one() -> None:
    set_caller(None)
    with pytest.raises(BindingError, match=r"no tool host is running.*set_caller") as info:
        asyncio.run(call_tool("fs", "read", {}))
    assert info.value.source == "fs"


def test_set_caller_installs_and_uninstalls() -> None:
    recorder = RecordingCaller()
    set_caller(recorder)
    try:
        assert get_caller() is recorder
    finally:
        set_caller(None)
    assert get_caller() is None


def test_binding_keeps_signature_doc_and_coroutine_nature() -> None:
    async def typed(*, path: str, head: int | None = None) -> str:
        """Read it."""
        return path

    wrapped = binding("fs", "read")(typed)
    assert inspect.iscoroutinefunction(wrapped)
    assert inspect.signature(wrapped) == inspect.signature(typed)
    assert list(inspect.signature(wrapped).parameters) == ["path", "head"]
    assert wrapped.__doc__ == "Read it."
    assert wrapped.__toolkernel_tool__ == ("fs", "read")  # type: ignore[attr-defined]


def test_keyword_call_runs_the_typed_function() -> None:
    async def typed(*, path: str) -> str:
        return path.upper()

    assert asyncio.run(binding("fs", "read")(typed)(path="x")) == "X"
