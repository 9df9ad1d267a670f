"""A real Toolkernel kernel (jupyter_client) with real MCP servers: calls from cells."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tk_support import python_server, start_kernel

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("kernel")
    driver = start_kernel(
        base,
        {"echo": python_server("echo_server.py"), "my-server": python_server("echo_server.py")},
    )
    driver.execute("await wait_for_servers(30)")
    yield driver
    driver.shutdown()


def test_a_text_result_is_a_str_not_parsed_json(kernel: Any) -> None:
    assert kernel.value('await tools.echo.echo(text="123")') == "123"
    assert kernel.value('type(await tools.echo.echo(text="123")).__name__') == "str"


def test_structured_content_comes_back_as_python_data(kernel: Any) -> None:
    assert kernel.value("await tools.echo.add(a=2, b=3)") == 5
    out = kernel.value('await tools.echo.describe(item={"name": "x", "kind": "a"})')
    assert isinstance(out, dict)


def test_import_forms_and_a_hyphenated_server_name_both_work(kernel: Any) -> None:
    kernel.execute("from tools.echo import echo as e1\nfrom tools.my_server import echo as e2")
    assert kernel.value('[await e1(text="a"), await e2(text="b")]') == ["a", "b"]
    assert kernel.value('await tools.echo.get_weather(city="Oslo")') is not None


def test_the_single_dict_argument_form_is_accepted(kernel: Any) -> None:
    assert kernel.value('await tools.echo.echo({"text": "dict form"})') == "dict form"


def test_bindings_have_real_signatures_and_docstrings(kernel: Any) -> None:
    sig = kernel.value("str(__import__('inspect').signature(tools.echo.add))")
    assert sig == "(*, a: int, b: int) -> int"
    doc = kernel.value("tools.echo.tricky_docs.__doc__")
    assert '"""' in doc
    assert "日本語" in doc


