"""check_pipeline: what a pipeline must be before it is stored, and how refusals read."""

from __future__ import annotations

from typing import Any

import pytest

from toolkernel.errors import RegistryError
from toolkernel.kinds.pipeline import check_pipeline

TOOLS = {"web.get", "llm.summarize", "text.upper"}


def check(
    steps: Any,
    *,
    name: str = "local.report",
    pipelines: dict[str, list[dict[str, Any]]] | None = None,
    output: Any = None,
) -> dict[str, Any]:
    stored = pipelines or {}
    known = TOOLS | set(stored)
    return check_pipeline(
        name,
        steps,
        output=output,
        tool_exists=known.__contains__,
        pipeline_steps=stored.get,
        known_tools=sorted(known),
    )


def refusal(steps: Any, **kwargs: Any) -> str:
    with pytest.raises(RegistryError) as info:
        check(steps, **kwargs)
    return str(info.value)


def step(step_id: str, tool: str = "web.get", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "tool": tool, **extra}


# A valid pipeline


def test_a_valid_pipeline_comes_back_normalized() -> None:
    steps = [
        step("fetch", args={"url": "${input.url}", "tries": (1, 2)}),
        step("summarize", "llm.summarize", args={"text": "${steps.fetch.result.body}"}),
        step("shout", "text.upper", when="${input.loud}"),
    ]
    output = {"summary": "${steps.summarize.result}", "loud": "${steps.shout.result}"}
    assert check(steps, output=output) == {
        "steps": [
            {"id": "fetch", "tool": "web.get", "args": {"url": "${input.url}", "tries": [1, 2]}},
            {
                "id": "summarize",
                "tool": "llm.summarize",
                "args": {"text": "${steps.fetch.result.body}"},
            },
            {"id": "shout", "tool": "text.upper", "args": {}, "when": "${input.loud}"},
        ],
        "output": output,
    }


def test_checking_does_not_change_the_callers_steps() -> None:
    steps = [step("a", args={"x": ["${input.x}"]})]
    check(steps)["steps"][0]["args"]["x"].append("changed")
    assert steps == [step("a", args={"x": ["${input.x}"]})]


# Shape


@pytest.mark.parametrize("steps", [[], None, "web.get", {"id": "a", "tool": "web.get"}])
def test_steps_that_are_not_a_non_empty_list_are_refused(steps: Any) -> None:
    assert "steps must be a non-empty list of dicts" in refusal(steps)


def test_a_step_that_is_not_a_dict_is_refused() -> None:
    assert refusal([step("a"), "web.get"]).startswith("pipeline local.report, step 2 must be")


def test_a_step_with_an_unknown_key_is_refused() -> None:
    message = refusal([step("a", argz={})])
    assert message.startswith("pipeline local.report, step 1 ('a'): unknown key 'argz'")
    assert "id, tool, args, when" in message


@pytest.mark.parametrize("step_id", ["1a", "a-b", "a.b", "", None, 3])
def test_a_step_id_that_is_not_an_identifier_is_refused(step_id: Any) -> None:
    message = refusal([{"id": step_id, "tool": "web.get"}])
    assert message.startswith("pipeline local.report, step 1: id must be an identifier")


def test_a_duplicate_step_id_is_refused() -> None:
    message = refusal([step("a"), step("b"), step("a")])
    assert message == (
        "pipeline local.report, step 3 ('a'): step 1 already has id 'a'; give each step its own id"
    )


@pytest.mark.parametrize("args", [["x"], "x", 3])
def test_args_that_are_not_a_dict_are_refused(args: Any) -> None:
    assert "step 1 ('a'): args must be a dict" in refusal([step("a", args=args)])


def test_args_that_are_not_json_are_refused() -> None:
    assert "step 1 ('a'): templates must be JSON" in refusal([step("a", args={"x": object()})])


# Tools


def test_an_unknown_tool_is_refused_with_the_closest_name() -> None:
    message = refusal([step("fetch"), step("summarize", "llm.summarise")])
    assert message == (
        "pipeline local.report, step 2 ('summarize'): unknown tool 'llm.summarise'; "
        "did you mean 'llm.summarize'?"
    )


