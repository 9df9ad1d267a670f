"""Pipelines in a real kernel: declarative steps over MCP and registry tools."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tk_support import python_server, start_kernel

pytestmark = pytest.mark.timeout(300)

SUM_SCHEMA = {
    "type": "object",
    "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}, "loud": {"type": "boolean"}},
    "required": ["x", "y"],
}


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_kernel(
        tmp_path_factory.mktemp("pipes"), {"echo": python_server("echo_server.py")}
    )
    driver.execute("await wait_for_servers(30)")
    driver.execute(
        "create_tool('sum_then_echo', kind='pipeline', input_schema=" + repr(SUM_SCHEMA) + ", "
        "description='Add two numbers, then echo a sentence about the sum.', steps=["
        "{'id': 'sum', 'tool': 'echo.add', 'args': {'a': '${input.x}', 'b': '${input.y}'}},"
        "{'id': 'say', 'tool': 'echo.echo', 'args': {'text': 'the sum is ${steps.sum.result}'}},"
        "{'id': 'shout', 'tool': 'echo.echo', 'args': {'text': 'LOUD'}, 'when': '${input.loud}'},"
        "], output={'sum': '${steps.sum.result}', 'sentence': '${steps.say.result}'})"
    )
    yield driver
    driver.shutdown()


def test_a_pipeline_is_a_typed_tool_that_keeps_types(kernel: Any) -> None:
    result = kernel.value("await tools.local.sum_then_echo(x=2, y=3)")
    assert result == {"sum": {"result": 5}, "sentence": 'the sum is {"result":5}'}
    signature = kernel.value("get_tool_details('local.sum_then_echo').signature")
    assert signature.startswith("sum_then_echo(*, x: int, y: int, loud: bool | None = None)")


def test_pipelines_call_pipelines_and_skip_steps_by_condition(kernel: Any) -> None:
    kernel.execute(
        "create_tool('outer', kind='pipeline', steps=["
        "{'id': 'inner', 'tool': 'local.sum_then_echo', 'args': {'x': 10, 'y': 5}},"
        "{'id': 'again', 'tool': 'echo.echo', 'args': {'text': '${steps.inner.result.sentence}'}}"
        "])"
    )
    assert kernel.value("await tools.local.outer()") == 'the sum is {"result":15}'


def test_a_failing_step_is_named(kernel: Any) -> None:
    kernel.execute(
        "create_tool('fails', kind='pipeline', steps=["
        "{'id': 'boom', 'tool': 'echo.fail', 'args': {'message': 'no luck'}}])"
    )
    out = kernel.execute("await tools.local.fails()", allow_error=True)
    assert out.error is not None
    assert "step 'boom' (echo.fail) failed: no luck" in out.error["evalue"]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("[{'id': 'a', 'tool': 'echo.ad', 'args': {}}]", "unknown tool 'echo.ad'; did you mean"),
        (
            "[{'id': 'a', 'tool': 'echo.echo', 'args': {'text': '${steps.b.result}'}}]",
            "which is not an earlier step",
        ),
    ],
)
def test_bad_pipelines_are_refused_at_creation(kernel: Any, steps: str, message: str) -> None:
    out = kernel.execute(
        f"create_tool('bad_pipe', kind='pipeline', steps={steps})", allow_error=True
    )
    assert out.error is not None
    assert out.error["ename"] == "RegistryError"
    assert message in out.error["evalue"]
    assert kernel.value("hasattr(tools.local, 'bad_pipe')") is False


def test_an_update_that_makes_a_cycle_is_refused(kernel: Any) -> None:
    echo = "[{'id': 'x', 'tool': 'echo.echo', 'args': {'text': 'a'}}]"
    kernel.execute(f"create_tool('loop_a', kind='pipeline', steps={echo})")
    kernel.execute(
        "create_tool('loop_b', kind='pipeline', steps=[{'id': 'x', 'tool': 'local.loop_a'}])"
    )
    out = kernel.execute(
        "create_tool('loop_a', kind='pipeline', steps=[{'id': 'x', 'tool': 'local.loop_b'}])",
        allow_error=True,
    )
    assert out.error is not None
    assert "local.loop_a -> local.loop_b -> local.loop_a" in out.error["evalue"]
    assert kernel.value("len(tool_versions('local.loop_a'))") == 1


def test_a_step_that_continues_on_error_gives_null_and_its_error_to_prev_and_the_output(
    kernel: Any,
) -> None:
    kernel.execute(
        "create_tool('resilient', kind='pipeline', input_schema=" + repr(SUM_SCHEMA) + ", steps=["
        "{'id': 'first', 'tool': 'echo.add', 'args': {'a': '$input.x', 'b': 1}},"
        "{'id': 'risky', 'tool': 'echo.fail', 'args': {'message': 'flaky'},"
        " 'continue_on_error': True},"
        "{'id': 'fallback', 'tool': 'echo.echo',"
        " 'args': {'text': 'fell back after ${steps.risky.error}'}, 'when': '$steps.risky.error'},"
        "{'id': 'skipped', 'tool': 'echo.echo', 'args': {'text': 'never'}, 'when': 'not $prev'},"
        "], output={'first': '${steps.first.result.result}', 'risky': '${steps.risky.result}',"
        " 'error': '${steps.risky.error}', 'prev': '$prev', 'skipped': '${steps.skipped.result}'})"
    )
    assert kernel.value("await tools.local.resilient(x=2, y=0)") == {
        "first": 3,
        "risky": None,
        "error": "flaky",
        "prev": "fell back after flaky",
        "skipped": None,
    }


def test_prev_in_the_first_step_is_refused_at_creation(kernel: Any) -> None:
    out = kernel.execute(
        "create_tool('no_prev', kind='pipeline', steps=["
        "{'id': 'a', 'tool': 'echo.echo', 'args': {'text': '$prev'}}])",
        allow_error=True,
    )
    assert out.error is not None
    assert "the first step has no previous step" in out.error["evalue"]
