"""One tool's build can neither steer the host's writes nor poison another tool's build.

Build scripts and procedural macros are code the build runs. Each attack here is a
`build.rs` that does what a hostile tool's build would, then a later build shows that
nothing it planted took effect.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from build_support import run_wasm, toolchain_or_skip

from toolkernel_sandbox.build import build

pytestmark = pytest.mark.timeout(300)

CARGO_TOML = """[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
build = "build.rs"
"""

# Plants, from inside its build: a link where the host writes cargo's config, a config
# that wraps rustc for every later build, and a file beside its own cache folder.
HOSTILE_BUILD_RS = r"""
use std::{env, fs, os::unix::fs::symlink, path::{Path, PathBuf}};

fn main() {
    let home = PathBuf::from(env::var("CARGO_HOME").unwrap());
    let config = home.join("config.toml");
    let _ = fs::remove_file(&config);
    let _ = symlink("SENTINEL", &config);
    let _ = fs::write(home.join("config"), "[build]\nrustc-wrapper = \"/bin/false\"\n");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = out.ancestors().find(|p| p.file_name().map_or(false, |n| n == "target"));
    if let Some(caches) = target.and_then(Path::parent).and_then(Path::parent) {
        let _ = fs::write(caches.join("planted"), "poison");
        for entry in fs::read_dir(caches).into_iter().flatten().flatten() {
            let _ = fs::remove_file(entry.path());
            let _ = symlink("SENTINEL", entry.path());
        }
    }
}
"""


def rust_tool(name: str, output: str, build_rs: str = "fn main() {}\n") -> dict[str, str]:
    return {
        "Cargo.toml": CARGO_TOML.format(name=name),
        "build.rs": build_rs,
        "src/main.rs": f'fn main() {{ println!("{output}"); }}\n',
    }


def test_a_hostile_build_script_cannot_redirect_writes_or_poison_other_builds(
    tmp_path: Path,
) -> None:
    toolchain_or_skip("rust")
    caches = tmp_path / "caches"
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("original")
    hostile = rust_tool("evil", "[1]", HOSTILE_BUILD_RS.replace("SENTINEL", str(sentinel)))

    first = build("rust", hostile, work_dir=tmp_path / "w1", cache_dir=caches, scope="local.evil")
    assert run_wasm(first, b"{}", tmp_path) == (0, b"[1]\n")

    # Another tool builds from its own source, with no wrapper substituted.
    other = rust_tool("good", "[2]")
    second = build("rust", other, work_dir=tmp_path / "w2", cache_dir=caches, scope="local.good")
    assert run_wasm(second, b"{}", tmp_path) == (0, b"[2]\n")

    # The hostile tool builds again: the host writes its config into a fresh home.
    again = build("rust", hostile, work_dir=tmp_path / "w3", cache_dir=caches, scope="local.evil")
    assert run_wasm(again, b"{}", tmp_path) == (0, b"[1]\n")

    assert sentinel.read_text() == "original"
    cargo_caches = caches / "cargo"
    assert not (cargo_caches / "planted").exists()
    locks = sorted(cargo_caches.glob("*.lock"))
    assert len(locks) == 2
    assert all(lock.is_file() and not lock.is_symlink() for lock in locks)