def test_an_unknown_tool_with_no_close_name_says_where_to_look() -> None:
    assert "list_tool_names()" in refusal([step("a", "zzz.qqq")])


@pytest.mark.parametrize("tool", [None, "", 3])
def test_a_step_without_a_tool_name_is_refused(tool: Any) -> None:
    assert "step 1 ('a'): tool must be a qualified tool name" in refusal(
        [{"id": "a", "tool": tool}]
    )


# References


def test_a_reference_to_a_later_step_is_refused() -> None:
    message = refusal([step("a"), step("x", args={"v": "${steps.y.result}"}), step("y")])
    assert "step 2 ('x') refers to steps.y, which is not an earlier step" in message
    assert "the results of: a" in message


def test_a_reference_to_an_unknown_step_is_refused() -> None:
    message = refusal([step("a", args={"v": "${steps.nope.result.x}"})])
    assert "step 1 ('a') refers to steps.nope, which is not an earlier step" in message
    assert "none, as it is the first step" in message


def test_a_step_cannot_refer_to_its_own_result() -> None:
    assert "refers to steps.a, which is not" in refusal(
        [step("a", args={"v": "${steps.a.result}"})]
    )


def test_a_reference_in_when_must_be_to_an_earlier_step_too() -> None:
    message = refusal([step("a", when="${steps.b.result.ok}"), step("b")])
    assert "step 1 ('a') refers to steps.b, which is not an earlier step" in message


@pytest.mark.parametrize(
    "template",
    [
        "${input.x",
        "${inputs.x}",
        "${steps.a}",
        "${steps.a.results}",
        "${steps.a.result.}",
        "${input..x}",
        "${input.x[a]}",
        "${input.x[-1]}",
        "${}",
        "${env.HOME}",
        "text ${input.ok} then ${bad}",
    ],
)
def test_a_malformed_reference_is_refused(template: str) -> None:
    message = refusal([step("a"), step("b", args={"nested": [{"v": template}]})])
    assert message.startswith("pipeline local.report, step 2 ('b'): ")
    assert "reference" in message or "path" in message


@pytest.mark.parametrize(
    "when",
    [
        "${input.x} = 'a'",
        "${input.x} == fast",
        "'a' == ${input.x}",
        "${input.x} ==",
        "${input.x} == 'a' and ${input.y}",
        "not",
        "",
        "input.x",
        "${input.x} == ${input.y}",
        "${input.x} < 3",
    ],
)
def test_a_when_that_does_not_parse_is_refused(when: str) -> None:
    message = refusal([step("a", when=when)])
    assert message.startswith("pipeline local.report, step 1 ('a'): when ")
    assert "is not a condition" in message


@pytest.mark.parametrize("when", [True, 1, ["${input.x}"]])
def test_a_when_that_is_not_a_str_is_refused(when: Any) -> None:
    assert "step 1 ('a'): when must be a str" in refusal([step("a", when=when)])


@pytest.mark.parametrize(
    "when",
    [
        "${input.x}",
        "not ${input.x}",
        "${input.mode} == 'fast'",
        '${input.mode} != "fast"',
        "${input.n} == 3",
        "${input.n} != -2.5e3",
        "${steps.a.result.ok} == true",
        "not ${steps.a.result[0]} == null",
    ],
)
def test_a_when_that_parses_is_kept(when: str) -> None:
    assert check([step("a"), step("b", when=when)])["steps"][1]["when"] == when


def test_the_output_may_use_any_step_but_not_an_unknown_one() -> None:
    assert check([step("a"), step("b")], output="${steps.a.result}")["output"] == (
        "${steps.a.result}"
    )
    message = refusal([step("a")], output={"v": "${steps.z.result}"})
    assert message.startswith("pipeline local.report, output refers to steps.z")


# Cycles


def test_a_pipeline_that_calls_itself_is_refused_as_a_cycle() -> None:
    message = refusal([step("a"), step("again", "local.report")])
    assert "step 2 ('again') makes a cycle: local.report -> local.report" in message


