"""The bridge relays what the kernel's tools ask of its MCP client: every tool of
server-everything through a binding, URL elicitation, and refused input()."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client, types

from tk_support import LoopThread, npm_server, write_config
from toolkernel.bridge import KernelSession, build_server

pytestmark = [pytest.mark.npm, pytest.mark.timeout(240)]

# Arguments for every tool of server-everything, keyed by the tool's own name. A tool
# missing here fails the test: each one must be called.
ARGUMENTS: dict[str, dict[str, Any]] = {
    "echo": {"message": "hi"},
    "get-annotated-message": {"messageType": "success", "includeImage": True},
    "get-env": {},
    "get-resource-links": {"count": 2},
    "get-resource-reference": {},
    "get-structured-content": {"location": "Chicago"},
    "get-sum": {"a": 2, "b": 3},
    "get-tiny-image": {},
    "gzip-file-as-resource": {"name": "hi.txt.gz", "data": "data:text/plain;base64,aGVsbG8="},
    "toggle-simulated-logging": {},
    "toggle-subscriber-updates": {},
    "trigger-long-running-operation": {"duration": 0.2, "steps": 2},
    "trigger-elicitation-request": {},
    "trigger-url-elicitation": {"url": "https://example.com/sign-in"},
    "trigger-sampling-request": {"prompt": "Say hi", "maxTokens": 10},
    "simulate-research-query": {"topic": "tides"},
}

# What each result must show: its Python type and a piece of its value.
EXPECTED: dict[str, list[str]] = {
    "echo": ["str:Echo: hi"],
    "get-annotated-message": ["str:Operation completed successfully", "ToolImage:<ToolImage"],
    "get-env": ['"PATH"'],
    "get-resource-links": ["ToolResourceLink:", "server='everything'"],
    "get-resource-reference": ["ToolResource:ToolResource(uri='demo://resource/"],
    "get-structured-content": ["dict:{'temperature': "],
    "get-sum": ["str:The sum of 2 and 3 is 5."],
    "get-tiny-image": ["ToolImage:<ToolImage image/png"],
    "gzip-file-as-resource": ["ToolResourceLink:", "hi.txt.gz"],
    "toggle-simulated-logging": ["str:Started simulated"],
    "toggle-subscriber-updates": ["str:Started simulated resource updated"],
    "trigger-long-running-operation": ["str:Long running operation completed"],
    "trigger-elicitation-request": ["- Name: Ada"],
    "trigger-url-elicitation": ["User completed the URL elicitation", "example.com/sign-in"],
    "trigger-sampling-request": ["hello!"],
    "simulate-research-query": ["str:# Research Report: tides"],
}

CALL_EVERY_TOOL = """
import json
mod = tools.everything
found = {}
for attr in dir(mod):
    fn = getattr(mod, attr)
    if hasattr(fn, '__toolkernel_tool__'):
        found[fn.__toolkernel_tool__[1]] = fn
summary = {}
for name, args in json.loads(ARGS).items():
    value = await found.pop(name)(args)
    items = value if isinstance(value, list) else [value]
    summary[name] = [type(x).__name__ + ':' + (x if isinstance(x, str) else repr(x))[:300]
                     for x in items]
