"""Unsafe bundles are refused before anything is extracted or written."""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from pathlib import Path

import pytest
from bundle_support import factory_at
from hypothesis import given
from hypothesis import strategies as st

from toolkernel.bundles import BundleLimits, import_tools, read_tool_folder, safe_member
from toolkernel.bundles._paths import extract_archive
from toolkernel.errors import BundleError

pytestmark = pytest.mark.timeout(120)

TOOL_JSON = json.dumps({"name": "local.ok", "kind": "script", "language": "python"}).encode()
MAIN = b"print(1)\n"


def archive(path: Path, *members: tarfile.TarInfo, data: dict[str, bytes] | None = None) -> Path:
    """A .tar.gz with a valid tool folder plus the given (crafted) members."""
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in (("ok/tool.json", TOOL_JSON), ("ok/main.py", MAIN)):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        for member in members:
            payload = (data or {}).get(member.name, b"")
            if member.isfile():
                member.size = member.size or len(payload)
            tar.addfile(member, io.BytesIO(payload) if member.isfile() else None)
    return path


def member(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 0
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = size
    return info


@pytest.mark.parametrize(
    ("crafted", "message"),
    [
        (member("/etc/evil"), "an absolute path"),
        (member("ok/../../evil"), "a '..' part"),
        (member("ok/link", tarfile.SYMTYPE, "../../../etc/passwd"), "a symlink to"),
        (member("ok/abs", tarfile.SYMTYPE, "/etc/passwd"), "a symlink to"),
        (member("ok/hard", tarfile.LNKTYPE, "../outside"), "a hard link to"),
        (member("ok/dev", tarfile.CHRTYPE), "devices, FIFOs"),
        (member("ok/fifo", tarfile.FIFOTYPE), "devices, FIFOs"),
        (member("ok\\win.txt"), "a backslash"),
    ],
)
def test_unsafe_archive_members_are_refused_and_nothing_is_written(
    tmp_path: Path, crafted: tarfile.TarInfo, message: str
) -> None:
    bundle = archive(tmp_path / "evil.tar.gz", crafted)
    with factory_at(tmp_path / "home") as factory:
        with pytest.raises(BundleError, match=message):
            import_tools(factory, bundle)
        assert factory.registry.registry_tools() == []
    assert not (tmp_path / "evil").exists()
    assert not Path("/etc/evil").exists()


def test_archives_over_the_size_or_member_limits_are_refused(tmp_path: Path) -> None:
    big = member("ok/big.bin", size=4096)
    bundle = archive(tmp_path / "big.tar.gz", big, data={"ok/big.bin": b"x" * 4096})
    with factory_at(tmp_path / "home") as factory:
        with pytest.raises(BundleError, match="over the per-file limit of 1,024"):
            import_tools(factory, bundle, limits=BundleLimits(file_bytes=1024))
        with pytest.raises(BundleError, match="more than 2,048 bytes"):
            import_tools(factory, bundle, limits=BundleLimits(total_bytes=2048))
        with pytest.raises(BundleError, match="the limit is 1"):
            import_tools(factory, bundle, limits=BundleLimits(members=1))
        assert factory.registry.registry_tools() == []


def test_a_link_inside_the_bundle_is_refused_too(tmp_path: Path) -> None:
    inside = member("ok/again.py", tarfile.SYMTYPE, "main.py")
    bundle = archive(tmp_path / "fine.tar.gz", inside)
    with factory_at(tmp_path / "home") as factory:
        with pytest.raises(BundleError, match="a bundle holds only files and folders"):
            import_tools(factory, bundle)
        assert factory.registry.registry_tools() == []


def test_a_chain_of_links_each_harmless_alone_writes_nothing_outside(tmp_path: Path) -> None:
    # Each link stays inside on its own; followed in order they reach tmp_path/escaped.
    target = tmp_path / "escaped"
    chain = [
        member("ok/a", tarfile.SYMTYPE, "."),
        member("ok/a/b", tarfile.SYMTYPE, ".."),
        member("ok/a/b/c", tarfile.SYMTYPE, ".."),
        member("ok/a/b/c/escaped", size=5),
    ]
    bundle = archive(tmp_path / "chain.tar.gz", *chain, data={"ok/a/b/c/escaped": b"owned"})
    with factory_at(tmp_path / "home") as factory, pytest.raises(BundleError, match="a symlink"):
        import_tools(factory, bundle)
    assert not target.exists()


def test_the_long_path_trick_of_cve_2025_4517_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    # The published exploit nests long folder names until the resolved path exceeds
    # PATH_MAX, where the `data` filter stops resolving links and lets one point out.
    long = "d" * 247
    steps = "/".join([long] * 16)
    members = [
        member(f"ok/{steps}", tarfile.DIRTYPE),
        member(f"ok/{steps}/l", tarfile.SYMTYPE, "../" * 16),
        member("ok/escape", tarfile.SYMTYPE, f"{steps}/l/../../../../../../../../tmp"),
        member("ok/escape/owned", size=5),
    ]
    bundle = archive(tmp_path / "cve.tar.gz", *members, data={"ok/escape/owned": b"owned"})
    with factory_at(tmp_path / "home") as factory:
        with pytest.raises(BundleError, match="a symlink to"):
            import_tools(factory, bundle)
        assert factory.registry.registry_tools() == []
    assert not Path("/tmp/owned").exists()


def test_a_member_that_appears_twice_is_refused(tmp_path: Path) -> None:
    twice = member("ok/main.py", size=len(MAIN))
    bundle = archive(tmp_path / "twice.tar.gz", twice, data={"ok/main.py": MAIN})
    with factory_at(tmp_path / "home") as factory, pytest.raises(BundleError, match="twice"):
        import_tools(factory, bundle)


def test_extracted_files_are_private_and_only_regular(tmp_path: Path) -> None:
    bundle = archive(tmp_path / "plain.tar.gz")
    destination = tmp_path / "out"
    extract_archive(bundle, destination, BundleLimits())
    assert (destination / "ok" / "main.py").read_bytes() == MAIN
    assert (destination / "ok" / "main.py").stat().st_mode & 0o077 == 0
    with pytest.raises(BundleError, match="already exists"):
        extract_archive(bundle, destination, BundleLimits())


def test_a_tool_folder_with_a_symlink_out_or_unknown_keys_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "tool"
    folder.mkdir()
    (folder / "tool.json").write_text(json.dumps({"kind": "script", "language": "python"}))
    (folder / "main.py").write_text("print(1)\n")
    (folder / "secrets").symlink_to("/etc/passwd")
    with pytest.raises(BundleError, match="a symlink to /etc/passwd, outside the tool folder"):
        read_tool_folder(folder)
    (folder / "secrets").unlink()
    assert read_tool_folder(folder).name == "local.tool"
    (folder / "tool.json").write_text(json.dumps({"kind": "script", "sorce": "x"}))
    with pytest.raises(BundleError, match="unknown keys sorce; allowed: annotations"):
        read_tool_folder(folder)


def test_importing_nothing_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with factory_at(tmp_path / "home") as factory:
        with pytest.raises(BundleError, match="no tools found"):
            import_tools(factory, tmp_path / "empty")
        with pytest.raises(BundleError, match="nothing to import at"):
            import_tools(factory, tmp_path / "missing")


@given(st.text(alphabet=st.sampled_from(["a", "b", ".", "/", "\\", ":", "\x00", " "]), max_size=12))
def test_a_member_name_is_refused_or_stays_inside_the_destination(name: str) -> None:
    try:
        path = safe_member(name)
    except BundleError:
        return
    joined = posixpath.normpath(posixpath.join("/dest", path.as_posix()))
    assert joined.startswith("/dest/"), f"{name!r} escaped to {joined!r}"
    assert ".." not in path.parts
    assert not path.is_absolute()


@given(st.lists(st.sampled_from(["a", "..", ".", "", "b c"]), min_size=1, max_size=6))
def test_any_name_with_a_dotdot_part_or_leading_slash_is_refused(parts: list[str]) -> None:
    name = "/".join(parts)
    if ".." in parts or name.startswith("/"):
        with pytest.raises(BundleError):
            safe_member(name)