def test_a_cycle_through_two_pipelines_is_refused_naming_the_path() -> None:
    pipelines = {"local.b": [step("x", "local.a")]}
    message = refusal([step("call_b", "local.b")], name="local.a", pipelines=pipelines)
    assert message == (
        "pipeline local.a, step 1 ('call_b') makes a cycle: local.a -> local.b -> local.a; "
        "a pipeline cannot call itself, directly or through other pipelines"
    )


def test_a_cycle_through_three_pipelines_is_refused_naming_the_path() -> None:
    pipelines = {
        "local.b": [step("fetch"), step("to_c", "local.c")],
        "local.c": [step("to_a", "local.a")],
    }
    message = refusal([step("first"), step("to_b", "local.b")], name="local.a", pipelines=pipelines)
    assert "step 2 ('to_b') makes a cycle: local.a -> local.b -> local.c -> local.a" in message


def test_an_existing_cycle_reachable_from_the_new_pipeline_is_refused() -> None:
    pipelines = {"local.b": [step("x", "local.c")], "local.c": [step("y", "local.b")]}
    message = refusal([step("to_b", "local.b")], name="local.a", pipelines=pipelines)
    assert "local.a -> local.b -> local.c -> local.b" in message


def test_pipelines_that_share_a_callee_without_a_cycle_are_accepted() -> None:
    pipelines = {"local.b": [step("x", "local.c")], "local.c": [step("y")]}
    steps = [step("one", "local.b"), step("two", "local.c"), step("three", "local.b")]
    assert len(check(steps, name="local.a", pipelines=pipelines)["steps"]) == 3


def test_updating_a_pipeline_checks_its_new_steps_not_its_stored_ones() -> None:
    pipelines = {"local.a": [step("old", "local.b")], "local.b": [step("x")]}
    assert check([step("new", "local.b")], name="local.a", pipelines=pipelines)["steps"]


# continue_on_error, prev, Skillz's `$input.x`


def test_continue_on_error_is_kept_only_when_true() -> None:
    steps = [step("a", continue_on_error=True), step("b", continue_on_error=False)]
    checked = check(steps, output="${steps.a.error}")["steps"]
    assert checked[0]["continue_on_error"] is True
    assert "continue_on_error" not in checked[1]


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_continue_on_error_that_is_not_a_bool_is_refused(value: Any) -> None:
    message = refusal([step("a", continue_on_error=value)])
    assert message.startswith("pipeline local.report, step 1 ('a'): continue_on_error must be")


@pytest.mark.parametrize("template", ["${prev}", "$prev.x", "text ${prev.a[0]}"])
def test_prev_in_the_first_step_is_refused(template: str) -> None:
    message = refusal([step("a", args={"v": template})])
    assert "the first step has no previous step" in message


def test_prev_in_a_first_steps_when_is_refused() -> None:
    assert "the first step has no previous step" in refusal([step("a", when="$prev")])


def test_prev_after_the_first_step_and_in_the_output_is_accepted() -> None:
    steps = [step("a"), step("b", args={"v": "$prev.x", "w": "${prev}"}, when="${prev.ok}")]
    assert check(steps, output="$prev")["output"] == "$prev"


def test_the_error_of_a_step_that_never_continues_is_refused() -> None:
    message = refusal([step("a"), step("b", args={"e": "${steps.a.error}"})])
    assert "step 'a' stops the pipeline when it fails" in message
    assert "continue_on_error: true" in message


def test_a_path_into_a_steps_error_is_refused() -> None:
    message = refusal(
        [step("a", continue_on_error=True), step("b", args={"e": "${steps.a.error.x}"})]
    )
    assert "has no path" in message


@pytest.mark.parametrize("template", ["$steps.later.result", "$steps.b.error"])
def test_a_skillz_reference_to_a_step_that_is_not_earlier_is_refused(template: str) -> None:
    message = refusal([step("a", args={"v": template}), step("b", continue_on_error=True)])
    assert "which is not an earlier step" in message


def test_skillz_input_references_are_accepted_and_stored_as_written() -> None:
    steps = [step("a", args={"url": "$input.url", "all": "$input"}, when="$input.go == 'y'")]
    assert check(steps)["steps"][0]["args"] == {"url": "$input.url", "all": "$input"}
