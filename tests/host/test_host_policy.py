"""The tool policy in `ToolHost.call`: allowlist, approvals through the relay, budgets, audit.

Real servers (echo, and guarded, whose tools carry MCP annotations) behind a real host;
the relays are the callables a kernel or the bridge would hand the host, answering as a
person or an MCP client would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_host import call, make_host, run, settle
from traitlets.config import Config, Configurable

from tk_support import python_server, write_config
from toolkernel._spec import KnownRelay, ToolSpec
from toolkernel.errors import ToolCallLimit, ToolDenied, ToolError
from toolkernel.factory import ToolFactory
from toolkernel.host import ToolHost, ToolPolicy
from toolkernel.host._policy import needs_approval
from toolkernel.registry import ToolRegistry
from toolkernel.session import Toolbox
from toolkernel.session._frontend import CallObservers

SERVERS = {"echo": python_server("echo_server.py"), "guarded": python_server("guarded_server.py")}


class Asker:
    """A relay that answers each approval request with what `answers` says for its tool.

    `answers` maps a qualified tool name to an elicitation result; a tool not in it is
    declined. Every question asked is kept, by tool.
    """

    def __init__(self, answers: dict[str, dict[str, Any]], party: str = "client") -> None:
        self.answers = answers
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self.relay = KnownRelay(self._ask, frozenset({"elicitation"}), party)

    async def _ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert method == "elicitation/create"
        tool = params["message"].split("Allow the tool ", 1)[1].split(" ", 1)[0]
        self.asked.append((tool, params))
        return self.answers.get(tool, {"action": "decline"})

    @property
    def tools_asked(self) -> list[str]:
        return [tool for tool, _ in self.asked]


ALLOW = {"action": "accept", "content": {"answer": "allow"}}
FOR_SESSION = {"action": "accept", "content": {"answer": "session"}}


def host_with(tmp_path: Path, **policy: Any) -> ToolHost:
    host = make_host(tmp_path, SERVERS, policy=ToolPolicy(**policy))
    settle(host)
    return host


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[list[ToolHost]]:
    """Hosts a test makes; each is stopped after it."""
    made: list[ToolHost] = []
    yield made
    for host in made:
        host.stop()


def test_a_host_without_a_policy_calls_destructive_tools_unasked(
    tmp_path: Path, hosts: list[ToolHost]
) -> None:
    hosts.append(make_host(tmp_path, SERVERS))
    settle(hosts[0])
    result = call(hosts[0], "guarded.delete_note", {"name": "a"})
    assert result.content == [{"type": "text", "text": "deleted a"}]
    assert result.approval is None


def test_the_allowlist_refuses_other_tools_and_says_how_to_allow_them(
    tmp_path: Path, hosts: list[ToolHost]
) -> None:
    hosts.append(host := host_with(tmp_path, allow=["echo.echo", "guarded.read_*"]))
    assert call(host, "echo.echo", {"text": "hi"}).content[0]["text"] == "hi"
    assert call(host, "guarded.read_note", {"name": "n"}).content[0]["text"] == "note n"
    with pytest.raises(ToolDenied) as denied:
        call(host, "echo.add", {"a": 1, "b": 2})
    assert denied.value.tool == "echo.add"
    assert denied.value.by == "policy"
    assert "'echo.*'" in str(denied.value)
    assert "c.ToolPolicy.allow" in str(denied.value)


def test_a_configured_tool_is_asked_about_and_the_answer_decides(
    tmp_path: Path, hosts: list[ToolHost]
) -> None:
    hosts.append(host := host_with(tmp_path, approve=["echo.echo", "echo.add"]))
    asker = Asker({"echo.echo": ALLOW})  # echo.add is declined
    result = call(host, "echo.echo", {"text": "go"}, relay=asker.relay)
    assert result.content == [{"type": "text", "text": "go"}]
    assert result.approval == "allowed:client"
    with pytest.raises(ToolDenied) as denied:
        call(host, "echo.add", {"a": 1, "b": 2}, relay=asker.relay)
    assert (denied.value.tool, denied.value.by) == ("echo.add", "client")
    assert "the client denied it" in str(denied.value)
    assert asker.tools_asked == ["echo.echo", "echo.add"]
    question = asker.asked[1][1]
    assert '"a": 1, "b": 2' in question["message"]
    assert question["requestedSchema"]["properties"]["answer"]["enum"] == [
        "allow",
        "session",
        "deny",
    ]
    assert call(host, "echo.get-weather", {"city": "Oslo"}, relay=asker.relay).approval is None


def test_a_destructive_annotation_asks_and_a_denied_call_never_reaches_the_server(
    tmp_path: Path, hosts: list[ToolHost]
) -> None:
    hosts.append(host := host_with(tmp_path, approve_destructive=True))
    person = Asker({}, party="person")  # denies every request
    assert call(host, "guarded.read_note", {"name": "a"}, relay=person.relay).approval is None
    renamed = call(host, "guarded.rename_note", {"name": "a", "new_name": "b"}, relay=person.relay)
    assert renamed.approval is None
    with pytest.raises(ToolDenied) as denied:
        call(host, "guarded.delete_note", {"name": "a"}, relay=person.relay)
    assert denied.value.by == "person"
    assert "destructiveHint" in str(denied.value)
    assert person.tools_asked == ["guarded.delete_note"]
    assert call(host, "guarded.deleted").structured == {"result": []}


def test_allow_for_the_session_is_remembered_for_that_tool_only(
    tmp_path: Path, hosts: list[ToolHost]
) -> None:
    hosts.append(host := host_with(tmp_path, approve_destructive=True, approve=["echo.echo"]))
    person = Asker({"guarded.delete_note": FOR_SESSION, "echo.echo": ALLOW}, party="person")
    approvals = [
        call(host, "guarded.delete_note", {"name": n}, relay=person.relay).approval
        for n in ("a", "b", "c")
    ]
    assert approvals == ["allowed:person", "remembered:person", "remembered:person"]
    call(host, "echo.echo", {"text": "x"}, relay=person.relay)
    call(host, "echo.echo", {"text": "y"}, relay=person.relay)
    assert person.tools_asked == ["guarded.delete_note", "echo.echo", "echo.echo"]
    assert call(host, "guarded.deleted").structured == {"result": ["a", "b", "c"]}


def test_an_unanswered_request_times_out_as_a_denial(tmp_path: Path, hosts: list[ToolHost]) -> None:
    hosts.append(host := host_with(tmp_path, approve=["echo.echo"], approval_timeout=0.2))
    never = asyncio.Event()

    async def silent(method: str, params: dict[str, Any]) -> dict[str, Any]:
        await never.wait()  # nobody answers; the policy's timeout ends the wait
        return ALLOW

    with pytest.raises(ToolDenied) as denied:
        call(host, "echo.echo", {"text": "x"}, relay=silent)
    assert denied.value.by == "timeout"
    assert "c.ToolPolicy.approval_timeout" in str(denied.value)


def test_with_nobody_to_ask_the_call_is_denied_saying_how_to_allow_it(
    tmp_path: Path, hosts: list[ToolHost]
) -> None:
    hosts.append(host := host_with(tmp_path, approve=["echo.echo"]))
    cannot_elicit = KnownRelay(Asker({}).relay.ask, frozenset({"sampling"}))
    for relay in (None, cannot_elicit):
        with pytest.raises(ToolDenied) as denied:
            call(host, "echo.echo", {"text": "x"}, relay=relay)
        assert denied.value.by == "policy"
        assert "nobody can be asked" in str(denied.value)
        assert "c.ToolPolicy.approve" in str(denied.value)


def test_a_relay_that_fails_denies_the_call(tmp_path: Path, hosts: list[ToolHost]) -> None:
    hosts.append(host := host_with(tmp_path, approve=["echo.echo"]))

    async def broken(method: str, params: dict[str, Any]) -> dict[str, Any]:
        msg = "the client went away"
        raise RuntimeError(msg)

    with pytest.raises(ToolDenied, match="the client went away") as denied:
        call(host, "echo.echo", {"text": "x"}, relay=broken)
    assert denied.value.by == "client"


def test_the_session_budget_refuses_the_call_after_the_last_allowed(
    tmp_path: Path, hosts: list[ToolHost]
) -> None:
    hosts.append(host := host_with(tmp_path, max_calls_per_session=2))
    call(host, "echo.echo", {"text": "1"})
    call(host, "echo.echo", {"text": "2"}, execution="cell-1")
    with pytest.raises(ToolCallLimit) as over:
        call(host, "echo.echo", {"text": "3"}, execution="cell-2")
    assert over.value.limit == 2
    assert "c.ToolPolicy.max_calls_per_session=2" in str(over.value)


def test_the_execution_budget_counts_each_execution_apart(
    tmp_path: Path, hosts: list[ToolHost]
) -> None:
    hosts.append(host := host_with(tmp_path, max_calls_per_execution=2))
    for _ in range(2):
        call(host, "echo.echo", {"text": "a"}, execution="cell-1")
    with pytest.raises(ToolCallLimit, match=r"max_calls_per_execution=2"):
        call(host, "echo.echo", {"text": "a"}, execution="cell-1")
    assert call(host, "echo.echo", {"text": "b"}, execution="cell-2").content[0]["text"] == "b"
    assert call(host, "echo.echo", {"text": "c"}).content[0]["text"] == "c"  # not in a cell


def test_a_denied_approval_does_not_use_the_budget(tmp_path: Path, hosts: list[ToolHost]) -> None:
    hosts.append(host := host_with(tmp_path, approve=["echo.add"], max_calls_per_session=1))
    with pytest.raises(ToolDenied):
        call(host, "echo.add", {"a": 1, "b": 1}, relay=Asker({}).relay)
    assert call(host, "echo.echo", {"text": "ok"}).content[0]["text"] == "ok"


def test_a_pipelines_steps_are_asked_about_through_the_relay_of_the_call_that_runs_it(
    tmp_path: Path,
) -> None:
    registry = ToolRegistry(tmp_path / "home")
    host = make_host(
        tmp_path,
        SERVERS,
        registry,
        policy=ToolPolicy(approve_destructive=True, max_calls_per_execution=2),
    )
    try:
        settle(host)  # the steps are checked against the servers' catalogs
        factory = ToolFactory(registry, reserved=set(SERVERS), cache_dir=tmp_path / "cache")
        step = {"id": "rm", "tool": "guarded.delete_note", "args": {"name": "${input.name}"}}
        factory.create("local.cleanup", kind="pipeline", steps=[step])
        person = Asker({"guarded.delete_note": ALLOW}, party="person")
        result = call(host, "local.cleanup", {"name": "a"}, relay=person.relay, execution="c1")
        assert result.structured == {"result": "deleted a"}
        assert person.tools_asked == ["guarded.delete_note"]
        with pytest.raises(ToolCallLimit):  # the pipeline and its step used cell c1's two
            call(host, "echo.echo", {"text": "x"}, execution="c1")
        with pytest.raises(ToolError, match="nobody can be asked"):
            call(host, "local.cleanup", {"name": "b"})
        assert call(host, "guarded.deleted").structured == {"result": ["a"]}
    finally:
        host.stop()
        registry.close()


def test_the_toolbox_takes_the_policy_from_config_and_the_history_audits_each_decision(
    tmp_path: Path,
) -> None:
    config = Config()
    config.ToolPolicy.allow = ["echo.*", "guarded.*"]
    config.ToolPolicy.approve = ["echo.add"]
    config.ToolPolicy.approve_destructive = True
    toolbox = Toolbox(
        parent=Configurable(config=config),  # as a kernel passes itself
        home=tmp_path / "home",
        config_path=write_config(tmp_path / "mcp.json", {**SERVERS, "other": SERVERS["echo"]}),
    )
    toolbox.host.start()
    try:
        settle(toolbox.host)
        person = Asker({"guarded.delete_note": FOR_SESSION}, party="person")
        seen = CallObservers(relay=person.relay)

        async def calls() -> None:
            await toolbox.call_result("echo.echo", {"text": "plain"}, observers=seen)
            for name in ("a", "b"):
                await toolbox.call_result("guarded.delete_note", {"name": name}, observers=seen)
            for name, args in (("echo.add", {"a": 1, "b": 2}), ("other.echo", {"text": "x"})):
                with pytest.raises(ToolDenied):
                    await toolbox.call_result(name, args, observers=seen)

        run(calls())
        rows = toolbox.call_history(5)
    finally:
        toolbox.stop()
    audit = [(r["tool"], r["outcome"], r["approval"]) for r in reversed(rows)]
    assert audit == [
        ("echo.echo", "ok", None),
        ("guarded.delete_note", "ok", "allowed:person"),
        ("guarded.delete_note", "ok", "remembered:person"),
        ("echo.add", "refused", "denied:person"),
        ("other.echo", "refused", "denied:policy"),
    ]
    assert rows[1]["arguments_bytes"] == len('{"a":1,"b":2}')
    assert "c.ToolPolicy.allow" in rows[0]["error"]


@pytest.mark.parametrize(
    ("annotations", "asks"),
    [
        ({"destructiveHint": True}, True),
        ({"destructiveHint": True, "readOnlyHint": False}, True),
        ({"destructiveHint": True, "readOnlyHint": True}, False),  # read-only wins
        ({"destructiveHint": False}, False),
        ({}, False),  # unannotated tools are not asked about
        (None, False),
    ],
)
def test_only_tools_annotated_destructive_need_approval(
    annotations: dict[str, Any] | None, asks: bool
) -> None:
    spec = ToolSpec("srv", "t", annotations=annotations)
    assert (needs_approval("srv.t", spec, [], destructive=True) is not None) is asks
    assert needs_approval("srv.t", spec, [], destructive=False) is None


def test_every_policy_option_is_configurable_and_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    traits = ToolPolicy.class_traits(config=True)
    assert set(traits) == {
        "allow",
        "approve",
        "approve_destructive",
        "approval_timeout",
        "max_calls_per_execution",
        "max_calls_per_session",
    }
    for name, trait in traits.items():
        assert trait.help, name
        assert f"| `{name}` |" in readme, name
