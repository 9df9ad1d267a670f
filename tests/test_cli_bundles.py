"""`toolkernel tools versions|diff|rollback|export|import` against a real registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundles.bundle_support import WAT_V1, WAT_V2, factory_at
from toolkernel.cli import main

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    with factory_at(tmp_path / "home") as factory:
        factory.create("local.noop", kind="wasm", language="wat", source=WAT_V1, note="one")
        factory.create("local.noop", kind="wasm", language="wat", source=WAT_V2, note="two")
    return tmp_path / "home"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_versions_diff_and_rollback_from_the_command_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--home", str(home), "tools", "versions", "local.noop", "--json")
    assert code == 0
    assert [v["note"] for v in json.loads(out)] == ["one", "two"]
    code, out, _ = run(capsys, "--home", str(home), "tools", "diff", "local.noop", "1", "2")
    assert code == 0
    assert '+(module (memory (export "memory") 1) (func (export "_start") nop))' in out
    code, out, _ = run(capsys, "--home", str(home), "tools", "rollback", "local.noop", "1")
    assert code == 0
    assert "local.noop is now version 3 (the content of version 1)" in out


def test_export_then_import_into_another_home(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "noop.tar.gz"
    code, out, _ = run(
        capsys, "--home", str(home), "tools", "export", "local", "-o", str(bundle), "--history"
    )
    assert code == 0
    assert f"to {bundle}" in out
    other = tmp_path / "other"
    code, out, _ = run(capsys, "--home", str(other), "tools", "import", str(bundle))
    assert code == 0
    assert out.strip() == "local.noop v2 (created, 1 old version replayed)"
    code, _, err = run(capsys, "--home", str(other), "tools", "import", str(bundle))
    assert code == 1
    assert "local.noop already exists; nothing was imported. Pass overwrite=True" in err


def test_an_unknown_version_is_a_one_line_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--home", str(home), "tools", "diff", "local.noop", "1", "9")
    assert code == 1
    assert err.startswith("toolkernel: ")
    assert "9" in err
