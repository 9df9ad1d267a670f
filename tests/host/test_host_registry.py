"""Registry changes and the audit log served by `toolkernel host` (a real process).

A kernel that holds only the host's socket (as a sandboxed kernel does) creates,
versions, rolls back, deletes and restores tools through `RemoteToolHost`'s
`registry_changes()`; the host applies them to the real registry. Hostile requests sent
straight over the socket get the errors the in-process path raises and change nothing.
Every call the host serves is in the real registry's call history, written by the host.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from host.test_host_service import WAIT, WORDS, HostProcess, run, start_host
from toolkernel.errors import RegistryError, ToolDenied, ToolkernelError, ToolNotFound
from toolkernel.factory import ToolChanges, ToolDraft, ToolFactory
from toolkernel.host import RemoteToolHost, ToolHost
from toolkernel.host._wire import INVALID_PARAMS, RpcError
from toolkernel.registry import ToolRegistry

TEXT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
SHOUT = {"text": "${input.text}"}


@pytest.fixture
def host(tmp_path: Path) -> Iterator[HostProcess]:
    """A host on an empty home (its echo server from its own mcp.json)."""
    folder = Path(tempfile.mkdtemp(prefix="tkr-"))  # short: a socket path has ~107 bytes
    socket = folder / "run" / "host.sock"
    proc = start_host(tmp_path, tmp_path / "home", socket)
    yield HostProcess(proc, socket, tmp_path / "home")
    proc.terminate()
    proc.wait(WAIT)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def remote(host: HostProcess, tmp_path: Path) -> Iterator[RemoteToolHost]:
    """A client whose own registry is a scratch one, as a sandboxed kernel's is."""
    client = RemoteToolHost({}, registry=ToolRegistry(tmp_path / "inner"), socket_path=host.socket)
    client.start()
    run(client.statuses(settle=WAIT))
    yield client
    client.stop()


def words_draft(note: str = "", source: str = WORDS) -> ToolDraft:
    return ToolDraft.of(
        "words",
        kind="script",
        language="python",
        source=source,
        input_schema=TEXT,
        description="Count words.",
        note=note,
    )


def outer(host: HostProcess) -> ToolRegistry:
    return ToolRegistry(host.home)


def test_tools_made_through_the_host_land_in_the_real_registry_and_are_callable(
    host: HostProcess, remote: RemoteToolHost, tmp_path: Path
) -> None:
    changes = remote.registry_changes()
    lines: list[str] = []
    first = changes.create(words_draft(), on_line=lines.append)
    assert (first.name, first.version) == ("local.words", 1)
    pipeline = changes.create(
        ToolDraft.of(
            "count_echo",
            kind="pipeline",
            steps=[
                {"id": "e", "tool": "echo.echo", "args": SHOUT},
                {"id": "w", "tool": "local.words", "args": {"text": "${steps.e.result}"}},
            ],
            input_schema=TEXT,
        )
    )
    assert pipeline.name == "local.count_echo"
    # The catalog change reached the client before the answer did.
    assert {"words", "count_echo"} <= {s.name for s in run(remote.catalog())["local"]}
    assert run(remote.call("local.words", {"text": "a b c"})).structured == 3
    assert run(remote.call("local.count_echo", {"text": "x y"})).structured == 2

    second = changes.create(words_draft("v2", WORDS.replace("len(text.split())", "-1")))
    assert second.version == 2
    assert run(remote.call("local.words", {"text": "a b"})).structured == -1
    assert "-1" in changes.diff("words", 1)
    rolled = changes.rollback("words", 1, note="back")
    assert (rolled.version, rolled.rollback_of) == (3, 1)
    assert run(remote.call("local.words", {"text": "a b"})).structured == 2
    tombstone = changes.delete("local.count_echo")
    assert tombstone.deleted
    assert [v.version for v in changes.versions("words")] == [1, 2, 3]

    registry = outer(host)
    try:
        assert [v.version for v in registry.tool_versions("local.words")] == [1, 2, 3]
        assert registry.tool_version("local.words").rollback_of == 1
        assert registry.tool_version("local.count_echo").deleted
        assert registry.tool_versions("local.count_echo")[0].kind == "pipeline"
    finally:
        registry.close()
    inner = ToolRegistry(tmp_path / "inner")
    try:
        assert inner.registry_tools() == []  # the client's own registry saw nothing
    finally:
        inner.close()
    # A plain, in-process host on the real home calls what the remote one made.
    plain = ToolHost({}, registry=outer(host), logs_dir=tmp_path / "logs")
    plain.start()
    try:
        assert run(plain.call("local.words", {"text": "one two"})).structured == 2
        with pytest.raises(ToolNotFound):
            run(plain.call("local.count_echo", {"text": "x"}))
    finally:
        plain.stop()


def in_process_error(home: Path, method: str, *args: Any) -> ToolkernelError:
    """What a plain kernel's `ToolChanges` raises for the same request."""
    registry = ToolRegistry(home)
    factory = ToolFactory(registry, reserved={"echo"}, cache_dir=home / "cache")
    try:
        with pytest.raises(ToolkernelError) as raised:
            getattr(ToolChanges(factory, registry), method)(*args)
    finally:
        registry.close()
    return raised.value


HOSTILE_DRAFTS = [
    {"name": "../../etc/passwd", "kind": "script", "language": "python", "source": "x"},
    {"name": "local.a;drop", "kind": "script", "language": "python", "source": "x"},
    {"name": "echo.shadow", "kind": "script", "language": "python", "source": "x"},
    {"name": "skills.x", "kind": "script", "language": "python", "source": "x"},
    {"name": "ok", "kind": "script", "language": "python", "source": "x", "evil": 1},
    {"name": "ok", "kind": "script", "language": "python", "source": {"../../x.py": "1"}},
    {"name": "ok", "kind": "script", "language": "python", "source": "x", "input_schema": 5},
    {"name": "ok", "kind": "rootkit", "source": "x"},
    {"name": 7, "kind": "script", "language": "python", "source": "x"},
]


