"""A real `jupyter lab` for browser tests: a tmp home full of real tools, a token, a port.

The server's readiness is read from its own log line ("is running at"), not polled.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from toolkernel import ToolSpec
from toolkernel.factory import ToolFactory
from toolkernel.kernelspec import (
    DISPLAY_NAME,
    SANDBOXED_DISPLAY_NAME,
    SANDBOXED_KERNEL_NAME,
)
from toolkernel.registry import ToolRegistry

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "tests" / "artifacts" / "ui"
THIS_BUILD = REPO / "kernel" / "toolkernel" / "labextension"
"""This tree's labextension build (`npm run build` in labextension/)."""
TOKEN = "toolkernel-ui-tests"  # noqa: S105 - a throwaway token for a loopback test server
GREET_V1 = """import json, sys
request = json.loads(sys.stdin.readline())
who = request["params"]["arguments"].get("who") or "world"
print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": f"hello {who}"}))
"""
GREET_V2 = GREET_V1.replace('f"hello {who}"', 'f"hello, {who}!"')
WAT = '(module (memory (export "memory") 1) (func (export "_start")))'
SKILL_MD = "---\nname: weekly-review\ndescription: Review the week's notes by tag.\n---\n# Steps\n"
NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "metadata": {}, "source": "", "outputs": [], "execution_count": None}
    ],
    "metadata": {
        "kernelspec": {"display_name": "Toolkernel", "language": "python", "name": "toolkernel"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


FILESYSTEM_TOOLS = ("read_file", "list_directory")
"""A catalog cached for server `filesystem` (not in mcp.json, so never connected)."""
NOT_STARTED_SERVER = "notes"
"""A valid server in mcp.json: it stays "not started" until a kernel connects it."""


def _mcp_tool(source: str, name: str) -> ToolSpec:
    return ToolSpec(
        source=source,
        name=name,
        description=f"{name.replace('_', ' ').capitalize()} on the server's disk.",
        input_schema={"type": "object", "properties": {"path": {"type": "string"}}},
    )


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where to open it, and the home its kernels and panel share."""

    url: str
    home: Path
    root: Path

    def page_url(self, path: str = "lab") -> str:
        return f"{self.url}{path}?token={TOKEN}"


def fill_home(home: Path, extra_tools: int = 0) -> None:
    """Real tools through the factory: a script with two versions, a WAT tool, a
    pipeline, two skills, and `extra_tools` MCP catalog entries (for scale)."""
    registry = ToolRegistry(home)
    factory = ToolFactory(registry, reserved=(), cache_dir=home / "cache")
    schema = {"type": "object", "properties": {"who": {"type": "string"}}}
    greet = {"kind": "script", "language": "python", "input_schema": schema}
    factory.create("local.greet", source=GREET_V1, description="Say hello.", note="first", **greet)
    factory.create(
        "local.greet", source=GREET_V2, description="Say hello, warmly.", note="warmer", **greet
    )
    # Same tool name in two namespaces: the panel must tell them apart.
    factory.create(
        "shared.greet",
        source=GREET_V1,
        description="Say hello, from the team's shared namespace.",
        **greet,
    )
    factory.create(
        "local.noop",
        kind="wasm",
        language="wat",
        source=WAT,
        description="Do nothing, fast.",
        annotations={"readOnlyHint": True, "idempotentHint": True},
    )
    factory.create(
        "local.greet_twice",
        kind="pipeline",
        steps=[
            {"id": "one", "tool": "local.greet", "args": {"who": "one"}},
            {"id": "two", "tool": "local.greet", "args": {"who": "two"}},
        ],
        description="Greet two people.",
    )
    factory.create(
        "greet_all",
        kind="skill",
        language="python",
        source="async def greet_all(names: list[str]) -> list[str]:\n"
        "    '''Greet everyone.'''\n    return [await tools.local.greet(who=n) for n in names]\n",
    )
    factory.create(None, kind="skill", language="markdown", source={"SKILL.md": SKILL_MD})
    registry.save_catalog("filesystem", [_mcp_tool("filesystem", n) for n in FILESYSTEM_TOOLS])
    if extra_tools:
        per_source = 250
        for index in range(0, extra_tools, per_source):
            source = f"server{index // per_source:02d}"
            specs = [
                ToolSpec(
                    source=source,
                    name=f"tool_{n:04d}",
                    description=f"Tool {n} of {source}: fetch, parse and summarize record {n}.",
                    input_schema={
                        "type": "object",
                        "properties": {"id": {"type": "integer"}},
                        "required": ["id"],
                    },
                )
                for n in range(index, min(index + per_source, extra_tools))
            ]
            registry.save_catalog(source, specs)
    registry.close()


def notebook_for(kernel_name: str) -> dict[str, Any]:
    """`NOTEBOOK`, on the kernelspec `kernel_name` (its display name as JupyterLab shows it)."""
    shown = SANDBOXED_DISPLAY_NAME if kernel_name == SANDBOXED_KERNEL_NAME else DISPLAY_NAME
    spec = {"display_name": shown, "language": "python", "name": kernel_name}
    return {**NOTEBOOK, "metadata": {**NOTEBOOK["metadata"], "kernelspec": spec}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_lab(
    base: Path,
    *,
    extra_tools: int = 0,
    timeout: float = 90.0,
    servers: dict[str, Any] | None = None,
    kernel_config: str = "",
    labextension: Path | None = None,
    kernel_name: str = "toolkernel",
    extra_env: dict[str, str] | None = None,
) -> Iterator[Lab]:
    """Start `jupyter lab` on a fresh home under `base`; stop it afterwards.

    Args:
        base: A fresh folder for the home, the notebooks and Jupyter's config.
        extra_tools: MCP catalog entries to add (for scale).
        timeout: Seconds the server gets to start.
        servers: More mcp.json entries (real servers the kernels connect to).
        kernel_config: The kernels' `ipython_kernel_config.py` (`c.ToolPolicy...`).
        labextension: A build of @toolkernel/labextension to serve instead of the one
            installed in the environment (`THIS_BUILD`: this tree's).
        kernel_name: The kernelspec of the notebooks (`toolkernel-sandboxed` is installed
            under `base` and put on the lab's `JUPYTER_PATH`).
        extra_env: More environment for the lab and its kernels (`TOOLKERNEL_SANDBOX_POLICY`).
    """
    home, root = base / "home", base / "root"
    root.mkdir(parents=True, exist_ok=True)
    fill_home(home, extra_tools)
    (root / "tools-demo.ipynb").write_text(json.dumps(notebook_for(kernel_name)))
    config = base / "mcp.json"
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "broken": {"command": str(base / "no-such-server"), "args": []},
                    NOT_STARTED_SERVER: {"command": sys.executable, "args": ["-c", "pass"]},
                    **(servers or {}),
                }
            }
        )
    )
    # JupyterLab's question about news would cover the screenshots: switch it off.
    labconfig = base / "jupyter-config" / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    profile = base / "ipython" / "profile_default"  # IPython's config: the kernels'
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text(kernel_config)
    port = free_port()
    env = {
        **os.environ,
        "TOOLKERNEL_HOME": str(home),
        "TOOLKERNEL_MCP_CONFIG": str(config),
        "JUPYTER_CONFIG_DIR": str(base / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "IPYTHONDIR": str(base / "ipython"),
        **(extra_env or {}),
    }
    if kernel_name == SANDBOXED_KERNEL_NAME:
        # Imported here: the panel benchmarks load this module with only tests/ui on the path.
        from sandboxed_support import sandboxed_spec

        env["JUPYTER_PATH"] = str(sandboxed_spec(base / "prefix"))
    command = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--ServerApp.open_browser=False",
    ]
    if labextension is not None:
        # Found first, so it wins over the environment's copy of the same package.
        extensions = base / "labextensions" / "@toolkernel"
        extensions.mkdir(parents=True, exist_ok=True)
        (extensions / "labextension").symlink_to(labextension, target_is_directory=True)
        command.append(f"--LabApp.extra_labextensions_path={base / 'labextensions'}")
    if os.geteuid() == 0:
        command.append("--allow-root")
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for_line(process, "is running at", timeout)
        # Keep draining the server's log, or a full pipe would block the server.
        log = (base / "lab.log").open("w", encoding="utf-8")
        threading.Thread(target=_drain, args=(process, log), daemon=True).start()
        yield Lab(f"http://127.0.0.1:{port}/", home, root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _drain(process: subprocess.Popen[str], log: TextIO) -> None:
    assert process.stderr is not None
    with log:
        for line in process.stderr:
            log.write(line)


def _wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float) -> None:
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return
    tail = "".join(seen[-20:])
    msg = f"jupyter lab did not start within {timeout} s:\n{tail}"
    raise RuntimeError(msg)


WAIT_MS = 30_000
"""The bound of every browser wait (Playwright's default timeout for each page)."""
VIEWPORT = {"width": 1400, "height": 900}
PANEL_WIDTH = 250
"""JupyterLab's default width of a side panel, which the panel must fit."""


def open_panel(browser: Any, lab: Lab, path: str = "lab", *, theme: str | None = None) -> Any:
    """A new page on `path` of `lab` (a fresh layout) with the Tools panel open and filled."""
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(WAIT_MS)
    page.goto(lab.page_url(path) + "&reset")
    page.wait_for_selector(".jp-LabShell")
    if theme is not None:
        set_theme(page, theme)
    # The command opens the panel whatever the restored layout (a tab click toggles it).
    page.evaluate("() => window.jupyterapp.commands.execute('toolkernel:open-tools')")
    page.wait_for_selector(".jp-toolkernel-row")
    news = page.locator(".jp-toast-button:has-text('No')")
    if news.count():
        news.first.click()  # JupyterLab's news question covers the screenshots
    return page


def set_theme(page: Any, theme: str) -> None:
    """Switch to `theme` ("JupyterLab Light" or "JupyterLab Dark") and wait until it applies."""
    page.evaluate(
        "theme => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme
    )
    light = "false" if "Dark" in theme else "true"
    page.wait_for_selector(f"body[data-jp-theme-light='{light}']", state="attached")


def shot(page: Any, name: str) -> None:
    """Save a screenshot of the whole page as tests/artifacts/ui/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def overflowing(page: Any, selector: str) -> list[str]:
    """Elements under `selector` wider than their box, or past the panel's right edge.

    Code blocks are left out: they may scroll sideways, inside themselves.
    """
    return list(
        page.eval_on_selector(
            selector,
            """root => {
              const panel = document.querySelector('.jp-toolkernel-panel').getBoundingClientRect();
              const bad = [];
              for (const node of [root, ...root.querySelectorAll('*')]) {
                if (node.closest('pre') || node.getClientRects().length === 0) continue;
                const box = node.getBoundingClientRect();
                const label = `${node.tagName.toLowerCase()}.${node.className}`;
                if (node.scrollWidth > node.clientWidth + 1 && node.clientWidth > 0) {
                  bad.push(`${label} scrolls: ${node.scrollWidth} > ${node.clientWidth}`);
                }
                if (box.right > panel.right + 1) {
                  bad.push(`${label} ends at ${box.right}, past the panel (${panel.right})`);
                }
              }
              return bad;
            }""",
        )
    )


IDLE = "text=Toolkernel | Idle"
"""The status bar of a notebook on the `toolkernel` kernel once the kernel is idle."""
KERNEL_WAIT_MS = 60_000
"""The bound of a wait on the kernel (its start, or a cell that calls a tool)."""
DIALOG = ".jp-Dialog.jp-toolkernel-approval"
"""The labextension's approval dialog."""
OUTPUT = ".jp-Notebook .jp-Cell .jp-OutputArea-output"
COMM_OPEN = """async () => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
  if (!kernel) return false;
  const reply = await kernel.requestCommInfo({ target_name: 'toolkernel.approval' });
  return Object.keys(reply.content.comms || {}).length > 0;
}"""
"""True once the kernel holds the comm the labextension opened for approval dialogs."""


def start_cell(
    page: Any,
    code: str,
    *,
    idle: str = IDLE,
    wait_ms: int = KERNEL_WAIT_MS,
    keys: str = "Control+Enter",
) -> None:
    """Put `code` into the first cell and run it with `keys`, without waiting for its output.

    The kernel must be idle (`idle` shown within `wait_ms`) first: a request sent while it
    still handles a failed cell is aborted (ipykernel's stop on error), and the cell would
    never run.
    """
    page.wait_for_selector(idle, timeout=wait_ms)
    page.evaluate(
        "code => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " nb.activeCellIndex = 0; nb.activeCell.model.sharedModel.setSource(code); }",
        code,
    )
    page.click(".jp-Cell .jp-InputArea-editor")
    page.keyboard.press(keys)


def wait_for_approvals(page: Any, *, idle: str = IDLE, wait_ms: int = KERNEL_WAIT_MS) -> None:
    """Wait until the notebook's kernel is idle and holds the labextension's approval comm."""
    page.wait_for_selector(".jp-Notebook")
    page.wait_for_selector(idle, timeout=wait_ms)
    page.wait_for_function(COMM_OPEN, polling=250, timeout=wait_ms)


def delete_note(name: str) -> str:
    """A cell calling `guarded.delete_note` (tests/servers/guarded_server.py) on `name`."""
    return f"await tools.guarded.delete_note(name={json.dumps(name)})"


def click_in_dialog(page: Any, button: str) -> None:
    """Click `button` in the open approval dialog and wait until the dialog has closed."""
    page.click(f"{DIALOG} button:has-text('{button}')")
    page.wait_for_selector(DIALOG, state="detached")


def deny_in_dialog(page: Any, *, wait_ms: int = KERNEL_WAIT_MS) -> str:
    """Deny in the approval dialog once it opens; the cell's output once it names ToolDenied."""
    page.wait_for_selector(DIALOG, timeout=wait_ms)
    click_in_dialog(page, "Deny")
    page.wait_for_selector(f"{OUTPUT}:has-text('ToolDenied')", timeout=wait_ms)
    return str(page.inner_text(OUTPUT))


CALL_ROWS = ".jp-toolkernel-call[data-tool='guarded.delete_note']"
"""The Tools panel's Calls rows for `guarded.delete_note`, newest first."""


def call_rows(
    page: Any, count: int, *, wait_ms: int = KERNEL_WAIT_MS
) -> tuple[list[str], list[str]]:
    """The approvals and outcomes of the first `count` `CALL_ROWS`, once there are that many."""
    page.wait_for_function(
        f'() => document.querySelectorAll("{CALL_ROWS}").length >= {count}', timeout=wait_ms
    )
    approvals = page.eval_on_selector_all(CALL_ROWS, "rows => rows.map(r => r.dataset.approval)")
    outcomes = page.eval_on_selector_all(CALL_ROWS, "rows => rows.map(r => r.dataset.outcome)")
    return approvals[:count], outcomes[:count]
