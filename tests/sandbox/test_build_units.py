"""The build package's pure parts: diagnostics, sources, policy and its public names."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from toolkernel_sandbox import BuildError
from toolkernel_sandbox import build as build_package
from toolkernel_sandbox.build import LANGUAGES, Toolchain, build_policy
from toolkernel_sandbox.build._diagnostics import MAX_LINES, LineCleaner, summarize
from toolkernel_sandbox.build._sources import cargo_config, rust_binary_name, rust_project


def test_exported_members_are_pinned() -> None:
    assert set(build_package.__all__) == {
        "INSTALL",
        "LANGUAGES",
        "Toolchain",
        "build",
        "build_policy",
        "find_toolchain",
    }
    assert LANGUAGES == ("c", "rust", "wasm", "wat", "zig")


def test_cleaned_lines_lose_colours_and_build_dir_paths() -> None:
    forwarded: list[str] = []
    work = Path("/tmp/toolkernel-build-abc")
    cleaner = LineCleaner((work / "src", work), forwarded.append)
    cleaner(f"\x1b[1m{work}/src/main.c:3:5: \x1b[31merror:\x1b[0m bad thing  ")
    cleaner(f"wrote {work}/out.wasm")
    assert forwarded == ["main.c:3:5: error: bad thing", "wrote out.wasm"]
    assert cleaner.lines == forwarded


def test_a_summary_starts_at_the_first_error_and_drops_progress() -> None:
    lines = [
        "   Compiling serde v1.0.152",
        "warning: unused import",
        "",
        "error[E0308]: mismatched types",
        " --> src/main.rs:2:22",
        "    Finished release",
    ]
    assert summarize(lines) == "error[E0308]: mismatched types\n --> src/main.rs:2:22"


def test_a_long_summary_is_trimmed_and_says_how_much_was_cut() -> None:
    lines = ["main.c:1:1: error: first", *(f"note {i}" for i in range(500))]
    text = summarize(lines)
    assert text.startswith("main.c:1:1: error: first")
    assert text.endswith(f"({501 - MAX_LINES} more lines)")
    assert text.count("\n") == MAX_LINES


def test_a_summary_without_an_error_line_keeps_the_tail() -> None:
    lines = [f"line {i}" for i in range(100)]
    assert summarize(lines).splitlines()[-1] == "line 99"


def test_a_lone_main_rs_gets_a_cargo_toml_with_the_crates_it_uses() -> None:
    files = rust_project("fn main() { let v: serde_json::Value = serde_json::json!(1); }")
    manifest = tomllib.loads(files["Cargo.toml"])
    assert manifest["package"]["name"] == "tool"
    assert manifest["dependencies"] == {"serde_json": "1"}
    assert "src/main.rs" in files


def test_a_main_rs_key_moves_under_src() -> None:
    files = rust_project({"main.rs": "fn main() {}"})
    assert set(files) == {"src/main.rs", "Cargo.toml"}
    assert tomllib.loads(files["Cargo.toml"])["dependencies"] == {}


def test_the_binary_name_comes_from_bin_or_package() -> None:
    package = '[package]\nname = "my-tool"\nversion = "0.1.0"\n'
    assert rust_binary_name(package) == "my-tool"
    assert rust_binary_name(package + '[[bin]]\nname = "runner"\npath = "src/main.rs"\n') == (
        "runner"
    )
    with pytest.raises(BuildError, match="no \\[package\\] name"):
        rust_binary_name("[dependencies]\n")
    with pytest.raises(BuildError, match="not valid TOML"):
        rust_binary_name("[package\n")


def test_cargo_is_always_offline_and_uses_vendored_crates_when_given() -> None:
    vendored = tomllib.loads(cargo_config(Path("/usr/share/cargo/registry")))
    assert vendored["net"]["offline"] is True
    assert vendored["source"]["crates-io"]["replace-with"] == "vendored"
    assert vendored["source"]["vendored"]["directory"] == "/usr/share/cargo/registry"
    assert "source" not in tomllib.loads(cargo_config(None))


def test_the_build_policy_has_no_network_and_shows_only_what_it_needs(tmp_path: Path) -> None:
    toolchain = Toolchain(
        "zig", "zig", Path("/opt/zig/zig"), read_only=(Path("/opt/zig"),), env={"A": "1"}
    )
    policy = build_policy(toolchain, writable=(tmp_path,), timeout_s=120, env={"B": "2"})
    assert policy.network is False
    assert policy.read_only == (Path("/opt/zig"),)
    assert policy.writable == (tmp_path,)
    assert dict(policy.env) == {"A": "1", "B": "2"}
    assert policy.timeout_s == 120


def test_source_bytes_are_refused_for_compiled_languages(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="must be text"):
        build_package.build("c", b"int main(void){}", work_dir=tmp_path)
