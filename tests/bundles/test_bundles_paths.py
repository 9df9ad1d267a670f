"""The one path checker: every name from outside is refused or stays inside, one way."""

from __future__ import annotations

import io
import posixpath
import tarfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkernel._nofollow import path_problem, read_inside, safe_relative_path
from toolkernel.bundles import BundleLimits, safe_member
from toolkernel.bundles._paths import extract_archive
from toolkernel.errors import BundleError

REFUSED = [
    ("", "an empty name"),
    ("/etc/passwd", "an absolute path"),
    ("/", "an absolute path"),
    ("//server/share", "an absolute path"),
    ("C:/Windows", "a drive letter"),
    ("c:evil", "a drive letter"),
    ("..", "a '..' part"),
    ("../outside", "a '..' part"),
    ("tool/../../outside", "a '..' part"),
    ("tool/..", "a '..' part"),
    ("tool\x00.py", "a NUL byte"),
    ("\x00", "a NUL byte"),
    ("tool\\..\\outside", "a backslash"),
    ("tool\\main.py", "a backslash"),
    (".", "a '.' part"),
    ("./main.py", "a '.' part"),
    ("src/./main.py", "a '.' part"),
    ("src//main.py", "an empty part"),
    ("src/", "an empty part"),
]

# Where the bundle checker (`safe_member`) and the factory's `safe_relative_path` (now
# in `toolkernel.kinds`) answered differently; the shared checker refuses them all.
DISAGREED = [
    ("./main.py", "bundles took it as 'main.py'; the factory refused it"),
    ("src//main.py", "bundles took it as 'src/main.py'; the factory refused it"),
    ("src/./main.py", "bundles took it as 'src/main.py'; the factory refused it"),
    ("src/", "bundles took it as 'src'; the factory refused it"),
    ("src\\main.py", "the factory read '\\' as '/' and took it; bundles refused it"),
    ("C:/main.py", "the factory took it; bundles refused it as absolute"),
    ("main\x00.py", "the factory took it, and writing it failed later; bundles refused it"),
]

ACCEPTED = [
    "main.py",
    "src/main.rs",
    "a/b/c/d.txt",
    ".hidden",
    "..dots",
    "dots..",
    "...",
    "src/.gitignore",
    "with space/file name.md",
    "日本/語.txt",
    "ab:c",  # a colon after the second character is no drive
    "-rf",
]


@pytest.mark.parametrize(("path", "problem"), REFUSED)
def test_each_rule_refuses_its_paths_and_says_which_rule(path: str, problem: str) -> None:
    found = path_problem(path)
    assert found is not None
    assert found.startswith(problem)
    assert not safe_relative_path(path)


@pytest.mark.parametrize(("path", "problem"), REFUSED)
def test_bundles_refuse_the_same_paths_with_the_same_reason(path: str, problem: str) -> None:
    with pytest.raises(BundleError, match=f"refused .* in the bundle: {problem}") as caught:
        safe_member(path)
    assert caught.value.path == path


@pytest.mark.parametrize("path", ACCEPTED)
def test_ordinary_relative_paths_are_accepted_unchanged(path: str) -> None:
    assert path_problem(path) is None
    assert safe_relative_path(path)
    assert safe_member(path) == PurePosixPath(path)
    assert safe_member(path).as_posix() == path


@pytest.mark.parametrize(("path", "why"), DISAGREED)
def test_paths_the_old_checkers_disagreed_on_are_refused_by_both_surfaces(
    path: str, why: str
) -> None:
    assert not safe_relative_path(path), why
    with pytest.raises(BundleError):
        safe_member(path)


@pytest.mark.parametrize("path", [None, 3, b"main.py", PurePosixPath("main.py")])
def test_a_name_that_is_not_a_str_is_refused_by_its_type(path: object) -> None:
    assert path_problem(path) == f"a name of type {type(path).__name__}, not str"
    assert not safe_relative_path(path)


@given(st.text(alphabet=st.sampled_from(["a", ".", "/", "\\", ":", "\x00", " ", "é"]), max_size=12))
def test_an_accepted_path_stays_inside_and_has_one_spelling(path: str) -> None:
    if not safe_relative_path(path):
        return
    assert posixpath.normpath(path) == path
    joined = posixpath.normpath(posixpath.join("/dest", path))
    assert joined == f"/dest/{path}"
    assert all(part not in ("", ".", "..") for part in path.split("/"))


@given(st.lists(st.sampled_from(["a", "..", ".", "", "b c"]), min_size=1, max_size=6))
def test_any_path_with_a_dot_or_empty_part_is_refused(parts: list[str]) -> None:
    path = "/".join(parts)
    refused = any(part in ("", ".", "..") for part in parts)
    assert safe_relative_path(path) is not refused


def test_an_archive_whose_members_start_with_dot_slash_is_refused_before_writing(
    tmp_path: Path,
) -> None:
    # `tar czf x.tgz ./tool` writes such names; the old bundle checker stripped the `./`.
    bundle = tmp_path / "dotted.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        info = tarfile.TarInfo("./tool/tool.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    destination = tmp_path / "out"

    with pytest.raises(BundleError, match=r"refused './tool/tool.json' in the bundle: a '\.'"):
        extract_archive(bundle, destination, BundleLimits())
    assert list(destination.iterdir()) == []


def test_a_folder_artifact_behind_a_linked_directory_is_refused(tmp_path: Path) -> None:

    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "module.wasm").write_bytes(b"host secret")
    folder = tmp_path / "tool"
    folder.mkdir()
    (folder / "build").symlink_to(secret)
    (folder / "real").mkdir()
    (folder / "real" / "module.wasm").write_bytes(b"\0asm")
    # The path passes every name rule; only the link on the way makes it unsafe.
    assert read_inside(folder, "build/module.wasm", 1024) is None
    assert read_inside(folder, "real/module.wasm", 1024) == b"\0asm"
    assert read_inside(folder, "real/module.wasm", 2) is None  # over the limit


def test_a_tool_folder_does_not_read_its_artifact_through_a_linked_directory(
    tmp_path: Path,
) -> None:
    from toolkernel.bundles._folder import read_tool_folder
    from toolkernel.errors import BundleError

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "module.wasm").write_bytes(b"host secret")
    folder = tmp_path / "tool"
    folder.mkdir()
    (folder / "build").symlink_to(outside)
    (folder / "main.wat").write_text("(module)", encoding="utf-8")
    tool_json = '{"kind": "wasm", "language": "wat", "artifact": "build/module.wasm"}'
    (folder / "tool.json").write_text(tool_json, encoding="utf-8")
    with pytest.raises(BundleError, match="link"):
        read_tool_folder(folder)