def test_hostile_drafts_sent_over_the_socket_get_the_in_process_errors(
    host: HostProcess, remote: RemoteToolHost, tmp_path: Path
) -> None:
    for draft in HOSTILE_DRAFTS:
        with pytest.raises(ToolkernelError) as raised:
            run(remote.registry_request("registry/create", {"draft": draft, "binary": []}))
        try:
            made = ToolDraft.from_arguments(draft)
        except RegistryError as exc:  # the draft itself is refused before the factory
            expected = exc
        else:
            expected = in_process_error(tmp_path / "plain", "create", made)
        assert (type(raised.value), str(raised.value)) == (type(expected), str(expected)), draft
    registry = outer(host)
    try:
        assert registry.registry_tools() == []
        assert registry.call_history(10) == []
    finally:
        registry.close()


def test_hostile_names_for_the_other_changes_get_the_in_process_errors(
    host: HostProcess, remote: RemoteToolHost, tmp_path: Path
) -> None:
    remote.registry_changes().create(words_draft())
    plain = tmp_path / "plain"
    cases = [
        ("registry/rollback", {"name": "../x", "version": 1}, ("rollback", "../x", 1)),
        ("registry/delete", {"name": "local.nope"}, ("delete", "local.nope")),
        ("registry/restore", {"name": "local.words"}, ("restore", "local.words")),
        ("registry/versions", {"name": "nope"}, ("versions", "nope")),
        ("registry/diff", {"name": "local.words", "a": 9}, ("diff", "local.words", 9)),
        ("registry/delete", {"name": ["x"]}, ("delete", ["x"])),
    ]
    seeded = ToolRegistry(plain)
    ToolFactory(seeded, reserved={"echo"}, cache_dir=plain / "cache").create(words_draft())
    seeded.close()
    for method, params, local in cases:
        with pytest.raises(ToolkernelError) as raised:
            run(remote.registry_request(method, params))
        expected = in_process_error(plain, *local)
        assert (type(raised.value), str(raised.value)) == (type(expected), str(expected)), method
    registry = outer(host)
    try:
        assert [v.version for v in registry.tool_versions("local.words")] == [1]
    finally:
        registry.close()


def test_parameters_of_the_wrong_type_are_refused_as_invalid(remote: RemoteToolHost) -> None:
    for method, params in [
        ("registry/rollback", {"name": "words", "version": "1"}),
        ("registry/history", {"limit": True}),
        ("registry/create", {"draft": "not an object"}),
        ("registry/create", {"draft": {"name": "w", "source": "!!"}, "binary": ["source"]}),
        ("registry/delete", {"name": "words", "note": 5}),
        ("registry/blob", {"sha": "../../etc/passwd"}),
        ("registry/tools", {"namespace": 3}),
    ]:
        with pytest.raises(RpcError) as raised:
            run(remote.registry_request(method, params))
        assert raised.value.code == INVALID_PARAMS, method


def test_a_tool_asking_for_the_network_host_paths_or_secrets_is_refused(
    host: HostProcess, remote: RemoteToolHost
) -> None:
    changes = remote.registry_changes()
    for extra in (
        {"policy": {"network": True}},
        {"policy": {"read_only": [str(Path.home())]}},
        {"secrets": ["API_KEY"]},
    ):
        draft = ToolDraft.of("leak", kind="script", language="python", source=WORDS, **extra)
        with pytest.raises(RegistryError, match="cannot create leak that reaches past"):
            changes.create(draft)
    registry = outer(host)
    try:
        assert registry.registry_tools() == []
    finally:
        registry.close()


def test_every_call_the_host_serves_is_in_the_real_call_history(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"allow": ["echo.add", "echo.nope"]}))
    folder = Path(tempfile.mkdtemp(prefix="tkr-"))
    socket = folder / "h.sock"
    home = tmp_path / "home"
    proc = start_host(tmp_path, home, socket, extra=("--policy", str(policy)))
    client = RemoteToolHost({}, registry=ToolRegistry(tmp_path / "inner"), socket_path=socket)
    client.start()
    try:
        assert run(client.call("echo.add", {"a": 2, "b": 3})).structured == {"result": 5}
        with pytest.raises(ToolDenied):
            run(client.call("echo.fail", {"message": "no"}))
        with pytest.raises(ToolNotFound):
            run(client.call("echo.nope", {}))
        rows = client.registry_changes().history(10)
    finally:
        client.stop()
        proc.terminate()
        proc.wait(WAIT)
        shutil.rmtree(folder, ignore_errors=True)
    assert [(r.tool, r.outcome) for r in rows] == [
        ("echo.nope", "failed"),
        ("echo.fail", "refused"),
        ("echo.add", "ok"),
    ]
    assert rows[1].approval == "denied:policy"
    assert rows[2].arguments_bytes == len('{"a":2,"b":3}')
    assert {r.session for r in rows} == {f"host {socket}"}
    assert {r.pid for r in rows} == {os.getpid()}  # the caller's pid, as the socket says
    registry = ToolRegistry(home)
    try:
        assert [r.to_json() for r in registry.call_history(10)] == [r.to_json() for r in rows]
    finally:
        registry.close()
    inner = ToolRegistry(tmp_path / "inner")
    try:
        assert inner.call_history(10) == []
    finally:
        inner.close()
