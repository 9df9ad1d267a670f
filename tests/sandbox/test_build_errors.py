"""Failed builds: readable diagnostics, missing toolchains, and compilers kept in the sandbox."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from build_support import run_wasm, toolchain_or_skip

from toolkernel_sandbox import BuildError, ToolchainMissing
from toolkernel_sandbox.build import INSTALL, build, find_toolchain

BROKEN_C = """\
#include <stdio.h>

int main(void) {
    printf("%d\\n", undeclared_count);
    return 0;
}
"""
BROKEN_RS = """\
fn main() {
    let total: u32 = "seven";
    println!("{}", total);
}
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.getbasetemp().parent / "toolkernel-build-cache"
    path.mkdir(exist_ok=True)
    return path


def assert_readable(diagnostics: str, work_dir: Path) -> None:
    assert "\x1b[" not in diagnostics  # no colour codes
    assert str(work_dir) not in diagnostics  # no temp-dir noise
    assert len(diagnostics) < 6100


def test_a_c_compile_error_names_the_file_line_and_code(tmp_path: Path) -> None:
    toolchain_or_skip("c")
    work_dir = tmp_path / "w"
    with pytest.raises(BuildError) as caught:
        build("c", BROKEN_C, work_dir=work_dir)
    error = caught.value
    assert error.language == "c"
    assert "main.c:4:" in error.diagnostics
    assert "undeclared_count" in error.diagnostics
    assert "printf(" in error.diagnostics  # the offending source line itself
    assert error.diagnostics in str(error)
    assert_readable(error.diagnostics, work_dir)


def test_a_rust_compile_error_names_the_file_line_and_code(tmp_path: Path, cache_dir: Path) -> None:
    toolchain_or_skip("rust")
    work_dir = tmp_path / "w"
    with pytest.raises(BuildError) as caught:
        build("rust", BROKEN_RS, work_dir=work_dir, cache_dir=cache_dir)
    diagnostics = caught.value.diagnostics
    assert diagnostics.startswith("error[E0308]: mismatched types")
    assert "src/main.rs:2:" in diagnostics
    assert 'let total: u32 = "seven";' in diagnostics
    assert "Compiling" not in diagnostics  # progress is not a diagnostic
    assert_readable(diagnostics, work_dir)


def test_a_zig_compile_error_names_the_file_and_line(tmp_path: Path, cache_dir: Path) -> None:
    toolchain_or_skip("zig")
    source = 'pub fn main() void {\n    const x: u32 = "nope";\n    _ = x;\n}\n'
    with pytest.raises(BuildError) as caught:
        build("zig", source, work_dir=tmp_path / "w", cache_dir=cache_dir)
    assert "main.zig:2:" in caught.value.diagnostics
    assert_readable(caught.value.diagnostics, tmp_path / "w")


def test_a_wat_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="did not parse") as caught:
        build("wat", "(module\n  (func (result i32)\n    (i32.bogus 1)))", work_dir=tmp_path)
    assert "3:" in caught.value.diagnostics
    assert "i32.bogus" in caught.value.diagnostics


@pytest.mark.parametrize("language", ["c", "rust", "zig"])
def test_a_missing_toolchain_says_what_to_install(language: str) -> None:
    with pytest.raises(ToolchainMissing) as caught:
        find_toolchain(language, path="/nonexistent/bin")
    error = caught.value
    assert (error.language, error.install) == (language, INSTALL[language])
    assert error.install in str(error)


def test_missing_toolchain_messages_name_the_alternatives() -> None:
    with pytest.raises(ToolchainMissing) as c_missing:
        find_toolchain("c", path="")
    assert c_missing.value.install == (
        "apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32"
    )
    assert "pip install 'toolkernel[wasm]'" in str(c_missing.value)
    with pytest.raises(ToolchainMissing) as rust_missing:
        find_toolchain("rust", path="")
    assert "rustup target add wasm32-wasip1" in str(rust_missing.value)
    assert "apt-get install rustc cargo libstd-rust-dev-wasm32" in str(rust_missing.value)


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="c, rust, wasm, wat, zig"):
        find_toolchain("cobol")


@pytest.mark.parametrize("name", ["../escape.c", "/etc/evil.c", ""])
def test_source_names_cannot_leave_the_project(tmp_path: Path, name: str) -> None:
    toolchain_or_skip("c")
    with pytest.raises(BuildError, match="relative path inside the project"):
        build("c", {name: "int main(void){return 0;}"}, work_dir=tmp_path / "w")
    assert not (tmp_path / "escape.c").exists()


def test_the_compiler_cannot_read_host_secrets(tmp_path: Path) -> None:
    toolchain_or_skip("c")
    assert Path("/etc/shadow").exists()
    source = '#include "/etc/shadow"\nint main(void) { return 0; }\n'
    with pytest.raises(BuildError) as caught:
        build("c", source, work_dir=tmp_path / "w")
    assert "/etc/shadow' file not found" in caught.value.diagnostics


def test_a_rust_build_script_runs_without_home_or_network(tmp_path: Path, cache_dir: Path) -> None:
    toolchain_or_skip("rust")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        build_rs = f"""
        fn main() {{
            assert!(std::fs::read_dir("/root").is_err(), "build script listed /root");
            assert!(std::fs::read_to_string("/etc/shadow").is_err(), "build script read it");
            let reached = std::net::TcpStream::connect(("127.0.0.1", {port})).is_ok();
            assert!(!reached, "build script reached the host's loopback");
        }}
        """
        files = {
            "Cargo.toml": '[package]\nname = "probe"\nversion = "0.1.0"\nedition = "2021"\n',
            "build.rs": build_rs,
            "src/main.rs": 'fn main() { println!("built"); }\n',
        }
        wasm = build("rust", files, work_dir=tmp_path / "w", cache_dir=cache_dir)
    assert run_wasm(wasm, b"", tmp_path) == (0, b"built\n")


def test_the_host_environment_does_not_reach_the_compiler(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toolchain_or_skip("rust")
    monkeypatch.setenv("TOOLKERNEL_TEST_LEAK", "secret")
    # option_env! bakes the variable's value at compile time into the module.
    source = 'fn main() { println!("{}", option_env!("TOOLKERNEL_TEST_LEAK").unwrap_or("none")); }'
    wasm = build("rust", source, work_dir=tmp_path / "w", cache_dir=cache_dir)
    assert run_wasm(wasm, b"", tmp_path) == (0, b"none\n")
