"""Hot reload: tool folders in a watched workspace become versions, and kernels follow."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tk_support import python_server, start_kernel

pytestmark = pytest.mark.timeout(300)

GREET = {
    "name": "local.greet",
    "kind": "pipeline",
    "description": "Greet someone through the echo server.",
    "input_schema": {
        "type": "object",
        "properties": {"who": {"type": "string"}},
        "required": ["who"],
    },
    "steps": [{"id": "say", "tool": "echo.echo", "args": {"text": "hello ${input.who}"}}],
}

SCRIPT = """import json, sys
request = json.loads(sys.stdin.readline())
n = request["params"]["arguments"]["n"]
print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": MARK}), flush=True)
"""

# Waits for the next change of the kernel's catalog (an event, not a poll), bounded. A
# subscriber first hears the catalog as it is, while `subscribe` runs: not a change.
ARM = (
    "import asyncio\n"
    "_loop = asyncio.get_running_loop()\n"
    "_changed = asyncio.Event()\n"
    "_armed = []\n"
    "_unsubscribe = get_ipython().kernel.toolbox.host.subscribe("
    "lambda source, specs: _armed and _loop.call_soon_threadsafe(_changed.set))\n"
    "_armed.append(True)"
)
AWAIT = "await asyncio.wait_for(_changed.wait(), 15); _unsubscribe()"


def write_tool(folder: Path, manifest: dict[str, Any], files: dict[str, str] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    (folder / "tool.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    base = tmp_path_factory.mktemp("reload")
    tools_dir = base / "tools"
    write_tool(tools_dir / "greet", GREET)
    driver = start_kernel(
        base,
        {"echo": python_server("echo_server.py")},
        extra_env={"TOOLKERNEL_TOOL_FOLDERS": str(tools_dir)},
    )
    driver.execute("await wait_for_servers(30)")
    assert driver.value("get_ipython().kernel.toolbox.watcher.wait_ready(30)") is True
    yield driver, tools_dir
    driver.shutdown()


def test_tool_folders_are_registered_when_the_kernel_starts(workspace: Any) -> None:
    kernel, _ = workspace
    assert kernel.value("await tools.local.greet(who='ada')") == "hello ada"
    notes = kernel.value("[v.note for v in tool_versions('local.greet')]")
    assert notes == ["hot reload: greet changed"]


def test_an_edit_becomes_a_new_version_and_the_binding_follows(workspace: Any) -> None:
    kernel, tools_dir = workspace
    kernel.execute(ARM)
    step = {"id": "say", "tool": "echo.echo", "args": {"text": "hi ${input.who}"}}
    changed = dict(GREET, steps=[step], description="Say hi to someone.")
    write_tool(tools_dir / "greet", changed)
    kernel.execute(AWAIT)  # the description changed, so the binding is rebuilt
    assert kernel.value("await tools.local.greet(who='ada')") == "hi ada"
    assert kernel.value("tools.local.greet.__doc__").startswith("Say hi to someone.")
    assert kernel.value("[v.version for v in tool_versions('local.greet')]")[-1] >= 2


def test_a_new_script_folder_appears_and_a_removed_one_is_deleted(workspace: Any) -> None:
    kernel, tools_dir = workspace
    kernel.execute(ARM)
    manifest = {
        "name": "local.marked",
        "kind": "script",
        "language": "python",
        "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
    }
    write_tool(tools_dir / "marked", manifest, {"main.py": SCRIPT.replace("MARK", "n * 2")})
    kernel.execute(AWAIT)
    assert kernel.value("await tools.local.marked(n=21)") == 42
    kernel.execute(ARM)
    shutil.rmtree(tools_dir / "marked")
    kernel.execute(AWAIT)
    assert "local.marked" not in kernel.value("list_tool_names()")
    versions = kernel.value("[(v.version, v.deleted) for v in tool_versions('local.marked')]")
    # A removed folder deletes the tool softly: its history stays, ending in the delete.
    assert versions == [[1, False], [2, True]]


def test_a_broken_edit_keeps_the_last_good_version_and_says_why(workspace: Any) -> None:
    kernel, tools_dir = workspace
    before = kernel.value("[v.version for v in tool_versions('local.greet')]")
    (tools_dir / "greet" / "tool.json").write_text("{not json")
    noticed = kernel.value(
        "await asyncio.to_thread(get_ipython().kernel.toolbox.watcher.wait_until,"
        " lambda: bool(get_ipython().kernel.toolbox.watcher.errors), 15)"
    )
    assert noticed is True
    out = kernel.execute("%tools")
    assert "✗ hot reload" in out.stdout
    assert "greet" in out.stdout
    assert kernel.value("[v.version for v in tool_versions('local.greet')]") == before
    assert kernel.value("await tools.local.greet(who='bo')") == "hi bo"
    write_tool(tools_dir / "greet", GREET)
