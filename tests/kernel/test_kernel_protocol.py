"""Newer MCP features in a real kernel: tasks, URL elicitation, resources, media, and
how an interrupted or timed-out call reads."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tk_support import npm_server, python_server, start_kernel

pytestmark = [pytest.mark.npm, pytest.mark.timeout(180)]

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media").resolve()
    (folder / "dot.png").write_bytes(PNG)
    (folder / "tone.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    return folder


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("protocol-kernel")
    driver = start_kernel(
        base,
        {
            "everything": npm_server("mcp-server-everything", "stdio"),
            "filesystem": npm_server("mcp-server-filesystem", str(media)),
            "echo": python_server("echo_server.py"),
        },
    )
    statuses = driver.value("[s.state for s in await wait_for_servers(60)]", timeout=90)
    assert statuses == ["connected"] * 3
    yield driver
    driver.shutdown()


def shown_text(out: Any) -> list[str]:
    return [d["data"].get("text/plain", "") for d in out.displays + out.updates]


def plain(traceback: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", traceback)


# -- tasks ---------------------------------------------------------------------------------


def test_a_task_only_tool_is_awaited_like_any_call_and_shows_its_stages(kernel: Any) -> None:
    out = kernel.execute(
        "report = await tools.everything.simulate_research_query(topic='tides')\n"
        "print(report.splitlines()[0])"
    )
    assert out.stdout.strip() == "# Research Report: tides"
    # Stages are polled at the server's `pollInterval`, about one per stage: under load a
    # poll can miss one, so ask for several, each a real stage, in the server's order.
    stages = ["Gathering sources", "Analyzing content", "Synthesizing findings"]
    stages.append("Generating report")
    shown = [s for s in stages if any(f"{s}..." in text for text in shown_text(out))]
    assert len(shown) >= 2, shown_text(out)
    first_seen = [min(i for i, t in enumerate(shown_text(out)) if s in t) for s in shown]
    assert first_seen == sorted(first_seen)


def test_a_task_asking_for_clarification_asks_at_the_notebook(kernel: Any) -> None:
    out = kernel.execute(
        "r = await tools.everything.simulate_research_query(topic='python', ambiguous=True)\n"
        "print(r.splitlines()[0])",
        answers=["snake"],
    )
    assert out.stdout.strip().endswith("# Research Report: python (snake)")
    assert any("interpretation" in p for p in kernel.prompts)


# -- bug 10: interrupts and timeouts -------------------------------------------------------


def test_a_timed_out_call_is_a_short_timeout_error(kernel: Any) -> None:
    out = kernel.execute(
        "import asyncio\nawait asyncio.wait_for(tools.echo.slow(seconds=60), 0.5)",
        allow_error=True,
    )
    assert out.error is not None
    assert out.error["ename"] == "TimeoutError"
    text = plain(out.traceback)
    assert "CancelledError" not in text
    assert "toolkernel" not in text
    assert "asyncio.wait_for(tools.echo.slow" in text
    assert len(text.splitlines()) < 10


def test_an_interrupted_call_reads_like_a_keyboard_interrupt(kernel: Any) -> None:
    msg_id = kernel.client.execute("await tools.echo.slow(seconds=60)", stop_on_error=False)
    while True:  # the first progress report shows the server has started the call
        msg = kernel.client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "display_data":
            break
    kernel.manager.interrupt_kernel()
    while True:
        msg = kernel.client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "error":
            error = msg["content"]
            break
    assert error["ename"] == "KeyboardInterrupt"
    text = plain("\n".join(error["traceback"]))
    assert "CancelledError" not in text
    assert "toolkernel" not in text
    assert "await tools.echo.slow(seconds=60)" in text
    assert kernel.reply_to(msg_id, timeout=30)["content"]["status"] == "error"


# -- URL-mode elicitation ------------------------------------------------------------------


def test_a_url_elicitation_shows_a_link_and_asks_to_confirm(kernel: Any) -> None:
    out = kernel.execute(
        "print(await tools.everything.trigger_url_elicitation(url='https://example.com/sign-in'))",
        answers=[""],
    )
    [link] = [d["data"]["text/html"] for d in out.displays if "text/html" in d["data"]]
    assert '<a href="https://example.com/sign-in"' in link
    assert "accept" in out.stdout.lower()


def test_the_url_elicitation_error_offers_the_link_and_retries_once(kernel: Any) -> None:
    out = kernel.execute(
        "print(await tools.everything.trigger_url_elicitation("
        "url='https://example.com/pay', errorPath=True, elicitationId='e1'))",
        answers=["", ""],
    )
    links = [d["data"]["text/html"] for d in out.displays if "text/html" in d["data"]]
    assert len(links) == 2  # the prerequisite from the -32042 error, then the request
    assert "accept" in out.stdout.lower()


def test_a_declined_url_elicitation_error_keeps_the_url(kernel: Any) -> None:
    out = kernel.execute(
        "await tools.everything.trigger_url_elicitation("
        "url='https://example.com/pay', errorPath=True, elicitationId='e2')",
        answers=["no"],
        allow_error=True,
    )
    assert out.error is not None
    assert out.error["ename"] == "UrlElicitationRequired"
    assert "https://" in out.error["evalue"]


# -- resources -----------------------------------------------------------------------------


def test_a_resource_link_reads_through_the_host(kernel: Any) -> None:
    kernel.execute(
        "links = [x for x in await tools.everything.get_resource_links(count=2)"
        " if type(x).__name__ == 'ToolResourceLink']"
    )
    assert kernel.value("len(links)") == 2
    assert kernel.value("links[0].server") == "everything"
    kernel.execute("first = await links[0].read()")
    assert kernel.value("[first.uri == links[0].uri, bool(first.text or first.blob)]") == [
        True,
        True,
    ]
    assert kernel.value("(await read_resource(links[0])) == first") is True


def test_a_servers_resources_are_listed_and_read_by_uri(kernel: Any) -> None:
    listed = kernel.value("await list_resources('everything')")
    assert listed
    assert {r["server"] for r in listed} == {"everything"}
    uri = listed[0]["uri"]
    read = kernel.value(f"(await read_resource({uri!r}, server='everything')).uri")
    assert read == uri


def test_reading_from_an_unknown_server_names_the_servers(kernel: Any) -> None:
    out = kernel.execute("await read_resource('x://y', server='nope')", allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "ToolNotFound"
    assert "everything" in out.error["evalue"]


# -- media ---------------------------------------------------------------------------------


def test_media_in_structured_content_become_tool_images_and_audio(kernel: Any, media: Path) -> None:
    image = f"(await tools.filesystem.read_media_file(path={str(media / 'dot.png')!r}))"
    assert kernel.value(f"type({image}['content'][0]).__name__") == "ToolImage"
    assert kernel.value(f"{image}['content'][0].data == {PNG!r}") is True
    audio = f"(await tools.filesystem.read_media_file(path={str(media / 'tone.wav')!r}))"
    assert kernel.value(f"repr({audio}['content'][0])").startswith("<ToolAudio audio/wav")
