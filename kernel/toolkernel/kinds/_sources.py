"""A tool's source as files: {relative path: bytes}, with every path kept inside the tool."""

from __future__ import annotations

from collections.abc import Mapping

from toolkernel._nofollow import safe_relative_path
from toolkernel.errors import RegistryError

__all__ = ["needs_a_name", "safe_relative_path", "source_files"]


def source_files(language: str, source: object, main: str) -> dict[str, bytes]:
    """Normalize `source` to {relative path: bytes}, refusing unsafe paths.

    Args:
        language: The source's language, for messages.
        source: The text of one file (stored as `main`), or {relative path: text}.
        main: Where a single text is stored (`main.c`, a script's entry).

    Raises:
        RegistryError: An unsafe path, content that is not text, or no source at all.
    """
    if isinstance(source, str):
        if not safe_relative_path(main):
            msg = f"entry {main!r} must be a relative path inside the tool"
            raise RegistryError(msg)
        return {main: source.encode("utf-8")}
    if isinstance(source, Mapping) and source:
        files = {}
        for path, text in source.items():
            safe = isinstance(path, str) and safe_relative_path(path)
            if not safe or not isinstance(text, str):
                msg = f"source file {path!r} must be a relative path with str content"
                raise RegistryError(msg)
            files[path] = text.encode("utf-8")
        return files
    msg = f"source must be the {language} text, or a dict of relative path to text"
    raise RegistryError(msg)


def needs_a_name(kind: str) -> RegistryError:
    """The error for a tool of `kind` created without a name."""
    return RegistryError(f"a {kind} tool needs a name, e.g. 'local.word_count'")
