"""A real kernel with npm's server-filesystem and server-everything: what a user sees."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tk_support import npm_server, start_kernel

pytestmark = [pytest.mark.npm, pytest.mark.timeout(180)]

NOTES = "Grüße aus Köln: naïve café, 日本語, emoji ✓\nsecond line\n"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An allowed folder with a few files, and a folder outside it with a secret."""
    root = tmp_path_factory.mktemp("fs").resolve()
    allowed = root / "allowed"
    (allowed / "docs").mkdir(parents=True)
    (allowed / "notes.txt").write_text(NOTES, encoding="utf-8")
    (allowed / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret\n", encoding="utf-8")
    return {"allowed": allowed, "outside": outside}


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory, folders: dict[str, Path]) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("npm-kernel")
    driver = start_kernel(
        base,
        {
            "filesystem": npm_server("mcp-server-filesystem", str(folders["allowed"])),
            "everything": npm_server("mcp-server-everything", "stdio"),
        },
    )
    statuses = driver.value("[s.state for s in await wait_for_servers(60)]", timeout=90)
    assert statuses == ["connected", "connected"]
    yield driver
    driver.shutdown()


# -- server-filesystem ---------------------------------------------------------------------


def test_read_text_file_returns_the_utf8_text_as_structured_content(
    kernel: Any, folders: dict[str, Path]
) -> None:
    path = folders["allowed"] / "notes.txt"
    result = kernel.value(f"await tools.filesystem.read_text_file(path={str(path)!r})")
    assert result == {"content": NOTES}
    # Inside the kernel it is decoded text (characters, not UTF-8 bytes or escapes).
    content = f"(await tools.filesystem.read_text_file(path={str(path)!r}))['content']"
    assert kernel.value(f"[type({content}).__name__, len({content})]") == ["str", len(NOTES)]


def test_read_text_file_passes_optional_arguments_through(
    kernel: Any, folders: dict[str, Path]
) -> None:
    path = folders["allowed"] / "notes.txt"
    head = kernel.value(f"await tools.filesystem.read_text_file(path={str(path)!r}, head=1)")
    assert head == {"content": NOTES.splitlines()[0]}


def test_list_directory_shows_files_and_folders(kernel: Any, folders: dict[str, Path]) -> None:
    listing = kernel.value(
        f"await tools.filesystem.list_directory(path={str(folders['allowed'])!r})"
    )
    lines = set(listing["content"].splitlines())
    assert {"[FILE] notes.txt", "[FILE] data.csv", "[DIR] docs"} <= lines


def test_a_written_file_reads_back_and_lands_on_disk(kernel: Any, folders: dict[str, Path]) -> None:
    path = folders["allowed"] / "docs" / "written.md"
    text = "# Überschrift\n\nœuvre — ✓ written from a cell\n"
    kernel.execute(f"await tools.filesystem.write_file(path={str(path)!r}, content={text!r})")
    assert path.read_text(encoding="utf-8") == text
    back = kernel.value(f"await tools.filesystem.read_text_file(path={str(path)!r})")
    assert back == {"content": text}


def test_reading_outside_the_allowed_folder_raises_tool_error_and_the_kernel_lives(
    kernel: Any, folders: dict[str, Path]
) -> None:
    secret = folders["outside"] / "secret.txt"
    out = kernel.execute(
        f"await tools.filesystem.read_text_file(path={str(secret)!r})", allow_error=True
    )
    assert out.error is not None
    assert out.error["ename"] == "ToolError"
    assert "Access denied" in out.error["evalue"]
    assert "top secret" not in out.error["evalue"] + out.stdout
    assert kernel.value("1 + 1") == 2
    assert kernel.value("len(list_tool_names('filesystem'))") > 0


def test_list_tool_names_lists_the_filesystem_tools(kernel: Any) -> None:
    names = kernel.value("list_tool_names('filesystem')")
    assert {
        "filesystem.read_text_file",
        "filesystem.write_file",
        "filesystem.list_directory",
        "filesystem.list_allowed_directories",
    } <= set(names)
    assert all(name.startswith("filesystem.") for name in names)


# -- server-everything ---------------------------------------------------------------------


def test_number_and_enum_parameters_get_typed_signatures(kernel: Any) -> None:
    signature = "str(__import__('inspect').signature({}))"
    assert kernel.value(signature.format("tools.everything.get_sum")) == (
        "(*, a: float, b: float) -> Any"
    )
    structured = kernel.value(signature.format("tools.everything.get_structured_content"))
    assert structured.startswith("(*, location: Literal['New York', 'Chicago', 'Los Angeles']) -> ")
    optional = kernel.value(signature.format("tools.everything.trigger_long_running_operation"))
    assert optional == "(*, duration: float | None = None, steps: float | None = None) -> Any"


def test_hyphenated_tool_names_are_sanitized_and_called_by_their_original_name(
    kernel: Any,
) -> None:
    assert kernel.value("hasattr(tools.everything, 'get_sum')") is True
    assert kernel.value("get_tool_details('everything.get_sum').mcp_name") == "get-sum"
    # The server only knows "get-sum": this answer proves the original name was sent.
    assert kernel.value("await tools.everything.get_sum(a=2, b=3)") == "The sum of 2 and 3 is 5."
    assert kernel.value("await tools.everything.get_sum(a=0.5, b=-2)") == (
        "The sum of 0.5 and -2 is -1.5."
    )


