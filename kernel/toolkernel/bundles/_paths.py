"""Path and archive safety: what a bundle may hold before anything is extracted or read.

Every member name must be a relative POSIX path that stays inside the destination: no
absolute paths, drive letters, backslashes, `..`, NUL bytes or empty names. A link must
point inside the bundle; devices and FIFOs are refused. Sizes are checked from the
archive's own headers before extraction, and again while reading files, so an archive
cannot promise small and deliver large. Extraction then uses `tarfile`'s `data` filter as
a second line of defence.
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

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
        BundleError: It is empty, absolute, has a drive, a backslash, NUL, or `..`.
    """
    problem = _problem(name)
    if problem is not None:
        msg = f"refused {name!r} in the bundle: {problem}; every path must stay inside it"
        raise BundleError(msg, path=name)
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return PurePosixPath(*parts)


def _problem(name: str) -> str | None:
    if not isinstance(name, str) or not name.strip("/."):
        return "an empty name"
    if "\x00" in name:
        return "a NUL byte in the name"
    if "\\" in name:
        return "a backslash (paths use '/')"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in name.split("/"):
        return "a '..' part"
    return None


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
        path = safe_member(member.name)
        if member.issym() or member.islnk():
            _check_link(member, path)
        elif not (member.isfile() or member.isdir()):
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


def _check_link(member: tarfile.TarInfo, path: PurePosixPath) -> None:
    target = member.linkname
    # A symlink is relative to its own folder; a hard link to the archive's root.
    base = str(path.parent) if member.issym() else ""
    joined = posixpath.normpath(posixpath.join(base, target)) if target else ""
    if not target or target.startswith("/") or joined == ".." or joined.startswith("../"):
        kind = "symlink" if member.issym() else "hard link"
        msg = f"refused {member.name!r}: a {kind} to {target!r}, outside the bundle"
        raise BundleError(msg, path=member.name)


def extract_archive(archive_path: Path, destination: Path, limits: BundleLimits) -> None:
    """Extract a `.tar`, `.tar.gz`, `.tgz` or `.tar.xz` into `destination`, safely.

    Raises:
        BundleError: The file is not a readable tar archive, or `check_archive` refuses it.
    """
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            check_archive(archive, limits)
            archive.extractall(destination, filter="data")
    except BundleError:
        raise
    except (tarfile.TarError, OSError, EOFError) as exc:
        msg = f"{archive_path} is not a readable tar archive: {exc}"
        raise BundleError(msg, path=str(archive_path)) from exc
