"""The bridge's MCP tools against a real Toolkernel kernel, through an in-memory client."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, types

from tk_support import LoopThread, echo_env, modules_loaded_by
from toolkernel.bridge import KernelSession, ReplyLimits, build_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any]]:
    base = tmp_path_factory.mktemp("bridge")
    loop = LoopThread()
    session = KernelSession(cwd=base, env=echo_env(base))
    loop.run(session.start())
    # With the lifecycle tools, which several tests here call as MCP tools.
    server = build_server(
        session, limits=ReplyLimits(output_chars=2_000, image_bytes=400), lifecycle_tools=True
    )
    loop.run(_call(server, "execute_code", {"code": "await wait_for_servers(30)"}))
    yield loop, server
    loop.run(session.shutdown())
    loop.close()


async def _call(server: Any, tool: str, args: dict[str, Any], **kwargs: Any) -> Any:
    async with Client(server) as client:
        return await client.call_tool(tool, args, **kwargs)


def call(bridge: tuple[LoopThread, Any], tool: str, args: dict[str, Any], **kw: Any) -> Any:
    loop, server = bridge
    return loop.run(_call(server, tool, args, **kw))


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def test_stdout_and_the_last_expression_come_back_as_text(bridge: Any) -> None:
    result = call(bridge, "execute_code", {"code": "print('hello')\n6 * 7"})
    assert not result.is_error
    assert text_of(result) == "hello\n42"


def test_state_persists_between_calls(bridge: Any) -> None:
    call(bridge, "execute_code", {"code": "kept = 'from before'"})
    assert text_of(call(bridge, "execute_code", {"code": "kept"})) == "'from before'"


def test_tools_are_called_from_code(bridge: Any) -> None:
    result = call(bridge, "execute_code", {"code": "await tools.echo.add(a=2, b=3)"})
    assert text_of(result) == "5"


def test_an_exception_is_an_error_with_a_trimmed_plain_traceback(bridge: Any) -> None:
    result = call(bridge, "execute_code", {"code": "def f():\n    raise ValueError('bad')\nf()"})
    assert result.is_error
    text = text_of(result)
    assert text.rstrip().endswith("ValueError: bad")
    assert "\x1b[" not in text


def test_a_tool_error_ends_in_the_servers_message(bridge: Any) -> None:
    result = call(bridge, "execute_code", {"code": "await tools.echo.fail(message='disk on fire')"})
    assert result.is_error
    assert text_of(result).rstrip().endswith("disk on fire")


def test_huge_output_is_cut_and_kept_in_a_kernel_variable(bridge: Any) -> None:
    result = call(bridge, "execute_code", {"code": "print('y' * 50_000)"})
    text = text_of(result)
    assert len(text) < 2_500
    match = re.search(r"kernel variable (_bridge_output\[\d+\])", text)
    assert match is not None, text
    variable = match.group(1)
    assert text_of(call(bridge, "execute_code", {"code": f"len({variable})"})) == "50000"


def test_images_become_image_content_and_oversized_ones_are_withheld(bridge: Any) -> None:
    small = call(bridge, "execute_code", {"code": "await tools.echo.image(size=2)"})
    images = [c for c in small.content if c.type == "image"]
    assert images
    assert base64.b64decode(images[0].data).startswith(b"\x89PNG")
    big = call(bridge, "execute_code", {"code": "await tools.echo.image(size=256)"})
    assert not [c for c in big.content if c.type == "image"]
    assert "was not sent" in text_of(big)
    match = re.search(r"_bridge_images\[\d+\]\[\d+\]", text_of(big))
    assert match is not None
    png = call(bridge, "execute_code", {"code": f"{match.group(0)}[:8]"})
    assert text_of(png) == repr(b"\x89PNG\r\n\x1a\n")


def test_binary_output_is_sent_as_text_not_raw_bytes(bridge: Any) -> None:
    result = call(bridge, "execute_code", {"code": "bytes(range(256))"})
    assert text_of(result).startswith("b'\\x00\\x01")


def test_a_timeout_interrupts_and_the_kernel_stays_usable(bridge: Any) -> None:
    call(bridge, "execute_code", {"code": "before_timeout = 1"})
    result = call(bridge, "execute_code", {"code": "import time\ntime.sleep(60)", "timeout_s": 1})
    assert result.is_error
    assert text_of(result).startswith("Timed out")
    assert text_of(call(bridge, "execute_code", {"code": "before_timeout"})) == "1"


def test_output_streams_as_log_messages_while_code_runs(bridge: Any) -> None:
    seen: list[str] = []

    async def on_log(params: Any) -> None:
        seen.append(str(params.data))

    code = "for i in range(3):\n    print(f'line {i}', flush=True)"
    relay_call(bridge, code, logging_callback=on_log)
    assert "".join(seen).count("line") == 3


def test_cancelling_the_request_interrupts_the_kernel(bridge: Any) -> None:
    loop, server = bridge

    async def scenario() -> str:
        started = anyio.Event()

        async def on_log(params: Any) -> None:
            if "started" in str(params.data):
                started.set()

        async with Client(server, mode="legacy", logging_callback=on_log) as client:
            async with anyio.create_task_group() as group:

                async def run() -> None:
                    code = "import time\nprint('started', flush=True)\ntime.sleep(60)"
                    await client.call_tool("execute_code", {"code": code})

                group.start_soon(run)
                with anyio.fail_after(30):
                    await started.wait()
                group.cancel_scope.cancel()
            after = await client.call_tool("execute_code", {"code": "'after cancel'"})
        return text_of(after)

    assert loop.run(scenario()) == "'after cancel'"


def test_two_clients_are_served_one_at_a_time_without_interleaving(bridge: Any) -> None:
    loop, server = bridge
    code = (
        "import time\nfor i in range(5):\n    print('{tag}', i, flush=True)\n    time.sleep(0.02)"
    )

    async def scenario() -> list[str]:
        async def one(tag: str) -> str:
            async with Client(server) as client:
                result = await client.call_tool("execute_code", {"code": code.format(tag=tag)})
                return text_of(result)

        return list(await asyncio.gather(one("A"), one("B")))

    first, second = loop.run(scenario())
    assert first == "\n".join(f"A {i}" for i in range(5))
    assert second == "\n".join(f"B {i}" for i in range(5))


def test_discovery_tools_answer_from_the_kernels_bindings(bridge: Any) -> None:
    listed = text_of(call(bridge, "search_tools", {"server": "echo", "limit": 100}))
    assert any(line.startswith("echo.get_weather(") for line in listed.splitlines())
    found = call(bridge, "search_tools", {"query": "weather for a city", "limit": 3})
    assert text_of(found).startswith("echo.get_weather(")
    details = text_of(call(bridge, "get_tool_details", {"name": "echo.add"}))
    assert details.startswith("await tools.echo.add(*, a: int, b: int) -> int")
    missing = call(bridge, "get_tool_details", {"name": "echo.ad"})
    assert missing.is_error
    assert "did you mean" in text_of(missing)


def test_a_dead_kernel_is_restarted_and_the_reply_says_state_was_lost(bridge: Any) -> None:
    call(bridge, "execute_code", {"code": "doomed = 1"})
    result = call(bridge, "execute_code", {"code": "import os\nos._exit(1)"})
    assert result.is_error
    assert "restarted" in text_of(result)
    after = call(bridge, "execute_code", {"code": "'doomed' in globals()"})
    assert text_of(after) == "False"
    call(bridge, "execute_code", {"code": "await wait_for_servers(30)"})
    assert text_of(call(bridge, "execute_code", {"code": "await tools.echo.add(a=1, b=1)"})) == "2"


def test_the_bridge_package_does_not_need_a_kernel_to_import() -> None:
    assert modules_loaded_by("toolkernel.bridge", {"ipykernel", "IPython"}) == []


def relay_call(bridge: Any, code: str, **callbacks: Any) -> Any:
    loop, server = bridge

    async def scenario() -> Any:
        # Handshake-era clients (Claude Desktop, Cursor, ...) can be asked mid-call.
        async with Client(server, mode="legacy", **callbacks) as client:
            return await client.call_tool("execute_code", {"code": code})

    return loop.run(scenario())


def test_input_in_code_becomes_an_elicitation_to_the_client(bridge: Any) -> None:
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"value": "Ada"})

    result = relay_call(
        bridge, "name = input('Your name?')\nprint('hi', name)", elicitation_callback=elicit
    )
    assert text_of(result) == "hi Ada"
    assert asked == ["Your name?"]


def test_input_without_an_eliciting_client_is_a_clear_error(bridge: Any) -> None:
    result = relay_call(bridge, "input('Your name?')")
    assert result.is_error
    assert "StdinNotImplementedError" in text_of(result)


def test_sample_in_code_becomes_a_sampling_request_to_the_client(bridge: Any) -> None:
    seen: list[Any] = []

    async def sampling(context: Any, params: Any) -> types.CreateMessageResult:
        seen.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="forty-two"),
            model="test-model",
        )

    code = "await sample('What is six times seven?', system='Be brief.', max_tokens=20)"
    result = relay_call(bridge, code, sampling_callback=sampling)
    assert text_of(result) == "'forty-two'"
    assert seen[0].messages[0].content.text == "What is six times seven?"
    assert seen[0].system_prompt == "Be brief."
    assert seen[0].max_tokens == 20


def test_a_client_on_the_2026_protocol_gets_a_clear_error_not_a_hang(bridge: Any) -> None:
    loop, server = bridge

    async def sampling(context: Any, params: Any) -> types.CreateMessageResult:
        msg = "no request may reach a client without a back-channel"
        raise AssertionError(msg)

    async def scenario() -> Any:
        async with Client(server, sampling_callback=sampling) as client:
            return await client.call_tool("execute_code", {"code": "await sample('hi')"})

    result = loop.run(scenario())
    assert result.is_error
    assert "needs an MCP client that supports sampling" in text_of(result)


def test_sample_without_a_sampling_client_says_what_is_needed(bridge: Any) -> None:
    result = relay_call(bridge, "await sample('hello')")
    assert result.is_error
    assert "needs an MCP client that supports sampling" in text_of(result)


def test_a_servers_sampling_request_is_relayed_to_the_bridge_client(bridge: Any) -> None:
    seen: list[str] = []

    async def sampling(context: Any, params: Any) -> types.CreateMessageResult:
        seen.append(params.messages[0].content.text)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="blue"), model="m"
        )

    code = "await tools.echo.ask_model(question='What colour is the sky?')"
    result = relay_call(bridge, code, sampling_callback=sampling)
    assert text_of(result) == "'model said: blue'"
    assert seen == ["What colour is the sky?"]


def test_a_servers_elicitation_is_relayed_to_the_bridge_client(bridge: Any) -> None:
    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        assert params.message == "Favourite number?"
        assert "answer" in params.requested_schema["properties"]
        return types.ElicitResult(action="accept", content={"answer": "7"})

    code = "await tools.echo.ask_user(question='Favourite number?')"
    result = relay_call(bridge, code, elicitation_callback=elicit)
    assert text_of(result) == "'accept: 7'"


def test_a_servers_sampling_without_a_sampling_client_fails_with_the_reason(bridge: Any) -> None:
    result = relay_call(bridge, "await tools.echo.ask_model(question='hi')")
    assert result.is_error
    assert "needs an MCP client that supports sampling" in text_of(result)


def test_create_tool_builds_a_tool_that_execute_code_can_call_at_once(bridge: Any) -> None:
    source = (Path(__file__).parents[1] / "wasm_sources" / "answer.wat").read_text("utf-8")
    created = call(
        bridge,
        "create_tool",
        {"name": "answer", "language": "wat", "source": source, "description": "The answer."},
    )
    assert not created.is_error, text_of(created)
    assert "created local.answer version 1" in text_of(created)
    result = call(bridge, "execute_code", {"code": "await tools.local.answer()"})
    assert text_of(result) == "{'answer': 42}"
    found = call(bridge, "search_tools", {"query": "the answer"})
    assert "local.answer(" in text_of(found)


def test_create_tool_with_a_compile_error_returns_the_compiler_message(bridge: Any) -> None:
    created = call(
        bridge, "create_tool", {"name": "bad", "language": "wat", "source": "(module (func"}
    )
    assert created.is_error
    assert "ToolBuildError" in text_of(created)


def test_the_memory_tool_shares_values_with_the_kernel(bridge: Any) -> None:
    stored = call(
        bridge, "memory", {"action": "set", "key": "city", "value": {"name": "Lyon"}, "ttl_s": 60}
    )
    assert not stored.is_error, text_of(stored)
    assert text_of(call(bridge, "execute_code", {"code": "memory.get('city')"})) == (
        "{'name': 'Lyon'}"
    )
    listed = call(bridge, "memory", {"action": "list", "key": "ci"})
    assert "city" in text_of(listed)
    bad = call(bridge, "memory", {"action": "explode"})
    assert bad.is_error


def test_a_script_tools_sampling_request_reaches_the_bridge_client(bridge: Any) -> None:
    source = (Path(__file__).parents[1] / "script_sources" / "probe.py").read_text("utf-8")
    created = call(
        bridge,
        "create_tool",
        {"name": "script_probe", "kind": "script", "language": "python", "source": source},
    )
    assert not created.is_error, text_of(created)

    async def sampling(context: Any, params: Any) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="pong"), model="m"
        )

    code = "(await tools.local.script_probe({'mode': 'sample', 'prompt': 'ping'}))['content']"
    result = relay_call(bridge, code, sampling_callback=sampling)
    assert text_of(result) == "{'type': 'text', 'text': 'pong'}"


def test_a_script_tools_log_messages_reach_the_bridge_client_as_mcp_logs(bridge: Any) -> None:
    source = (Path(__file__).parents[1] / "script_sources" / "probe.py").read_text("utf-8")
    call(
        bridge,
        "create_tool",
        {"name": "script_logger", "kind": "script", "language": "python", "source": source},
    )
    logged: list[tuple[str, str | None, str]] = []

    async def on_log(params: Any) -> None:
        logged.append((params.level, params.logger, str(params.data)))

    result = relay_call(
        bridge, "await tools.local.script_logger({'mode': 'chatty'})", logging_callback=on_log
    )
    assert text_of(result).endswith("'done'")
    assert ("info", "local.script_logger", "hello log") in logged
    assert "[local.script_logger info] hello log" in text_of(result)


def test_a_script_tools_context_says_what_the_bridge_client_can_do(bridge: Any) -> None:
    source = (Path(__file__).parents[1] / "script_sources" / "skillz_features.py").read_text()
    created = call(
        bridge,
        "create_tool",
        {"name": "script_context", "kind": "script", "language": "python", "source": source},
    )
    assert not created.is_error, text_of(created)

    async def sampling(context: Any, params: Any) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="pong"), model="m"
        )

    code = "(await tools.local.script_context({'test': 'context'}))['capabilities']"
    with_sampling = relay_call(bridge, code, sampling_callback=sampling)
    assert "'sampling': True, 'elicitation': False" in text_of(with_sampling)
    without = relay_call(bridge, code)
    assert "'sampling': False, 'elicitation': False" in text_of(without)
