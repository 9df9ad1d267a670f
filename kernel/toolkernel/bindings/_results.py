"""Turn a `ToolResult` into the Python value a binding returns."""

from __future__ import annotations

import base64
import binascii
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkernel._markup import safe_media_type
from toolkernel._spec import JSONObject, ToolResult
from toolkernel.bindings._runtime import get_resource_reader
from toolkernel.errors import BindingError, ToolError

_RASTER_TYPES = {"image/gif", "image/webp", "image/bmp"}
"""Image types JupyterLab shows from base64 itself; PNG and JPEG have their own hooks."""

__all__ = [
    "ToolAudio",
    "ToolContent",
    "ToolImage",
    "ToolResource",
    "ToolResourceLink",
    "content_to_python",
    "resources_to_python",
    "to_python",
]


def to_python(result: ToolResult, *, source: str | None = None) -> Any:
    """Return the Python value of a tool result.

    - `isError`: raises `ToolError` carrying the server's message and content.
    - `structuredContent`: returned as is, a dict even when it wraps a primitive
      (`{"result": 3}`), so it always matches the tool's output schema. Where it
      repeats an image, audio or embedded-resource block of the content (as
      `read_media_file` does), that block is a `ToolImage`, `ToolAudio` or
      `ToolResource` there too, never raw base64.
    - one content block: its value (text stays `str`, never parsed as JSON).
    - no content: None. Several blocks: a `ToolContent` list, each block converted the
      same way; in a notebook it displays each item in turn, images as images.

    `source` is the server the result came from: its resource links read from it.

    Raises:
        ToolError: The tool reported failure.
    """
    if result.is_error:
        content: list[dict[str, object]] = list(result.content)
        raise ToolError(result.error_message(), tool=result.tool, content=content)
    if result.structured is not None:
        mirrored = [b for b in result.content if b.get("type") in _MEDIA_BLOCKS]
        if not mirrored:
            return result.structured
        return _media_in(result.structured, mirrored, source)
    if not result.content:
        return None
    if len(result.content) == 1:
        return content_to_python(result.content[0], source=source)
    return ToolContent(content_to_python(block, source=source) for block in result.content)


_MEDIA_BLOCKS = ("image", "audio", "resource")


def _media_in(value: Any, blocks: list[JSONObject], source: str | None) -> Any:
    """`value` with each dict equal to one of `blocks` converted as a content block."""
    if isinstance(value, dict):
        if value in blocks:
            return content_to_python(value, source=source)
        return {key: _media_in(item, blocks, source) for key, item in value.items()}
    if isinstance(value, list):
        return [_media_in(item, blocks, source) for item in value]
    return value


class ToolContent(list[Any]):
    """The items of a result with several content blocks (text, images, resources).

    A plain list in every way, except that a notebook displays each item in turn, so
    the images of a mixed result show as images rather than as their repr.
    """

    def _ipython_display_(self) -> None:
        from IPython.display import display  # noqa: PLC0415 - only inside a kernel

        for item in self:
            display(item)


def content_to_python(block: JSONObject, *, source: str | None = None) -> Any:
    """Convert one MCP content block; an unknown or malformed block comes back as its dict.

    `source` is the server the block came from, which a `ToolResourceLink` reads from.
    """
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind in ("image", "audio"):
        data = _b64(block.get("data"))
        if data is None:
            return block
        mime = str(block.get("mimeType") or "application/octet-stream")
        return ToolImage(data, mime) if kind == "image" else ToolAudio(data, mime)
    if kind == "resource" and isinstance(block.get("resource"), dict):
        return ToolResource.from_json(block["resource"])
    if kind == "resource_link" and isinstance(block.get("uri"), str):
        return ToolResourceLink.from_json(block, server=source)
    return block


