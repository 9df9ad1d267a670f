"""Compile Rust, C, Zig and WAT to WASI command modules, with compilers run sandboxed.

    wasm = build("c", C_SOURCE, work_dir=tmp, on_line=print)
    wasm = build("rust", {"Cargo.toml": ..., "src/main.rs": ...}, work_dir=tmp,
                 cache_dir=Path("~/.cache/toolkernel/toolchains").expanduser())

Toolchains (`find_toolchain`): C with Debian's `clang-14 --target=wasm32-wasi` and
wasi-libc, else `zig cc`; Zig with `zig build-exe -target wasm32-wasi` (the `ziglang`
package, `pip install 'toolkernel[wasm]'`); Rust with the first `rustc` whose sysroot
has the `wasm32-wasip1` (or older `wasm32-wasi`) standard library and that sysroot's
cargo, offline, with Debian's vendored crates when `/usr/share/cargo/registry` exists;
or, given `crates=` (a registry), with crates `cargo vendor` fetched first, in a step
that has the network and runs no build script (see `_crates`).
WAT is assembled in process by wasmtime; a finished `wasm` module is validated.

Compilers run through `toolkernel_sandbox.process.run` (`build_policy`): the work and
cache directories writable, the toolchain read-only, no network, a wall-clock limit.
A fetch of crates runs the same way with the network on and only the work directory
writable; every Cargo.toml is checked before (no path outside, no git, no other registry).

Errors (from `toolkernel_sandbox`): `ToolchainMissing` (its `install` is the command to
run), `BuildError` (its `diagnostics` are the compiler's errors: no colours, paths
relative to the source, trimmed), and the process sandbox's `TimeLimitExceeded`.
"""

from toolkernel_sandbox.build._build import build, build_policy
from toolkernel_sandbox.build._toolchain import INSTALL, LANGUAGES, Toolchain, find_toolchain

__all__ = [
    "INSTALL",
    "LANGUAGES",
    "Toolchain",
    "build",
    "build_policy",
    "find_toolchain",
]