def test_is_error_raises_tool_error_with_the_servers_message(kernel: Any) -> None:
    out = kernel.execute('await tools.echo.fail(message="disk on fire")', allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "ToolError"
    assert "disk on fire" in out.error["evalue"]
    assert kernel.value("1 + 1") == 2


def test_bad_arguments_fail_before_anything_is_sent(kernel: Any) -> None:
    out = kernel.execute('await tools.echo.add({"a": "one", "b": 2})', allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "ToolInputError"
    assert "nothing was sent" in out.error["evalue"]


def test_an_image_result_displays_as_png(kernel: Any) -> None:
    out = kernel.execute("await tools.echo.image(size=4)")
    png = base64.b64decode(out.result["image/png"]) if out.result else b""
    assert png.startswith(b"\x89PNG")


def test_mixed_content_is_a_list(kernel: Any) -> None:
    kinds = kernel.value("[type(x).__name__ for x in await tools.echo.mixed()]")
    assert kinds == ["str", "ToolImage"]


def test_a_mixed_result_displays_its_text_and_its_image(kernel: Any) -> None:
    out = kernel.execute("await tools.echo.mixed()")
    kinds = [sorted(d["data"]) for d in out.displays]
    assert any("image/png" in k for k in kinds)
    assert any(k == ["text/plain"] for k in kinds)


def test_gather_runs_calls_concurrently(kernel: Any) -> None:
    code = (
        "import asyncio\n"
        "calls = [tools.echo.rendezvous(parties=6, timeout=20) for _ in range(6)]\n"
        "r = await asyncio.gather(*calls)\n"
        "print(len(r))"
    )
    assert kernel.execute(code).stdout.strip() == "6"


def test_progress_shows_as_a_live_line_in_the_cell(kernel: Any) -> None:
    out = kernel.execute("await tools.echo.progress(steps=5)")
    shown = [d["data"]["text/plain"] for d in out.displays + out.updates]
    assert shown
    assert "echo.progress" in shown[0]
    assert shown[-1].split()[-1] == "5/5" or "5/5" in shown[-1]
    # The numbers ride along for the bridge (MCP progress), beside the bar.
    numbers = (out.displays + out.updates)[-1]["data"]["application/vnd.toolkernel.progress+json"]
    assert numbers == {"label": "echo.progress", "progress": 5, "total": 5, "message": "step 5/5"}


def test_an_unhandled_log_record_prints_as_usual_outside_the_bridge(kernel: Any) -> None:
    out = kernel.execute("import logging\nlogging.getLogger('nb').warning('plain warning')")
    assert out.stderr == "plain warning\n"
    assert not out.displays


def test_interrupting_a_cell_cancels_the_call_on_the_server(kernel: Any) -> None:
    msg_id = kernel.client.execute("await tools.echo.slow(seconds=60)", stop_on_error=False)
    # Wait for the server to start the call: its first progress report is displayed.
    while True:
        msg = kernel.client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "display_data":
            break
    kernel.manager.interrupt_kernel()
    reply = kernel.reply_to(msg_id, timeout=30)
    assert reply["content"]["status"] == "error"
    cancelled = kernel.value("await tools.echo.cancellations(wait_for=1, timeout=20)")
    assert any("slow 60" in line for line in cancelled)


def test_a_crash_mid_call_raises_and_the_next_call_reconnects(kernel: Any) -> None:
    out = kernel.execute("await tools.my_server.crash()", allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "ServerUnavailable"
    assert kernel.value('await tools.my_server.echo(text="again")') == "again"


def test_list_changed_refreshes_bindings_in_the_live_kernel(kernel: Any) -> None:
    kernel.execute('await tools.echo.add_tool(name="fresh_tool")')
    kernel.execute(
        "await get_ipython().kernel.toolbox.wait_for_tool('echo.fresh_tool', timeout=20)"
    )
    assert kernel.value('await tools.echo.fresh_tool(text="hi")').endswith("hi")


def test_discovery_functions_are_preloaded(kernel: Any) -> None:
    names = kernel.value("list_tool_names('echo')")
    assert "echo.get_weather" in names
    hits = kernel.value('search_tools("weather for a city", limit=3)')
    assert hits[0]["name"] == "echo.get_weather"
    assert kernel.value('search_tools("weather", detail="name")')[0] == "echo.get_weather"
    details = kernel.value("get_tool_details('echo.get-weather').to_json()")
    assert details["signature"].startswith("get_weather(*, city: str)")


def test_input_works_as_usual_in_a_notebook(kernel: Any) -> None:
    msg_id = kernel.client.execute("answer = input('Your name?')", allow_stdin=True)
    request = kernel.client.get_stdin_msg(timeout=30)
    assert request["content"]["prompt"] == "Your name?"
    kernel.client.input("Grace")
    assert kernel.reply_to(msg_id, 30)["content"]["status"] == "ok"
    assert kernel.value("answer") == "Grace"


def test_sample_in_a_notebook_says_it_needs_an_mcp_client(kernel: Any) -> None:
    out = kernel.execute("await sample('hello')", allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "BridgeError"
    assert "toolkernel mcp" in out.error["evalue"]


def test_a_servers_elicitation_becomes_input_prompts_in_a_notebook(kernel: Any) -> None:
    out = kernel.execute(
        "print(await tools.echo.ask_user(question='Favourite colour?'))", answers=["green"]
    )
    assert kernel.prompts == ["Your answer: "]
    assert out.stdout.splitlines() == ["Favourite colour?", "accept: green"]


def test_a_servers_sampling_in_a_notebook_fails_with_the_reason(kernel: Any) -> None:
    out = kernel.execute("await tools.echo.ask_model(question='hi')", allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "ToolError"
    assert "a notebook has no model to ask" in out.error["evalue"]


def test_tools_magic_shows_each_servers_status(kernel: Any) -> None:
    out = kernel.execute("%tools").stdout
    assert "✓ echo" in out
    assert "connected" in out


def test_preloaded_names_are_hidden_from_whos(kernel: Any) -> None:
    out = kernel.execute("%who").stdout
    assert "search_tools" not in out


def test_a_local_module_named_like_ours_cannot_shadow_them(tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text("raise ImportError('shadowed!')\n")
    (tmp_path / "jsonschema.py").write_text("raise ImportError('shadowed!')\n")
    driver = start_kernel(tmp_path, {"echo": python_server("echo_server.py")})
    try:
        driver.execute("await wait_for_servers(30)")
        assert driver.value('await tools.echo.echo(text="safe")') == "safe"
    finally:
        driver.shutdown()
