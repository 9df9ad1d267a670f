"""What `execute_code` sends back: cut replies, progress, logs, images, kept text."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client, types

from tk_support import LoopThread, npm_server, python_server, write_config
from toolkernel.bridge import KernelSession, ReplyLimits, build_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any]]:
    base = tmp_path_factory.mktemp("reply")
    servers = {
        "echo": python_server("echo_server.py"),
        "everything": npm_server("mcp-server-everything", "stdio"),
    }
    config = write_config(base / "mcp.json", servers)
    env = {
        **os.environ,
        "TOOLKERNEL_HOME": str(base / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(config),
    }
    loop = LoopThread()
    session = KernelSession(cwd=base, env=env)
    loop.run(session.start())
    server = build_server(session, limits=ReplyLimits(output_chars=2_000, image_bytes=4_000))
    loop.run(session.request("session/ready", {"timeout_s": 60}, timeout=90))
    yield loop, server
    loop.run(session.shutdown())
    loop.close()


class Seen:
    """Everything a client received during one call."""

    def __init__(self) -> None:
        self.progress: list[tuple[float, float | None, str | None]] = []
        self.logs: list[tuple[str, str | None, str]] = []

    async def on_progress(self, value: float, total: float | None, message: str | None) -> None:
        self.progress.append((value, total, message))

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append((params.level, params.logger, str(params.data)))


def run(bridge: Any, code: str, seen: Seen | None = None) -> types.CallToolResult:
    loop, server = bridge
    seen = seen or Seen()

    async def scenario() -> types.CallToolResult:
        async with Client(server, mode="legacy", logging_callback=seen.on_log) as client:
            return await client.call_tool(
                "execute_code", {"code": code}, progress_callback=seen.on_progress
            )

    return loop.run(scenario())


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def kept_variable(text: str) -> str:
    match = re.search(r"_bridge_output\[\d+\]", text)
    assert match is not None, text
    return match.group(0)


# -- a cut reply ---------------------------------------------------------------------------


def test_a_cut_reply_keeps_head_tail_and_the_error(bridge: Any) -> None:
    code = "print('head' + 'A' * 30_000 + 'tail'); raise RuntimeError('the real error')"
    result = run(bridge, code)
    text = text_of(result)
    assert result.is_error
    assert len(text) < 2_500
    assert text.startswith("head")
    assert "tail\n" in text
    assert text.rstrip().endswith("RuntimeError: the real error")
    variable = kept_variable(text)
    kept = f"('A' * 30_000 + 'tail' in {variable}, 'real error' in {variable})"
    assert text_of(run(bridge, kept)) == "(True, True)"


def test_a_timeout_note_survives_a_cut(bridge: Any) -> None:
    code = "import time\nprint('x' * 10_000, flush=True)\ntime.sleep(60)"
    loop, server = bridge

    async def scenario() -> types.CallToolResult:
        async with Client(server) as client:
            return await client.call_tool("execute_code", {"code": code, "timeout_s": 2})

    text = text_of(loop.run(scenario()))
    assert text.startswith("Timed out")
    assert "KeyboardInterrupt" in text or "CancelledError" in text
    assert "characters cut here" in text


def test_output_containing_b64_is_kept_whole(bridge: Any) -> None:
    text = text_of(run(bridge, "print('x_b64y' + 'z' * 3_000)"))
    variable = kept_variable(text)
    assert text_of(run(bridge, f"{variable}[:7], len({variable})")) == "('x_b64yz', 3006)"


# -- progress and logs ---------------------------------------------------------------------


def test_a_tools_progress_in_code_streams_every_update_once_and_stays_out_of_the_reply(
    bridge: Any,
) -> None:
    seen = Seen()
    code = (
        "print('before', flush=True)\n"
        "done = await tools.everything.trigger_long_running_operation(duration=5, steps=5)\n"
        "print('after')\n"
        "done"
    )
    result = run(bridge, code, seen)
    text = text_of(result)
    assert not result.is_error, text
    assert text.startswith("before\nafter\n'Long running operation completed")
    assert "/5" not in text
    messages = [message or "" for _, _, message in seen.progress]
    for step in range(1, 6):
        assert any(f"{step}/5" in message for message in messages), messages
    values = [value for value, _, _ in seen.progress]
    assert values == sorted(set(values))  # each notification's value increases
    assert not [m for m in messages if "before" in m or "after" in m]
    assert [(level, text) for level, _, text in seen.logs] == [
        ("info", "before"),
        ("info", "after"),
    ]


def test_fast_progress_is_merged_and_its_last_state_arrives(bridge: Any) -> None:
    seen = Seen()
    result = run(bridge, "(await tools.echo.progress(steps=40))['steps']", seen)
    assert text_of(result) == "40"
    messages = [message for _, _, message in seen.progress]
    assert 1 <= len(messages) <= 40
    assert messages[-1] == "echo.progress 40/40: step 40/40"


def test_output_arrives_as_log_messages_at_its_level(bridge: Any) -> None:
    seen = Seen()
    code = (
        "import logging, sys\n"
        "logging.getLogger('app').error('no handler took it')\n"  # Python's last resort
        "logging.warning('basicConfig took it')\n"  # configures the root logger
        "print('to stderr', file=sys.stderr, flush=True)\n"
        "print('to stdout', flush=True)"
    )
    text = text_of(run(bridge, code, seen))
    assert seen.logs == [
        ("error", "app", "no handler took it"),
        ("warning", "stderr", "WARNING:root:basicConfig took it"),
        ("warning", "stderr", "to stderr"),
        ("info", "stdout", "to stdout"),
    ]
    assert "[app error] no handler took it" in text
    assert not seen.progress


@pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")
def test_set_level_filters_log_messages_and_logging_is_declared(bridge: Any) -> None:
    loop, server = bridge
    seen = Seen()
    code = (
        "import sys\nprint('chatter', flush=True)\n"
        "print('ERROR:app:bad', file=sys.stderr, flush=True)"
    )

    async def scenario() -> Any:
        async with Client(server, mode="legacy", logging_callback=seen.on_log) as client:
            await client.set_logging_level("error")
            await client.call_tool("execute_code", {"code": code})
            return client.server_capabilities

    capabilities = loop.run(scenario())
    assert capabilities.logging is not None
    assert seen.logs == [("error", "stderr", "ERROR:app:bad")]


# -- images --------------------------------------------------------------------------------


def test_a_figure_that_is_the_last_value_and_shown_at_the_end_is_sent_once(bridge: Any) -> None:
    # matplotlib's inline backend shows every figure of a cell again after it
    # (a post_execute hook); a figure that is also the last value arrived twice.
    code = (
        "from IPython.display import display\n"
        "figure = await tools.echo.image(size=2)\n"
        "def _show_again():\n"
        "    get_ipython().events.unregister('post_execute', _show_again)\n"
        "    display(figure)\n"
        "get_ipython().events.register('post_execute', _show_again)\n"
        "figure"
    )
    result = run(bridge, code)
    assert [block.type for block in result.content] == ["image"]
