"""Path and archive safety: what a bundle may hold before anything is extracted or read.

Every member name must pass `toolkernel._nofollow.path_problem`, the rules every name
from outside obeys: a relative POSIX path that stays inside the destination and spells
each file one way (no absolute paths, drive letters, backslashes, NUL bytes, empty
names or parts, `.` or `..`). Links (symbolic or hard), devices and FIFOs are refused:
a bundle holds files and folders only. Sizes are checked from the archive's own headers
before extraction, and again while writing, so an archive cannot promise small and
deliver large.

Extraction never uses `tarfile`'s own: its safety has depended on the Python patch level
(CVE-2025-4517 bypasses the `data` filter on 3.11.7). Each folder and file is created by
this module, relative to directory file descriptors opened with `O_NOFOLLOW`, files with
`O_EXCL`, under a destination that must not exist yet. Nothing can be redirected through
a link, and a member that appears twice is refused.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from toolkernel._nofollow import DIR_FLAGS, NEW_FILE_FLAGS, path_problem
from toolkernel.errors import BundleError

__all__ = ["BundleLimits", "check_archive", "extract_archive", "safe_member"]


@dataclass(frozen=True)
class BundleLimits:
    """How much an imported bundle, archive or folder may hold.

    Attributes:
        file_bytes: The largest single file.
        total_bytes: All files together.
        members: How many files and folders.
    """

    file_bytes: int = 32 * 1024 * 1024
    total_bytes: int = 128 * 1024 * 1024
    members: int = 5000


def safe_member(name: str) -> PurePosixPath:
    """Return `name` as a relative path that cannot leave its folder.

    Raises:
        BundleError: `path_problem` refuses it: it is empty, absolute, has a drive, a
            backslash, NUL, or an empty, `.` or `..` part.
    """
    problem = path_problem(name)
    if problem is not None:
        msg = f"refused {name!r} in the bundle: {problem}; every path must stay inside it"
        raise BundleError(msg, path=str(name))
    return PurePosixPath(name)


def check_archive(archive: tarfile.TarFile, limits: BundleLimits) -> None:
    """Refuse an archive with an unsafe member, before anything is extracted.

    Raises:
        BundleError: An unsafe name, a link that leaves the archive, a device, or a
            size or member count over `limits`.
    """
    total = 0
    members = archive.getmembers()
    if len(members) > limits.members:
        msg = f"the archive holds {len(members):,} members; the limit is {limits.members:,}"
        raise BundleError(msg)
    for member in members:
        safe_member(member.name)
        if member.issym() or member.islnk():
            kind = "symlink" if member.issym() else "hard link"
            msg = (
                f"refused {member.name!r}: a {kind} to {member.linkname!r}; a bundle holds "
                "only files and folders (replace the link with a copy of its target)"
            )
            raise BundleError(msg, path=member.name)
        if not (member.isfile() or member.isdir()):
            msg = f"refused {member.name!r}: devices, FIFOs and other special files are not allowed"
            raise BundleError(msg, path=member.name)
        if member.size > limits.file_bytes:
            msg = (
                f"refused {member.name!r}: {member.size:,} bytes is over the per-file limit "
                f"of {limits.file_bytes:,}"
            )
            raise BundleError(msg, path=member.name)
        total += member.size
        if total > limits.total_bytes:
            msg = f"the archive holds more than {limits.total_bytes:,} bytes; it is refused"
            raise BundleError(msg)


def extract_archive(archive_path: Path, destination: Path, limits: BundleLimits) -> None:
    """Extract a `.tar`, `.tar.gz`, `.tgz` or `.tar.xz` into `destination`, safely.

    `destination` must not exist yet; it is created, and everything is written below it
    through directory file descriptors, never following a link.

    Raises:
        BundleError: The file is not a readable tar archive, `check_archive` refuses it,
            a member appears twice, or a file is larger than its header said.
    """
    try:
        destination.mkdir(mode=0o700)
    except FileExistsError:
        msg = f"{destination} already exists; extract into a new folder"
        raise BundleError(msg, path=str(destination)) from None
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            check_archive(archive, limits)
            root = os.open(destination, DIR_FLAGS)
            try:
                for member in archive.getmembers():
                    _extract_member(archive, member, root, limits)
            finally:
                os.close(root)
    except BundleError:
        raise
    except (tarfile.TarError, OSError, EOFError) as exc:
        msg = f"{archive_path} is not a readable tar archive: {exc}"
        raise BundleError(msg, path=str(archive_path)) from exc


_CHUNK = 1 << 16


def _extract_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, root: int, limits: BundleLimits
) -> None:
    *folders, leaf = safe_member(member.name).parts
    parent = _open_folders(root, folders if member.isfile() else [*folders, leaf])
    try:
        if member.isfile():
            _write_file(archive, member, parent, leaf, limits)
    finally:
        if parent != root:
            os.close(parent)


def _open_folders(root: int, parts: list[str]) -> int:
    """A descriptor of `root/parts...`, each folder made if missing, no link followed."""
    current = root
    for part in parts:
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, 0o700, dir_fd=current)
        try:
            following = os.open(part, DIR_FLAGS, dir_fd=current)
        finally:
            if current != root:
                os.close(current)
        current = following
    return current


def _write_file(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    parent: int,
    leaf: str,
    limits: BundleLimits,
) -> None:
    mode = 0o700 if member.mode & 0o111 else 0o600
    try:
        fd = os.open(leaf, NEW_FILE_FLAGS, mode, dir_fd=parent)
    except FileExistsError:
        msg = f"refused {member.name!r}: it appears twice in the archive"
        raise BundleError(msg, path=member.name) from None
    source = archive.extractfile(member)
    if source is None:
        os.close(fd)
        return
    written = 0
    with os.fdopen(fd, "wb") as target, source:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > min(member.size, limits.file_bytes):
                msg = f"refused {member.name!r}: it holds more than its header says"
                raise BundleError(msg, path=member.name)
            target.write(chunk)
