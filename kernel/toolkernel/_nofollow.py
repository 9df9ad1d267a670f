"""Paths in trees that others control: names that stay inside, writes that follow no link.

A name that came from a tool, a bundle or an archive is checked by `path_problem`
before it is joined to a folder: the one rule set for every such name (bundles, tool
sources, skill files). It is relative, `/`-separated and spells each file one way only:
not empty, not absolute (`/x`, `C:x`), no backslash, no NUL byte, and no part that is
empty (`a//b`, a trailing `/`), `.` or `..`.

A sandbox that could write a folder may have left a link anywhere in it, pointing at a
host file. The host (often root) must never write through one, so the writes here open
relative to a directory descriptor with `O_NOFOLLOW`, and create files with `O_EXCL`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "DIR_FLAGS",
    "NEW_FILE_FLAGS",
    "open_directory",
    "path_problem",
    "replace_in_file",
    "safe_relative_path",
    "write_new",
]

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
"""Open a directory, refusing a link in its place."""
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
"""Create a file that did not exist, refusing a link in its place."""


def path_problem(path: object) -> str | None:
    """Say what makes `path` unsafe to join to a folder, or return None if nothing does.

    The answer completes "refused <path>: ...", e.g. "a '..' part".
    """
    if not isinstance(path, str):
        return f"a name of type {type(path).__name__}, not str"
    parts = path.split("/")
    for refuses, problem in _PATH_RULES:
        if refuses(path, parts):
            return problem
    return None


_PATH_RULES: tuple[tuple[Callable[[str, list[str]], bool], str], ...] = (
    (lambda path, _: not path, "an empty name"),
    (lambda path, _: "\x00" in path, "a NUL byte in the name"),
    (lambda path, _: "\\" in path, "a backslash (paths use '/')"),
    (lambda path, _: path.startswith("/"), "an absolute path"),
    (lambda path, _: path[1:2] == ":", "a drive letter (an absolute path on Windows)"),
    (lambda _, parts: ".." in parts, "a '..' part"),
    (lambda _, parts: "." in parts, "a '.' part (write the path without it)"),
    (lambda _, parts: "" in parts, "an empty part ('//', or '/' at the end)"),
)
"""(refuses(path, parts), problem), in the order they are checked."""


def safe_relative_path(path: object) -> bool:
    """Whether `path` names something inside the folder it is joined to (`path_problem`)."""
    return path_problem(path) is None


@contextlib.contextmanager
def open_directory(path: Path, parent: int | None = None) -> Iterator[int]:
    """A descriptor of directory `path` (relative to `parent`), opened without a link."""
    fd = os.open(path, DIR_FLAGS, dir_fd=parent)
    try:
        yield fd
    finally:
        os.close(fd)


def replace_in_file(folder: int, name: str, old: bytes, new: bytes) -> None:
    """Replace `old` with `new` in regular file `name` of `folder`; skip links and others."""
    try:
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(name, flags, dir_fd=folder)
    except OSError:
        return  # a link (ELOOP), a directory, or gone: nothing of ours to rewrite
    with os.fdopen(fd, "r+b") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return
        data = file.read()
        if old in data:
            file.seek(0)
            file.write(data.replace(old, new))
            file.truncate()


def write_new(directory: Path, name: str, data: bytes) -> None:
    """Write file `name` in `directory` as a new file, never through what was there.

    Whatever a sandbox left under that name (a link to a host file) is removed first.
    """
    with open_directory(directory) as folder:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=folder)
        fd = os.open(name, NEW_FILE_FLAGS, 0o644, dir_fd=folder)
        with os.fdopen(fd, "wb") as file:
            file.write(data)


def read_inside(folder: Path, relative: str, limit: int) -> bytes | None:
    """The bytes of regular file `relative` under `folder`, reached through no link.

    Every directory on the way and the file itself are opened without following a
    link, so a link anywhere in the path (`build` -> `/etc`) is never read through.
    None when `relative` is unsafe (`path_problem`), or the file is missing, a link, not
    a regular file, or larger than `limit` bytes.
    """
    if path_problem(relative) is not None:
        return None
    *parents, name = relative.split("/")
    try:
        with contextlib.ExitStack() as stack:
            directory = stack.enter_context(open_directory(folder))
            for part in parents:
                directory = stack.enter_context(open_directory(Path(part), directory))
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(name, flags, dir_fd=directory)
            with os.fdopen(fd, "rb") as file:
                info = os.fstat(file.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
                    return None
                data = file.read(limit + 1)  # it may grow while read
                return data if len(data) <= limit else None
    except OSError:
        return None