def test_a_bad_enum_value_fails_before_anything_is_sent(kernel: Any) -> None:
    out = kernel.execute(
        'await tools.everything.get_structured_content(location="Paris")', allow_error=True
    )
    assert out.error is not None
    assert out.error["ename"] == "ToolInputError"
    assert "nothing was sent" in out.error["evalue"]


def test_long_running_operation_shows_a_live_progress_line(kernel: Any) -> None:
    out = kernel.execute(
        "await tools.everything.trigger_long_running_operation(duration=0.6, steps=3)"
    )
    assert out.text == "'Long running operation completed. Duration: 0.6 seconds, Steps: 3.'"
    assert out.displays, "the first progress report opens a display"
    shown = [d["data"]["text/plain"] for d in out.displays + out.updates]
    assert all("trigger-long-running-operation" in line for line in shown)
    assert shown[-1].endswith("3/3")
    display_ids = {d["transient"]["display_id"] for d in out.displays + out.updates}
    assert len(display_ids) == 1, "progress updates one line, it does not print many"


def test_the_tiny_image_comes_back_as_a_png_tool_image_between_texts(kernel: Any) -> None:
    kinds = kernel.value("[type(x).__name__ for x in await tools.everything.get_tiny_image()]")
    assert kinds == ["str", "ToolImage", "str"]
    out = kernel.execute("(await tools.everything.get_tiny_image())[1]")
    assert out.result is not None
    png = base64.b64decode(out.result["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(png[16:20], "big") == 20, "the MCP logo is 20 px wide"


def test_structured_content_comes_back_as_a_dict(kernel: Any) -> None:
    assert (
        kernel.value(
            'type(await tools.everything.get_structured_content(location="Chicago")).__name__'
        )
        == "dict"
    )
    weather = kernel.value('await tools.everything.get_structured_content(location="Chicago")')
    assert weather == {"temperature": 36, "conditions": "Light rain / drizzle", "humidity": 82}


def test_search_ranks_get_sum_first_for_adding_two_numbers(kernel: Any) -> None:
    hits = kernel.value('search_tools("add two numbers", limit=3)')
    assert hits[0]["name"] == "everything.get_sum"
    assert hits[0]["signature"] == "get_sum(*, a: float, b: float) -> Any"
    assert kernel.value('search_tools("add two numbers", detail="name")')[0] == (
        "everything.get_sum"
    )


def test_get_tool_details_accepts_the_hyphenated_name_and_shows_a_signature(
    kernel: Any,
) -> None:
    details = kernel.value("get_tool_details('everything.get-sum').to_json()")
    assert details["name"] == "everything.get_sum"
    assert details["mcp_name"] == "get-sum"
    assert details["signature"] == "get_sum(*, a: float, b: float) -> Any"
    assert "Returns the sum of two numbers" in details["doc"]
    assert details["annotations"]["readOnlyHint"] is True
    text = kernel.value("str(get_tool_details('everything.get-sum'))")
    assert text.startswith("async def get_sum(*, a: float, b: float) -> Any")


def test_simulated_server_logging_reaches_the_kernel_log_with_its_level(kernel: Any) -> None:
    # The server sends one log message at once, then one every 5 s, at a random level;
    # the cell waits (bounded) for the first one to reach the kernel's logger.
    out = kernel.execute(
        "import asyncio, logging\n"
        "class Heard(logging.Handler):\n"
        "    def __init__(self, loop):\n"
        "        super().__init__()\n"
        "        self.loop, self.event, self.records = loop, asyncio.Event(), []\n"
        "    def emit(self, record):\n"
        "        line = record.getMessage()\n"
        "        if line.startswith('[mcp everything]'):\n"
        "            self.records.append((record.levelno, line))\n"
        "            self.loop.call_soon_threadsafe(self.event.set)\n"
        "heard = Heard(asyncio.get_running_loop())\n"
        "log = get_ipython().kernel.log\n"
        "saved_level = log.level\n"
        "log.addHandler(heard)\n"
        "log.setLevel(logging.DEBUG)\n"
        "try:\n"
        "    started = await tools.everything.toggle_simulated_logging()\n"
        "    await asyncio.wait_for(heard.event.wait(), 15)\n"
        "finally:\n"
        "    stopped = await tools.everything.toggle_simulated_logging()\n"
        "    log.removeHandler(heard)\n"
        "    log.setLevel(saved_level)\n"
        "print(started.split(' for ')[0])\n"
        "print(stopped.split(' for ')[0])\n",
        timeout=60,
    )
    assert out.stdout.splitlines() == [
        "Started simulated, random-leveled logging",
        "Stopped simulated logging",
    ]
    level, line = kernel.value("heard.records[0]")
    # "[mcp everything] Warning-level message" or "... Alert level-message".
    word = line.removeprefix("[mcp everything] ").split("-")[0].split()[0].lower()
    expected = {
        "debug": 10,
        "info": 20,
        "notice": 20,
        "warning": 30,
        "error": 40,
        "critical": 50,
        "alert": 50,
        "emergency": 50,
    }
    assert word in expected, line
    assert level == expected[word], line
