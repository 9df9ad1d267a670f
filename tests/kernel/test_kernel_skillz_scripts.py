"""Script tools written for Skillz, in a real kernel with real bwrap sandboxes.

Skillz's protocol as its scripts use it: fixed ids, its notification names, its reply
shapes (`protocol="skillz"`), plain text answers, scripts that read on after answering;
and what every script is told: a truthful context.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tk_support import TESTS, python_server, start_kernel

pytestmark = pytest.mark.timeout(300)

SOURCES = TESTS / "script_sources"
ANY_ARGS = {"type": "object", "additionalProperties": True}
SECRET = "skillz-secret-0042"  # noqa: S105 - a test value


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_kernel(
        tmp_path_factory.mktemp("skillz-kernel"),
        {"echo": python_server("echo_server.py")},
        extra_env={"TOOLKERNEL_SECRET_API_TOKEN": SECRET},
        extra_arguments=["--ToolKernel.sandbox_backend=bwrap"],
    )
    driver.execute("await wait_for_servers(30)")
    create(driver, "skillz_features", "skillz_features.py", protocol="skillz")
    create(driver, "ours", "skillz_features.py", secrets=["API_TOKEN"])
    yield driver
    driver.shutdown()


def create(kernel: Any, name: str, source_file: str, **options: Any) -> Any:
    """Create a script tool from tests/script_sources/<source_file>; fail on error."""
    language = {"py": "python", "js": "node", "sh": "bash"}[source_file.rsplit(".", 1)[1]]
    source = (SOURCES / source_file).read_text(encoding="utf-8")
    return create_from(kernel, name, language, source, **options)


def create_from(kernel: Any, name: str, language: str, source: str, **options: Any) -> Any:
    options.setdefault("input_schema", ANY_ARGS)
    keywords = "".join(f", {key}={value!r}" for key, value in options.items())
    code = f"create_tool({name!r}, kind='script', language={language!r}, source={source!r}"
    return kernel.execute(code + keywords + ")", timeout=280)


def call(kernel: Any, name: str, **arguments: Any) -> Any:
    return kernel.value(f"await tools.local.{name}({arguments!r})")


def test_skillz_progress_with_current_and_total_and_notification_aliases_reach_the_cell(
    kernel: Any,
) -> None:
    out = kernel.execute("await tools.local.skillz_features({'test': 'notify'})")
    assert "streamed by skillz" in out.stdout
    shown = [d["data"]["text/plain"] for d in out.displays + out.updates]
    assert any("3/4" in text for text in shown), shown


def test_script_log_lines_are_labelled_script_in_the_kernel_log(kernel: Any) -> None:
    kernel.execute(
        "import logging\n"
        "class Keep(logging.Handler):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lines = []\n"
        "    def emit(self, record):\n"
        "        self.lines.append(record.getMessage())\n"
        "keep = Keep()\n"
        "get_ipython().kernel.log.addHandler(keep)\n"
        "await tools.local.skillz_features({'test': 'notify'})\n"
        "get_ipython().kernel.log.removeHandler(keep)"
    )
    lines = kernel.value("keep.lines")
    assert "[script local.skillz_features] skillz says hi" in lines
    assert not any(line.startswith("[mcp local.") for line in lines)


def test_a_fixed_id_script_answers_every_call_and_its_stdin_is_closed_after(
    kernel: Any,
) -> None:
    # A short timeout: were stdin left open, its `while read` loop would outlive it.
    create(kernel, "fixed_id", "skillz_fixed_id.sh", limits={"timeout_s": 20})
    call(kernel, "skillz_features", test="context")  # other calls first: ids move on
    for _ in range(3):
        assert call(kernel, "fixed_id") == {"saw_execute": 1}


def test_a_one_shot_scripts_answer_counts_whatever_its_id(kernel: Any) -> None:
    source = (
        "const rl = require('readline').createInterface({input: process.stdin});\n"
        "rl.once('line', () => {\n"
        "  console.log(JSON.stringify({jsonrpc: '2.0', result: 'any id', id: 99}));\n"
        "  rl.close();\n"
        "});\n"
    )
    create_from(kernel, "any_id", "node", source)
    assert call(kernel, "any_id") == "any id"
    assert call(kernel, "any_id") == "any id"


def test_a_persistent_worker_still_matches_ids_strictly(kernel: Any) -> None:
    source = (
        "import json, sys\n"
        "for line in sys.stdin:\n"
        "    request = json.loads(line)\n"
        "    stale = {'jsonrpc': '2.0', 'result': 'stale', 'id': -1}\n"
        "    print(json.dumps(stale), flush=True)\n"
        "    answer = {'jsonrpc': '2.0', 'result': {'id': request['id']}, 'id': request['id']}\n"
        "    print(json.dumps(answer), flush=True)\n"
    )
    create_from(kernel, "strict", "python", source, persistent=True)
    first = call(kernel, "strict")  # "stale" if a wrong id's answer were taken
    second = call(kernel, "strict")
    assert isinstance(first, dict), first
    assert second == {"id": first["id"] + 1}


def test_skillz_memory_replies_have_skillz_shapes(kernel: Any) -> None:
    replies = call(kernel, "skillz_features", test="memory")
    assert replies == {"set": {"success": True}, "get": {"value": "teal"}}


def test_our_memory_replies_keep_our_shapes(kernel: Any) -> None:
    replies = call(kernel, "ours", test="memory")
    assert replies == {
        "set": {"key": "colour", "stored": True},
        "get": {"key": "colour", "found": True, "value": "teal"},
    }


def test_skillz_tools_call_answers_output_and_errors_as_results(kernel: Any) -> None:
    added = call(
        kernel, "skillz_features", test="call", tool="echo.add", **{"with": {"a": 2, "b": 3}}
    )
    assert added == {"output": {"result": 5}}
    texts = call(
        kernel, "skillz_features", test="call", tool="echo.echo", **{"with": {"text": "hi"}}
    )
    assert texts == {"output": "hi"}
    missing = call(kernel, "skillz_features", test="call", tool="local.nope", **{"with": {}})
    assert set(missing) == {"error"}
    assert "local.nope" in missing["error"]


def test_our_tools_call_answers_the_mcp_result(kernel: Any) -> None:
    added = call(kernel, "ours", test="call", tool="echo.add", **{"with": {"a": 2, "b": 3}})
    assert added["isError"] is False
    assert added["structuredContent"] == {"result": 5}


def test_skillz_sampling_in_a_notebook_answers_an_error_result(kernel: Any) -> None:
    reply = call(kernel, "skillz_features", test="sample")
    assert "a notebook has no model to ask" in reply["error"]


def test_the_context_tells_the_truth_in_a_notebook(kernel: Any) -> None:
    code = "await tools.local.ours({'test': 'context'})"
    context = kernel.value(code)
    assert context["capabilities"] == {
        "sampling": False,
        "elicitation": False,  # this cell accepts no input
        "memory": True,
        "resources": True,
    }
    assert context["roots"] == [context["working_directory"]]
    assert context["environment"]["HOME"] == "/tmp"
    assert "API_TOKEN" not in context["environment"]
    assert SECRET not in repr(context)
    assert context["tool_name"] == "local.ours"
    out = kernel.execute(f"print(({code})['capabilities'])", answers=[])
    assert "'elicitation': True" in out.stdout
    assert "'sampling': False" in out.stdout


def test_a_skillz_script_printing_plain_text_returns_that_text(kernel: Any) -> None:
    create(kernel, "plain", "skillz_plain.sh", protocol="skillz")
    assert call(kernel, "plain") == "plain words from bash"


def test_plain_text_without_the_skillz_protocol_is_still_an_error(kernel: Any) -> None:
    create(kernel, "plain_ours", "skillz_plain.sh")
    out = kernel.execute("await tools.local.plain_ours({})", allow_error=True)
    assert out.error is not None
    assert "without answering" in out.error["evalue"]
    assert "plain words from bash" in out.error["evalue"]


def test_an_unknown_protocol_is_refused_with_the_choices(kernel: Any) -> None:
    out = kernel.execute(
        "create_tool('bad_protocol', kind='script', language='bash', "
        "source='echo', protocol='mcp')",
        allow_error=True,
    )
    assert out.error is not None
    assert "unknown script protocol 'mcp'" in out.error["evalue"]
    assert "skillz" in out.error["evalue"]
