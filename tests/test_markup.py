"""Text a server, a tool or a skill chose never becomes live HTML in a notebook output."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from toolkernel._markup import code_fence, markdown_cell, safe_media_type
from toolkernel.session import ToolDetails

INJECTION = '```\n<img src=x onerror="alert(1)">\n````\n| a | b |'


def fence_of(block: str) -> str:
    match = re.match(r"`+", block)
    assert match is not None
    return match.group(0)


@given(st.text(alphabet=st.sampled_from(["`", "a", "\n", "<", " "]), max_size=40))
def test_no_text_can_close_its_code_fence(text: str) -> None:
    block = code_fence(text)
    fence = fence_of(block)
    assert block.endswith("\n" + fence)
    # The fence is longer than every run of backticks inside, so none of them closes it.
    inside = block[len(fence) + len("text\n") : -len(fence) - 1]
    assert inside == text
    assert all(len(run) < len(fence) for run in re.findall(r"`+", inside))


def test_a_tool_description_stays_inside_the_details_code_block() -> None:
    details = ToolDetails(
        name="evil.tool", mcp_name="tool", source="evil", signature="tool()", doc=INJECTION
    )
    markdown = details._repr_markdown_()
    fence = fence_of(markdown.split("\n\n", 1)[1])
    assert len(fence) == 5  # one more than the longest run (4) in the description
    assert markdown.endswith(f"{INJECTION}\n{fence}")


def test_a_table_cell_escapes_html_pipes_backticks_and_newlines() -> None:
    cell = markdown_cell(INJECTION)
    assert "<" not in cell
    assert "|" not in cell.replace("&#124;", "")
    assert "`" not in cell
    assert "\n" not in cell


def test_only_plain_media_types_of_the_expected_kind_pass() -> None:
    assert safe_media_type("Audio/WAV", "audio") == "audio/wav"
    assert safe_media_type("image/svg+xml", "image") == "image/svg+xml"
    assert safe_media_type("image/png", "audio") is None
    assert safe_media_type('audio/wav" onerror="x', "audio") is None
    assert safe_media_type("audio/wav; codecs=1", "audio") is None
