from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from toolkernel import ToolError, ToolResult
from toolkernel.bindings import (
    ToolAudio,
    ToolImage,
    ToolResource,
    ToolResourceLink,
    content_to_python,
    to_python,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 16


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def image(data: bytes, mime: str = "image/png") -> dict[str, Any]:
    return {"type": "image", "data": base64.b64encode(data).decode(), "mimeType": mime}


def result(*blocks: dict[str, Any], structured: Any = None, is_error: bool = False) -> ToolResult:
    return ToolResult(tool="demo.t", content=list(blocks), structured=structured, is_error=is_error)


def test_text_of_digits_stays_a_string() -> None:
    assert to_python(result(text("123"))) == "123"
    assert to_python(result(text('{"a": 1}'))) == '{"a": 1}'


def test_structured_content_is_returned_as_python_data() -> None:
    value = to_python(result(text('{"n": 3}'), structured={"n": 3}))
    assert value == {"n": 3}


def test_structured_primitive_wrapper_is_not_unwrapped() -> None:
    assert to_python(result(text("3"), structured={"result": 3})) == {"result": 3}


def test_no_content_is_none() -> None:
    assert to_python(result()) is None


def test_mixed_content_is_a_list_of_converted_blocks() -> None:
    value = to_python(result(text("caption"), image(PNG)))
    assert isinstance(value, list)
    assert value[0] == "caption"
    assert isinstance(value[1], ToolImage)
    assert value[1].data == PNG


def test_error_result_raises_tool_error_with_the_servers_message() -> None:
    failing = result(text("permission denied: /etc/shadow"), is_error=True)
    with pytest.raises(ToolError, match="permission denied: /etc/shadow") as info:
        to_python(failing)
    assert info.value.tool == "demo.t"
    assert info.value.content == [text("permission denied: /etc/shadow")]


def test_error_result_without_text_still_has_a_message() -> None:
    with pytest.raises(ToolError, match="reported an error with no message"):
        to_python(result(is_error=True))


def test_png_image_displays_through_repr_png() -> None:
    picture = to_python(result(image(PNG)))
    assert isinstance(picture, ToolImage)
    assert picture._repr_png_() == PNG
    assert picture._repr_jpeg_() is None
    assert picture._repr_mimebundle_() is None
    assert repr(picture) == f"<ToolImage image/png {len(PNG)} bytes>"


def test_jpeg_image_displays_through_repr_jpeg() -> None:
    picture = to_python(result(image(JPEG, "image/jpeg")))
    assert picture._repr_jpeg_() == JPEG
    assert picture._repr_png_() is None


def test_other_image_types_display_through_the_mimebundle() -> None:
    gif = ToolImage(b"GIF89a", "image/gif")
    assert gif._repr_mimebundle_() == {
        "image/gif": base64.b64encode(b"GIF89a").decode(),
        "text/plain": "<ToolImage image/gif 6 bytes>",
    }


def test_a_servers_svg_is_shown_as_an_img_so_its_script_cannot_run() -> None:
    evil = (
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    )
    bundle = ToolImage(evil, "image/svg+xml")._repr_mimebundle_()
    assert bundle is not None
    assert set(bundle) == {"text/html", "text/plain"}
    assert bundle["text/html"] == (
        f'<img src="data:image/svg+xml;base64,{base64.b64encode(evil).decode()}"/>'
    )


@pytest.mark.parametrize(
    "media",
    ["text/html", "application/javascript", 'image/gif" onerror="alert(1)', "IMAGE/GIF;x=<b>"],
)
def test_a_server_chosen_image_type_never_becomes_an_output_type(media: str) -> None:
    assert ToolImage(b"<b onmouseover=alert(1)>", media)._repr_mimebundle_() == {
        "text/plain": f"<ToolImage {media} 24 bytes>"
    }


@pytest.mark.parametrize("media", ['audio/wav" onerror="alert(1)', "text/html", "audio/<x>"])
def test_a_server_chosen_audio_type_never_reaches_html(media: str) -> None:
    assert ToolAudio(b"RIFF", media)._repr_html_() is None


def test_image_saves_its_bytes(tmp_path: Path) -> None:
    target = ToolImage(PNG, "image/png").save(tmp_path / "plot.png")
    assert target.read_bytes() == PNG


def test_audio_becomes_a_playable_object(tmp_path: Path) -> None:
    block = {"type": "audio", "data": base64.b64encode(b"RIFF").decode(), "mimeType": "audio/wav"}
    sound = content_to_python(block)
    assert isinstance(sound, ToolAudio)
    assert sound.data == b"RIFF"
    assert 'src="data:audio/wav;base64,UklGRg=="' in sound._repr_html_()
    assert sound.save(tmp_path / "a.wav").read_bytes() == b"RIFF"


def test_embedded_text_and_blob_resources_become_tool_resources() -> None:
    text_block = {
        "type": "resource",
        "resource": {"uri": "file:///a.txt", "mimeType": "text/plain", "text": "hi"},
    }
    blob_block = {
        "type": "resource",
        "resource": {"uri": "file:///a.bin", "blob": base64.b64encode(b"\x00\x01").decode()},
    }
    assert content_to_python(text_block) == ToolResource("file:///a.txt", "text/plain", "hi")
    assert content_to_python(blob_block) == ToolResource("file:///a.bin", blob=b"\x00\x01")


def test_resource_link_becomes_a_tool_resource_link() -> None:
    block = {
        "type": "resource_link",
        "uri": "file:///big.csv",
        "name": "big.csv",
        "description": "All rows",
        "mimeType": "text/csv",
        "size": 1234,
    }
    assert content_to_python(block) == ToolResourceLink(
        uri="file:///big.csv",
        name="big.csv",
        description="All rows",
        mime_type="text/csv",
        size=1234,
    )


def test_unknown_or_malformed_blocks_come_back_as_their_dict() -> None:
    unknown = {"type": "hologram", "data": "?"}
    bad_image = {"type": "image", "data": "not base64!!", "mimeType": "image/png"}
    assert content_to_python(unknown) == unknown
    assert content_to_python(bad_image) == bad_image


def test_base64_with_line_breaks_decodes() -> None:
    encoded = base64.encodebytes(PNG * 8).decode()
    assert "\n" in encoded
    picture = content_to_python({"type": "image", "data": encoded, "mimeType": "image/png"})
    assert picture.data == PNG * 8


def test_media_repeated_in_structured_content_become_media_objects() -> None:
    block = image(PNG)
    audio = {"type": "audio", "data": base64.b64encode(b"RIFF").decode(), "mimeType": "audio/wav"}
    value = to_python(result(block, audio, structured={"content": [block, audio], "n": 2}))
    assert value["n"] == 2
    first, second = value["content"]
    assert isinstance(first, ToolImage)
    assert first.data == PNG
    assert isinstance(second, ToolAudio)
    assert second.data == b"RIFF"


def test_structured_dicts_that_only_look_like_media_stay_dicts() -> None:
    lookalike = image(PNG)
    value = to_python(result(text("no media here"), structured={"item": lookalike}))
    assert value == {"item": lookalike}


def test_a_resource_link_knows_the_server_it_came_from() -> None:
    link = {"type": "resource_link", "uri": "demo://r/1", "name": "r1"}
    value = to_python(result(link), source="demo")
    assert isinstance(value, ToolResourceLink)
    assert value.server == "demo"
