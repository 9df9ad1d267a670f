"""Reproducible notebooks: `%tools lock` records versions; a locked notebook pins them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tk_support import TESTS, python_server, start_kernel
from toolkernel.session._lock import LOCK_MIME

pytestmark = pytest.mark.timeout(300)

ANSWER = (TESTS / "wasm_sources" / "answer.wat").read_text(encoding="utf-8")


def answer(number: int) -> str:
    return ANSWER.replace("42", str(number))


def test_a_locked_notebook_pins_versions_and_warns_on_schema_drift(tmp_path: Path) -> None:
    notebook = tmp_path / "report.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    servers = {"echo": python_server("echo_server.py")}
    first = start_kernel(tmp_path, servers)
    try:
        first.execute("await wait_for_servers(30)")
        first.execute(f"create_tool('answer', language='wat', source={answer(31)!r})")
        assert first.value("await tools.local.answer()") == {"answer": 31}
        assert first.value("await tools.echo.add(a=1, b=2)") == 3
        out = first.execute(f"%tools lock {notebook}")
        assert "Locked 2 tools;" in out.stdout
        assert f"Written into {notebook}" in out.stdout
        first.execute(f"create_tool('answer', language='wat', source={answer(32)!r})")
        assert first.value("await tools.local.answer()") == {"answer": 32}
    finally:
        first.shutdown()

    lock = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]["toolkernel"]["lock"]
    assert lock["tools"]["local.answer"] == {"version": 1}
    assert set(lock["tools"]["echo.add"]) == {"schema"}

    second = start_kernel(tmp_path, servers, extra_env={"JPY_SESSION_NAME": str(notebook)})
    try:
        assert second.value("await tools.local.answer()") == {"answer": 31}
        assert second.value("(await tools.local.answer.at(2)())['answer']") == 32
        out = second.execute("await wait_for_servers(30)\nawait tools.echo.add(a=1, b=2)")
        assert "SchemaDrift" not in out.stderr
    finally:
        second.shutdown()

    lock["tools"]["echo.add"]["schema"] = "0" * 16
    data: dict[str, Any] = json.loads(notebook.read_text(encoding="utf-8"))
    data["metadata"]["toolkernel"]["lock"] = lock
    notebook.write_text(json.dumps(data), encoding="utf-8")
    third = start_kernel(tmp_path, servers, extra_env={"JPY_SESSION_NAME": str(notebook)})
    try:
        out = third.execute("await wait_for_servers(30)\nawait tools.echo.add(a=1, b=2)")
        assert "SchemaDrift: echo.add: the server's tool schema changed" in out.stderr
    finally:
        third.shutdown()


def test_lock_is_an_output_that_the_saved_notebook_keeps_and_a_kernel_pins(
    tmp_path: Path,
) -> None:
    first = start_kernel(tmp_path, None)
    try:
        first.execute(f"create_tool('answer', language='wat', source={answer(71)!r})")
        assert first.value("await tools.local.answer()") == {"answer": 71}
        out = first.execute("%tools lock")
        first.execute(f"create_tool('answer', language='wat', source={answer(72)!r})")
    finally:
        first.shutdown()
    (display,) = out.displays
    assert display["data"][LOCK_MIME] == {"lock": {"tools": {"local.answer": {"version": 1}}}}
    assert "Locked 1 tool;" in display["data"]["text/plain"]
    assert out.stdout == ""  # nothing asks the person to reload or give a path

    # The frontend saves the output with the notebook; nothing wrote the file before that.
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("%tools lock")
    cell.outputs = [nbformat.v4.new_output("display_data", data=display["data"])]
    notebook.cells.append(cell)
    path = tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)
    second = start_kernel(tmp_path, None, extra_env={"JPY_SESSION_NAME": str(path)})
    try:
        assert second.value("await tools.local.answer()") == {"answer": 71}
    finally:
        second.shutdown()


def test_a_locked_notebook_pins_the_skills_it_used(tmp_path: Path) -> None:
    notebook = tmp_path / "skills.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    define = "async def level() -> int:\n    return {n}\nsave_skill(level)\n"
    first = start_kernel(tmp_path, None)
    try:
        first.execute(define.format(n=1))
        assert first.value("await skills.level()") == 1
        assert "Locked 1 tool;" in first.execute(f"%tools lock {notebook}").stdout
        first.execute(define.format(n=2))
    finally:
        first.shutdown()
    lock = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]["toolkernel"]["lock"]
    assert lock["tools"] == {"skills.level": {"version": 1}}

    second = start_kernel(tmp_path, None, extra_env={"JPY_SESSION_NAME": str(notebook)})
    try:
        assert second.value("await skills.level()") == 1
        assert second.value("await skills.level.at(2)()") == 2
        second.execute(define.format(n=3))  # saving it here unpins it
        assert second.value("await skills.level()") == 3
    finally:
        second.shutdown()
