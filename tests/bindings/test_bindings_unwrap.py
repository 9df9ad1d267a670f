"""SDK wrappers around non-object returns (`{"result": value}`) are unwrapped, exactly."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

from bindings_support import RecordingCaller, load_generated, obj, tool

from toolkernel.bindings._generate import wrapped_result_schema


def sdk_wrapped(name: str, inner: dict[str, Any]) -> dict[str, Any]:
    return {**obj({"result": inner}, ["result"]), "title": f"{name}Output"}


def test_the_python_sdk_wrapper_is_recognised_by_its_exact_shape() -> None:
    spec = tool("add", output_schema=sdk_wrapped("add", {"type": "integer"}))
    assert wrapped_result_schema(spec) == {"type": "integer"}
    fastmcp = {**obj({"result": {"type": "string"}}, ["result"]), "x-fastmcp-wrap-result": True}
    assert wrapped_result_schema(tool("t", output_schema=fastmcp)) == {"type": "string"}


def test_a_real_result_field_under_another_schema_is_left_alone() -> None:
    other_title = {**obj({"result": {"type": "integer"}}, ["result"]), "title": "Score"}
    two_fields = {
        **obj({"result": {"type": "integer"}, "note": {"type": "string"}}, ["result"]),
        "title": "addOutput",
    }
    optional = {**obj({"result": {"type": "integer"}}), "title": "addOutput"}
    for schema in (other_title, two_fields, optional):
        assert wrapped_result_schema(tool("add", output_schema=schema)) is None


def test_a_wrapped_return_is_annotated_and_returned_as_the_inner_value(
    caller: RecordingCaller, tmp_path: Path
) -> None:
    spec = tool(
        "add",
        input_schema=obj({"a": {"type": "integer"}}, ["a"]),
        output_schema=sdk_wrapped("add", {"type": "integer"}),
    )
    module = load_generated("demo", [spec], tmp_path)
    assert str(inspect.signature(module.add)) == "(*, a: int) -> int"
    caller.reply = {"result": 5}
    assert asyncio.run(module.add(a=2)) == 5
    assert asyncio.run(module.add({"a": 2})) == 5


def test_an_unwrapped_schema_returns_the_structured_dict_as_is(
    caller: RecordingCaller, tmp_path: Path
) -> None:
    schema = {**obj({"result": {"type": "integer"}}, ["result"]), "title": "Score"}
    module = load_generated("demo", [tool("score", output_schema=schema)], tmp_path)
    caller.reply = {"result": 5}
    assert asyncio.run(module.score()) == {"result": 5}