summary['(not called)'] = sorted(found)
print(json.dumps(summary))
"""


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any]]:
    base = tmp_path_factory.mktemp("bridge-protocol")
    config = write_config(
        base / "mcp.json", {"everything": npm_server("mcp-server-everything", "stdio")}
    )
    env = {
        **os.environ,
        "TOOLKERNEL_HOME": str(base / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(config),
    }
    loop = LoopThread(wait=120)
    session = KernelSession(cwd=base, env=env)
    loop.run(session.start())
    server = build_server(session)
    yield loop, server
    loop.run(session.shutdown())
    loop.close()


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


class Asked:
    """A client's answers to the kernel's relayed requests, and what it was asked."""

    def __init__(self, url_action: str = "accept", form_action: str = "accept") -> None:
        self.url_action, self.form_action = url_action, form_action
        self.elicitations: list[Any] = []
        self.samplings: list[Any] = []

    async def elicit(self, context: Any, params: Any) -> types.ElicitResult:
        self.elicitations.append(params)
        if getattr(params, "mode", None) == "url":
            return types.ElicitResult(action=self.url_action)  # type: ignore[arg-type]
        props = (params.requested_schema or {}).get("properties", {})
        if self.form_action != "accept":
            return types.ElicitResult(action=self.form_action)  # type: ignore[arg-type]
        content = {"value": "Ada"} if "value" in props else {"name": "Ada"}
        return types.ElicitResult(action="accept", content=content)

    async def sample(self, context: Any, params: Any) -> types.CreateMessageResult:
        self.samplings.append(params)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="hello!"), model="m"
        )


def execute(bridge: tuple[LoopThread, Any], code: str, asked: Asked) -> Any:
    loop, server = bridge

    async def scenario() -> Any:
        async with Client(
            server,
            mode="legacy",
            elicitation_callback=asked.elicit,
            sampling_callback=asked.sample,
        ) as client:
            return await client.call_tool("execute_code", {"code": code})

    return loop.run(scenario())


def test_every_tool_of_server_everything_gives_a_real_result(bridge: Any) -> None:
    asked = Asked()
    execute(bridge, "await wait_for_servers(60)", asked)
    code = f"ARGS = {json.dumps(json.dumps(ARGUMENTS))}\n{CALL_EVERY_TOOL}"
    result = execute(bridge, code, asked)
    assert not result.is_error, text_of(result)
    summary = json.loads(text_of(result).splitlines()[-1])
    assert summary.pop("(not called)") == [], "add the new tools to ARGUMENTS"
    assert summary.keys() == ARGUMENTS.keys()
    for name, pieces in EXPECTED.items():
        shown = "\n".join(summary[name])
        assert all(piece in shown for piece in pieces), (name, shown)
    # The tools that need the client reached it through the kernel's relay.
    modes = sorted(getattr(p, "mode", "form") or "form" for p in asked.elicitations)
    assert modes == ["form", "url"]
    [sampled] = [m.content.text for p in asked.samplings for m in p.messages]
    assert sampled.endswith("Say hi")


def test_a_url_elicitation_reaches_the_client_as_one(bridge: Any) -> None:
    asked = Asked()
    code = (
        "print(await tools.everything.trigger_url_elicitation("
        "{'url': 'https://example.com/pay', 'errorPath': True, 'elicitationId': 'b1'}))"
    )
    result = execute(bridge, code, asked)
    assert not result.is_error, text_of(result)
    assert "User completed the URL elicitation" in text_of(result)
    # the -32042 error's prerequisite link, then the retried call's own request
    assert [p.mode for p in asked.elicitations] == ["url", "url"]
    assert asked.elicitations[-1].url == "https://example.com/pay"


def test_a_declined_url_elicitation_error_keeps_the_url_in_the_reply(bridge: Any) -> None:
    asked = Asked(url_action="decline")
    code = (
        "await tools.everything.trigger_url_elicitation("
        "{'url': 'https://example.com/pay', 'errorPath': True, 'elicitationId': 'b2'})"
    )
    result = execute(bridge, code, asked)
    assert result.is_error
    text = text_of(result)
    assert "UrlElicitationRequired" in text
    assert asked.elicitations[0].url in text


@pytest.mark.parametrize(("action", "word"), [("decline", "declined"), ("cancel", "cancelled")])
def test_a_refused_input_raises_eof_error_naming_the_action(
    bridge: Any, action: str, word: str
) -> None:
    asked = Asked(form_action=action)
    code = "try:\n    input('Your name?')\nexcept EOFError as e:\n    print('EOF:', e)"
    result = execute(bridge, code, asked)
    assert not result.is_error, text_of(result)
    assert text_of(result).startswith(f"EOF: the user {word} the question")
    assert repr(action) in text_of(result)


def test_an_accepted_empty_input_is_still_an_empty_string(bridge: Any) -> None:
    asked = Asked()

    async def empty(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"value": ""})

    asked.elicit = empty  # type: ignore[method-assign]
    result = execute(bridge, "print(repr(input('Anything?')))", asked)
    assert text_of(result) == "''"
