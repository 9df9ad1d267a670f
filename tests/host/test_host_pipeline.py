"""The pipeline runner: templates, `when`, results, and how a failing step is reported.

`call` here is a small async function over a dict of plain Python tools: the runner is
a pure unit whose only collaborator is that one callable.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkernel._spec import ToolResult
from toolkernel.errors import ToolError
from toolkernel.kinds.pipeline._run import run_pipeline
from toolkernel.kinds.pipeline._templates import TemplateError, UnresolvedReference, resolve

Tool = Callable[[dict[str, Any]], Any]
Call = Callable[[str, dict[str, Any]], Any]


def as_result(name: str, value: Any) -> ToolResult:
    if isinstance(value, ToolResult):
        return value
    if isinstance(value, str):
        return ToolResult(tool=name, content=[{"type": "text", "text": value}])
    return ToolResult(tool=name, structured=value)


def make_call(tools: dict[str, Tool], calls: list[tuple[str, dict[str, Any]]]) -> Call:
    async def call(name: str, args: dict[str, Any]) -> ToolResult:
        calls.append((name, args))
        return as_result(name, tools[name](args))

    return call


def run(
    steps: list[dict[str, Any]],
    inputs: dict[str, Any] | None = None,
    tools: dict[str, Tool] | None = None,
    calls: list[tuple[str, dict[str, Any]]] | None = None,
    **kwargs: Any,
) -> Any:
    call = make_call({"t.echo": lambda args: args, **(tools or {})}, [] if calls is None else calls)
    return asyncio.run(run_pipeline("local.p", steps, inputs or {}, call, **kwargs))


def echo(step_id: str, args: Any, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "tool": "t.echo", "args": args, **extra}


# Templates


def test_a_whole_value_reference_keeps_its_type() -> None:
    inputs = {"n": 3, "f": 1.5, "b": False, "none": None, "d": {"a": [1]}, "l": [1, "x"]}
    args = {key: f"${{input.{key}}}" for key in inputs}
    assert run([echo("e", args)], inputs) == inputs


def test_a_reference_inside_text_is_substituted_as_text() -> None:
    inputs = {"n": 3, "s": "hi", "d": {"a": [1, None]}, "b": True}
    args = {"text": "n=${input.n} s=${input.s} d=${input.d} b=${input.b}"}
    assert run([echo("e", args)], inputs) == {"text": 'n=3 s=hi d={"a":[1,null]} b=true'}


def test_templates_resolve_inside_nested_dicts_and_lists() -> None:
    args = {"outer": {"list": ["${input.n}", {"deep": "<${input.s}>"}, 7]}, "plain": "no refs"}
    result = run([echo("e", args)], {"n": 2, "s": "x"})
    assert result == {"outer": {"list": [2, {"deep": "<x>"}, 7]}, "plain": "no refs"}


def test_a_step_uses_a_part_of_an_earlier_steps_result() -> None:
    steps = [
        {"id": "fetch", "tool": "t.fetch", "args": {}},
        echo("use", {"name": "${steps.fetch.result.items[1].name}"}),
    ]
    tools = {"t.fetch": lambda _: {"items": [{"name": "a"}, {"name": "b"}]}}
    assert run(steps, tools=tools) == {"name": "b"}


def test_quoted_keys_reach_keys_that_are_not_identifiers() -> None:
    args = {"v": "${input['first name'][0][\"a b\"]}"}
    assert run([echo("e", args)], {"first name": [{"a b": 5}]}) == {"v": 5}


def test_a_resolved_value_is_never_resolved_again() -> None:
    assert resolve("${input.a}", {"input": {"a": "${input.b}", "b": 1}}) == "${input.b}"


def test_dict_keys_are_left_as_they_are() -> None:
    assert resolve({"${input.a}": "${input.a}"}, {"input": {"a": 1}}) == {"${input.a}": 1}


def test_a_malformed_reference_raises_a_template_error() -> None:
    with pytest.raises(TemplateError, match="never closes"):
        resolve("x ${input.a", {"input": {"a": 1}})
    with pytest.raises(TemplateError, match="is not a reference"):
        resolve("${inputs.a}", {"input": {"a": 1}})


# Results and output


def test_a_text_result_is_the_steps_result_as_a_str() -> None:
    assert run([{"id": "a", "tool": "t.text", "args": {}}], tools={"t.text": lambda _: "123"}) == (
        "123"
    )


def test_a_mixed_result_is_the_list_of_its_content_blocks() -> None:
    blocks = [{"type": "text", "text": "a"}, {"type": "image", "data": "AA==", "mimeType": "x"}]
    tools = {"t.mixed": lambda _: ToolResult(tool="t.mixed", content=blocks)}
    assert run([{"id": "a", "tool": "t.mixed", "args": {}}], tools=tools) == blocks


def test_an_output_template_shapes_the_pipelines_result() -> None:
    steps = [echo("a", {"x": "${input.x}"}), echo("b", {"y": 2})]
    output = {"first": "${steps.a.result.x}", "both": ["${steps.b.result.y}", "${input.x}"]}
    assert run(steps, {"x": "v"}, output=output) == {"first": "v", "both": [2, "v"]}


# when


@pytest.mark.parametrize(
    ("when", "inputs", "runs"),
    [
        ("${input.mode} == 'fast'", {"mode": "fast"}, True),
        ("${input.mode} == 'fast'", {"mode": "slow"}, False),
        ('${input.mode} != "fast"', {"mode": "slow"}, True),
        ("${input.flag}", {"flag": True}, True),
        ("${input.flag}", {"flag": []}, False),
        ("not ${input.flag}", {"flag": 0}, True),
        ("not not ${input.flag}", {"flag": "x"}, True),
        ("not ${input.n} == 3", {"n": 3}, False),
        ("${input.n} == 3", {"n": 3}, True),
        ("${input.n} == 2.5", {"n": 2.5}, True),
        ("${input.n} == -1", {"n": -1}, True),
        ("${input.b} == true", {"b": 1}, False),
        ("${input.b} == true", {"b": True}, True),
        ("${input.v} == null", {"v": None}, True),
        ("  ${ input.v }!=null  ", {"v": 0}, True),
    ],
)
def test_when_decides_whether_a_step_runs(when: str, inputs: dict[str, Any], runs: bool) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    run([echo("a", {}, when=when)], inputs, calls=calls)
    assert bool(calls) is runs


def test_a_skipped_step_leaves_the_last_run_step_as_the_output() -> None:
    steps = [echo("a", {"v": 1}), echo("b", {"v": 2}, when="${input.go}")]
    assert run(steps, {"go": False}) == {"v": 1}


def test_a_pipeline_whose_every_step_is_skipped_returns_none() -> None:
    assert run([echo("a", {}, when="${input.go}")], {"go": False}) is None


def test_referring_to_a_skipped_steps_result_names_that_step() -> None:
    steps = [echo("check", {}, when="${input.go}"), echo("use", {"v": "${steps.check.result}"})]
    with pytest.raises(ToolError, match=r"step 2 \('use'\).*step 'check' was skipped") as info:
        run(steps, {"go": False})
    assert isinstance(info.value.__cause__, UnresolvedReference)


def test_a_when_that_does_not_parse_at_run_time_names_the_step() -> None:
    with pytest.raises(ToolError, match=r"step 1 \('a'\).*is not a condition"):
        run([echo("a", {}, when="${input.mode} = 'fast'")], {"mode": "fast"})


# Failures


def test_a_step_whose_tool_reports_an_error_stops_the_pipeline_naming_it() -> None:
    failed = ToolResult(tool="web.get", content=[{"type": "text", "text": "disk on fire"}])
    failed.is_error = True
    calls: list[tuple[str, dict[str, Any]]] = []
    steps = [{"id": "fetch", "tool": "web.get", "args": {}}, echo("after", {})]
    with pytest.raises(ToolError) as info:
        run(steps, tools={"web.get": lambda _: failed}, calls=calls)
    assert "step 'fetch' (web.get) failed: disk on fire" in str(info.value)
    assert info.value.tool == "local.p"
    assert info.value.content == failed.content
    assert [name for name, _ in calls] == ["web.get"]


def test_an_exception_from_a_call_is_reraised_as_a_tool_error_naming_the_step() -> None:
    def boom(_: dict[str, Any]) -> Any:
        msg = "socket closed"
        raise ConnectionError(msg)

    with pytest.raises(ToolError, match=r"step 'fetch' \(web.get\) failed: socket closed") as info:
        run([{"id": "fetch", "tool": "web.get", "args": {}}], tools={"web.get": boom})
    assert isinstance(info.value.__cause__, ConnectionError)


def test_a_missing_index_names_the_step_and_the_reference() -> None:
    steps = [
        {"id": "fetch", "tool": "t.fetch", "args": {}},
        echo("use", {"v": "${steps.fetch.result.items[5]}"}),
    ]
    with pytest.raises(ToolError) as info:
        run(steps, tools={"t.fetch": lambda _: {"items": [1, 2]}})
    message = str(info.value)
    assert "step 2 ('use')" in message
    assert "${steps.fetch.result.items[5]}" in message
    assert "has 2 items" in message


def test_a_missing_key_names_the_step_the_reference_and_the_keys_there_are() -> None:
    with pytest.raises(ToolError, match=r"step 1 \('a'\).*\$\{input.nme\}.*no key 'nme'.*name"):
        run([echo("a", {"v": "${input.nme}"})], {"name": "x"})


def test_a_key_into_a_list_says_what_the_value_is() -> None:
    with pytest.raises(ToolError, match=r"input.l is a list, which has no key 'x'"):
        run([echo("a", {"v": "${input.l.x}"})], {"l": [1]})


def test_a_missing_reference_in_the_output_names_the_output() -> None:
    with pytest.raises(ToolError, match=r"pipeline local.p, output: \$\{input.zz\}"):
        run([echo("a", {})], {}, output="${input.zz}")


def test_cancelling_the_run_cancels_the_running_step_and_propagates() -> None:
    seen: list[str] = []

    async def scenario() -> None:
        started = asyncio.Event()

        async def call(name: str, args: dict[str, Any]) -> ToolResult:
            started.set()
            try:
                await asyncio.Event().wait()
            finally:
                seen.append("step cleaned up")
            return ToolResult(tool=name)

        task = asyncio.create_task(run_pipeline("local.p", [echo("a", {})], {}, call))
        async with asyncio.timeout(5):
            await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert seen == ["step cleaned up"]


def test_a_cancelled_error_raised_by_a_call_is_not_wrapped() -> None:
    async def call(name: str, args: dict[str, Any]) -> ToolResult:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run_pipeline("local.p", [echo("a", {})], {}, call))


def test_a_step_can_call_another_pipeline_through_call() -> None:
    inner = [echo("twice", {"text": "${input.word}${input.word}"})]

    async def call(name: str, args: dict[str, Any]) -> ToolResult:
        if name == "local.inner":
            value = await run_pipeline(name, inner, args, call)
            return ToolResult(tool=name, structured=value)
        return ToolResult(tool=name, structured=args)

    steps = [{"id": "a", "tool": "local.inner", "args": {"word": "${input.w}"}}]
    assert asyncio.run(run_pipeline("local.outer", steps, {"w": "ha"}, call)) == {"text": "haha"}


# Properties of reference resolution

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
keys = st.text(alphabet=st.characters(exclude_characters="'{}"), max_size=8) | st.from_regex(
    IDENT, fullmatch=True
)
plain_text = st.text(alphabet=st.characters(exclude_characters="$"))


def rendered(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@st.composite
def nested(draw: st.DrawFn) -> tuple[Any, str, Any]:
    """A leaf wrapped in random lists and dicts, with the path that leads back to it."""
    leaf = draw(json_values)
    value, path = leaf, ""
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            items = draw(st.lists(json_values, max_size=3))
            index = draw(st.integers(0, len(items)))
            items.insert(index, value)
            value, path = items, f"[{index}]{path}"
        else:
            key = draw(keys)
            siblings = draw(st.dictionaries(keys, json_values, max_size=3))
            value = {**siblings, key: value}
            path = (f".{key}" if IDENT.fullmatch(key) else f"['{key}']") + path
    return value, path, leaf


@given(json_values)
def test_a_lone_reference_returns_the_value_unchanged(value: Any) -> None:
    resolved = resolve("${input.k}", {"input": {"k": value}})
    assert repr(resolved) == repr(value)


@given(json_values, plain_text.filter(bool), plain_text)
def test_a_reference_inside_text_becomes_its_rendering(value: Any, before: str, after: str) -> None:
    template = f"{before}${{input.k}}{after}"
    expected = before + rendered(value) + after
    assert resolve(template, {"input": {"k": value}}) == expected


@given(nested())
def test_a_path_into_a_nested_value_finds_the_part_it_names(case: tuple[Any, str, Any]) -> None:
    value, path, leaf = case
    scope = {"input": {}, "steps": {"s": {"result": value}}}
    assert repr(resolve(f"${{steps.s.result{path}}}", scope)) == repr(leaf)


@given(st.lists(json_values, max_size=5), st.integers(0, 10))
def test_an_index_past_the_end_is_unresolved(items: list[Any], extra: int) -> None:
    with pytest.raises(UnresolvedReference, match="out of range"):
        resolve(f"${{input.l[{len(items) + extra}]}}", {"input": {"l": items}})


# continue_on_error, prev, Skillz's `$input.x`


def fail(args: dict[str, Any]) -> ToolResult:
    return ToolResult(tool="t.fail", content=[{"type": "text", "text": "boom"}], is_error=True)


def test_a_failing_step_that_continues_has_a_null_result_and_its_error_for_later_steps() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    steps = [
        {"id": "risky", "tool": "t.fail", "args": {}, "continue_on_error": True},
        echo("after", {"result": "${steps.risky.result}", "error": "${steps.risky.error}"}),
    ]
    result = run(steps, tools={"t.fail": fail}, calls=calls)
    assert result == {"result": None, "error": "boom"}
    assert [name for name, _ in calls] == ["t.fail", "t.echo"]


def test_the_error_of_a_step_that_continued_is_in_the_output_and_null_when_it_did_not_fail() -> (
    None
):
    steps = [
        {"id": "bad", "tool": "t.fail", "args": {}, "continue_on_error": True},
        echo("good", {"v": 1}, continue_on_error=True),
    ]
    output = {"bad": "${steps.bad.error}", "good": "${steps.good.error}", "v": "${prev.v}"}
    assert run(steps, tools={"t.fail": fail}, output=output) == {
        "bad": "boom",
        "good": None,
        "v": 1,
    }


def test_a_when_can_route_round_a_step_that_failed() -> None:
    steps = [
        {"id": "try", "tool": "t.fail", "args": {}, "continue_on_error": True},
        echo("fallback", {"used": "fallback"}, when="${steps.try.error}"),
    ]
    assert run(steps, tools={"t.fail": fail}) == {"used": "fallback"}


def test_an_exception_and_an_unresolved_argument_also_continue() -> None:
    def explode(args: dict[str, Any]) -> Any:
        message = "kaput"
        raise RuntimeError(message)

    steps = [
        {"id": "a", "tool": "t.explode", "args": {}, "continue_on_error": True},
        echo("b", {"x": "${input.missing.deep}"}, continue_on_error=True),
    ]
    output = {"a": "${steps.a.error}", "b": "${steps.b.error}"}
    result = run(steps, tools={"t.explode": explode}, output=output)
    assert result["a"] == "kaput"
    assert "has no key 'missing'" in result["b"]


def test_a_failing_step_without_continue_on_error_still_stops_the_pipeline() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    steps = [{"id": "bad", "tool": "t.fail", "args": {}}, echo("after", {})]
    with pytest.raises(ToolError, match=r"step 'bad' \(t.fail\) failed: boom"):
        run(steps, tools={"t.fail": fail}, calls=calls)
    assert [name for name, _ in calls] == ["t.fail"]


def test_a_path_into_the_result_of_a_failed_step_names_its_error() -> None:
    steps = [
        {"id": "bad", "tool": "t.fail", "args": {}, "continue_on_error": True},
        echo("use", {"x": "${steps.bad.result.items}"}),
    ]
    with pytest.raises(ToolError, match=r"step 'bad' failed and continued.*\(boom\)"):
        run(steps, tools={"t.fail": fail})


def test_prev_is_the_result_of_the_last_step_that_ran() -> None:
    steps = [
        echo("one", {"n": 1}),
        echo("skipped", {"n": 2}, when="${input.never}"),
        echo("three", {"from_prev": "${prev.n}", "whole": "$prev", "text": "n=${prev.n}"}),
    ]
    assert run(steps) == {"from_prev": 1, "whole": {"n": 1}, "text": "n=1"}


def test_prev_after_a_failed_step_that_continued_is_null() -> None:
    steps = [
        echo("one", {"n": 1}),
        {"id": "bad", "tool": "t.fail", "args": {}, "continue_on_error": True},
        echo("three", {"prev": "${prev}"}),
    ]
    assert run(steps, tools={"t.fail": fail}) == {"prev": None}


def test_skillz_dollar_references_are_whole_values_with_their_types() -> None:
    inputs = {"n": 3, "d": {"a": [1, 2]}}
    steps = [
        echo("first", {"n": "$input.n", "a1": "$input.d.a[1]", "all": "$input"}),
        echo("second", {"via_step": "$steps.first.result.n", "via_prev": "$prev.a1"}),
    ]
    assert run(steps, inputs) == {"via_step": 3, "via_prev": 2}


@pytest.mark.parametrize("text", ["$5.00", "$HOME/x", "$input.n and more", "$inputs", "$prev-x"])
def test_other_strings_with_a_dollar_stay_as_they_are(text: str) -> None:
    assert run([echo("e", {"t": text})], {"n": 1}) == {"t": text}


def test_a_skillz_reference_works_in_when() -> None:
    steps = [echo("a", {"x": 1}, when="$input.go == 'yes'"), echo("b", {"y": 2}, when="not $prev")]
    assert run(steps, {"go": "yes"}) == {"x": 1}


def test_the_output_gives_null_for_a_skipped_step_instead_of_raising() -> None:
    steps = [echo("a", {"x": 1}), echo("maybe", {"y": 2}, when="${input.flag}")]
    output = {
        "a": "${steps.a.result.x}",
        "maybe": "${steps.maybe.result.y}",
        "t": "y=${steps.maybe.result}",
    }
    assert run(steps, {}, output=output) == {"a": 1, "maybe": None, "t": "y=null"}


def test_a_missing_key_in_a_step_that_ran_is_still_an_error_in_the_output() -> None:
    with pytest.raises(ToolError, match=r"output.*has no key 'nope'"):
        run([echo("a", {"x": 1})], output="${steps.a.result.nope}")


def test_a_reference_to_a_skipped_step_in_args_is_still_an_error() -> None:
    steps = [echo("a", {"x": 1}, when="${input.flag}"), echo("b", {"y": "${prev}"})]
    with pytest.raises(ToolError, match=r"step 2 \('b'\).*no earlier step has run"):
        run(steps)
