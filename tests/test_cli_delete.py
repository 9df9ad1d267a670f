"""`toolkernel tools delete|restore` against a real registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundles.bundle_support import WAT_V1, factory_at
from toolkernel import ToolSpec
from toolkernel.cli import main
from toolkernel.registry import ToolRegistry

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    with factory_at(tmp_path / "home") as factory:
        factory.create("local.noop", kind="wasm", language="wat", source=WAT_V1, note="one")
        factory.registry.save_catalog("weather", [ToolSpec("weather", "get-forecast", "Rain.")])
    return tmp_path / "home"


def run(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_delete_then_restore_from_the_command_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, home, "tools", "delete", "noop", "--note", "broken")
    assert code == 0
    assert "local.noop is deleted (version 2; its history is kept)" in out
    assert "toolkernel tools restore local.noop" in out
    code, out, _ = run(capsys, home, "tools", "list", "--json")
    assert "local.noop" not in json.loads(out)

    code, out, _ = run(capsys, home, "tools", "versions", "local.noop")
    assert out.splitlines()[-1].endswith("[deleted] broken")
    code, out, _ = run(capsys, home, "tools", "versions", "local.noop", "--json")
    assert [(v["version"], v["deleted"]) for v in json.loads(out)] == [(1, False), (2, True)]

    code, out, _ = run(capsys, home, "tools", "restore", "local.noop")
    assert code == 0
    assert "local.noop is restored as version 3 (the content of version 1)" in out
    code, out, _ = run(capsys, home, "tools", "list", "--json")
    assert "local.noop" in json.loads(out)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (("delete", "local.nope"), "no registry tool 'local.nope'"),
        (("delete", "weather.get-forecast"), "it is a tool of the MCP server 'weather'"),
        (("restore", "local.noop"), "'local.noop' is not deleted: its version 1 is current"),
        (("delete", "../x.y"), "invalid tool name"),
    ],
)
def test_a_refused_delete_or_restore_exits_1_and_writes_nothing(
    home: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], said: str
) -> None:
    code, out, err = run(capsys, home, "tools", *argv)
    assert (code, out) == (1, "")
    assert said in err
    with ToolRegistry(home) as registry:
        assert [v.version for v in registry.tool_versions("local.noop")] == [1]
