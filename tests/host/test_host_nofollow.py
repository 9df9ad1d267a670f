"""The host never writes through a link a sandbox left in a tree it could write."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkernel._nofollow import open_directory, replace_in_file, write_new
from toolkernel.kinds.script._envs import _Job, _relocate


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "host-file"
    path.write_text("host data /staging/ here")
    return path


def test_a_marker_planted_as_a_link_is_replaced_not_written_through(
    tmp_path: Path, victim: Path
) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / ".complete").symlink_to(victim)
    write_new(staging, ".complete", b"{}")
    assert victim.read_text() == "host data /staging/ here"
    assert not (staging / ".complete").is_symlink()
    assert (staging / ".complete").read_bytes() == b"{}"


def test_relocating_a_venv_skips_links_even_a_linked_bin_folder(
    tmp_path: Path, victim: Path
) -> None:
    staging = tmp_path / "staging"
    outside = tmp_path / "outside-bin"
    outside.mkdir()
    (outside / "python3").write_text(f"#!{staging}/bin/python")
    staging.mkdir()
    (staging / "bin").symlink_to(outside)
    (staging / "pyvenv.cfg").symlink_to(victim)
    job = _Job("python", (), None, tmp_path / "final", {}, 10.0)  # type: ignore[arg-type]
    with pytest.raises(OSError, match=r"Too many levels of symbolic links|Not a directory"):
        _relocate(job, staging)
    assert (outside / "python3").read_text() == f"#!{staging}/bin/python"
    assert victim.read_text() == "host data /staging/ here"


def test_relocating_rewrites_regular_files_and_leaves_links_alone(
    tmp_path: Path, victim: Path
) -> None:
    staging = tmp_path / "staging"
    (staging / "bin").mkdir(parents=True)
    (staging / "bin" / "pip").write_text(f"#!{staging}/bin/python\n")
    (staging / "bin" / "evil").symlink_to(victim)
    (staging / "pyvenv.cfg").write_text(f"home = /usr/bin\nprompt = {staging}\n")
    job = _Job("python", (), None, tmp_path / "final", {}, 10.0)  # type: ignore[arg-type]
    _relocate(job, staging)
    assert (staging / "bin" / "pip").read_text() == f"#!{tmp_path / 'final'}/bin/python\n"
    assert victim.read_text() == "host data /staging/ here"


def test_replace_in_file_ignores_what_is_not_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    with open_directory(tmp_path) as fd:
        replace_in_file(fd, "folder", b"a", b"b")
        replace_in_file(fd, "missing", b"a", b"b")
    assert (tmp_path / "folder").is_dir()
