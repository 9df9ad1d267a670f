"""Writing in a tree that sandboxed code could write: through directory fds, no links.

A sandbox that could write a folder may have left a link anywhere in it, pointing at a
host file. The host (often root) must never write through one, so everything here opens
relative to a directory descriptor with `O_NOFOLLOW`, and creates files with `O_EXCL`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DIR_FLAGS", "NEW_FILE_FLAGS", "open_directory", "replace_in_file", "write_new"]

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
"""Open a directory, refusing a link in its place."""
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
"""Create a file that did not exist, refusing a link in its place."""


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