@dataclass(frozen=True, repr=False)
class ToolImage:
    """An image a tool returned; a notebook displays it.

    Attributes:
        data: The decoded image bytes.
        mime_type: The image's MIME type (`image/png`).
    """

    data: bytes
    mime_type: str

    def __repr__(self) -> str:
        return f"<ToolImage {self.mime_type} {len(self.data)} bytes>"

    def _repr_png_(self) -> bytes | None:
        return self.data if self.mime_type == "image/png" else None

    def _repr_jpeg_(self) -> bytes | None:
        return self.data if self.mime_type in ("image/jpeg", "image/jpg") else None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any] | None:
        if self.mime_type in ("image/png", "image/jpeg", "image/jpg"):
            return None  # the _repr_png_ / _repr_jpeg_ hooks carry these
        media = safe_media_type(self.mime_type, "image")
        encoded = base64.b64encode(self.data).decode("ascii")
        if media in _RASTER_TYPES:
            return {media: encoded, "text/plain": repr(self)}
        if media == "image/svg+xml":
            # An SVG inline in the page could run its script; inside an <img> it cannot.
            tag = f'<img src="data:image/svg+xml;base64,{encoded}"/>'
            return {"text/html": tag, "text/plain": repr(self)}
        return {"text/plain": repr(self)}  # a type the page would not show safely

    def save(self, path: str | Path) -> Path:
        """Write the image bytes to `path` and return it as a `Path`."""
        target = Path(path)
        target.write_bytes(self.data)
        return target


@dataclass(frozen=True, repr=False)
class ToolAudio:
    """Audio a tool returned; a notebook shows a player.

    Attributes:
        data: The decoded audio bytes.
        mime_type: The audio's MIME type (`audio/wav`).
    """

    data: bytes
    mime_type: str

    def __repr__(self) -> str:
        return f"<ToolAudio {self.mime_type} {len(self.data)} bytes>"

    def _repr_html_(self) -> str | None:
        media = safe_media_type(self.mime_type, "audio")
        if media is None:
            return None  # a server-chosen type never reaches the page; repr() shows it
        encoded = base64.b64encode(self.data).decode("ascii")
        return f'<audio controls src="data:{html.escape(media)};base64,{encoded}"></audio>'

    def save(self, path: str | Path) -> Path:
        """Write the audio bytes to `path` and return it as a `Path`."""
        target = Path(path)
        target.write_bytes(self.data)
        return target


@dataclass(frozen=True)
class ToolResource:
    """An embedded resource: text or bytes, with the URI it came from.

    Attributes:
        uri: The resource's URI.
        mime_type: Its MIME type, when given.
        text: Its text, for a text resource.
        blob: Its decoded bytes, for a binary resource.
    """

    uri: str
    mime_type: str | None = None
    text: str | None = None
    blob: bytes | None = None

    @classmethod
    def from_json(cls, data: JSONObject) -> ToolResource:
        """Build one from the `resource` field of an MCP `resource` block."""
        text = data.get("text")
        return cls(
            uri=str(data.get("uri", "")),
            mime_type=_opt_str(data.get("mimeType")),
            text=text if isinstance(text, str) else None,
            blob=_b64(data.get("blob")),
        )


@dataclass(frozen=True)
class ToolResourceLink:
    """A link to a resource the tool did not inline; `await link.read()` fetches it.

    Attributes:
        uri: The resource's URI.
        name: The resource's name.
        title: A human-readable title, when given.
        description: What the resource holds, when given.
        mime_type: Its MIME type, when given.
        size: Its size in bytes, when given.
        server: The server whose tool returned the link (it is read from there).
    """

    uri: str
    name: str = ""
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    size: int | None = None
    server: str | None = None

    @classmethod
    def from_json(cls, data: JSONObject, *, server: str | None = None) -> ToolResourceLink:
        """Build one from an MCP `resource_link` block returned by `server`."""
        size = data.get("size")
        return cls(
            uri=str(data["uri"]),
            name=str(data.get("name", "")),
            title=_opt_str(data.get("title")),
            description=_opt_str(data.get("description")),
            mime_type=_opt_str(data.get("mimeType")),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            server=server,
        )

    async def read(self) -> ToolResource | list[ToolResource]:
        """Read the resource from its server (`resources/read`).

        Returns:
            Its content: one `ToolResource`, or a list when the server sends several.

        Raises:
            BindingError: No tool host is running.
            ToolError: The server could not read it.
        """
        reader = get_resource_reader()
        if reader is None:
            msg = f"no tool host is running, so {self.uri!r} cannot be read"
            raise BindingError(msg, source=self.server or "")
        return resources_to_python(await reader(self.uri, server=self.server))


def resources_to_python(answer: JSONObject) -> ToolResource | list[ToolResource]:
    """Convert a `resources/read` answer: one `ToolResource`, or a list of several."""
    contents = answer.get("contents")
    found = [ToolResource.from_json(c) for c in contents or [] if isinstance(c, dict)]
    return found[0] if len(found) == 1 else found


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
