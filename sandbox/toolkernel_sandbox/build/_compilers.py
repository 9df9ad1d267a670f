"""One compiler run per language: the files it reads, the argv, what it writes where."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from toolkernel_sandbox._errors import BuildError
from toolkernel_sandbox.build._crates import (
    CrateSource,
    check_manifests,
    fetch_config,
    fetch_env,
)
from toolkernel_sandbox.build._sources import (
    cargo_config,
    rust_binary_name,
    rust_project,
    write_sources,
)
from toolkernel_sandbox.build._toolchain import Toolchain

__all__ = ["Invocation", "prepare_invocation"]

# DWARF would make a small tool ten times larger; the name section (kept) is enough
# for readable traps.
_C_FLAGS = ("-O2", "-fno-color-diagnostics", "-Wl,--strip-debug")
# Fetch through the configured source; one folder per crate version, as a vendor dir.
_VENDOR_FLAGS = ("--respect-source-config", "--versioned-dirs")


@dataclass(frozen=True)
class Invocation:
    """A compiler run, with its sources already on disk.

    Attributes:
        argv: The compiler's argv.
        cwd: Where it runs (the source directory), as seen inside the sandbox.
        output: The `.wasm` file it writes.
        writable: Directories it writes to: the work dir and any caches.
        env: Variables on top of the toolchain's.
        roots: Directories whose paths diagnostics show relative to them.
        lock: A file to hold while it runs (a cache other builds of its scope share),
            outside every writable directory; or None.
        network: Whether it may use the network (only a fetch of crates may).
        read_only: Host folders it reads besides the toolchain (a local registry).
        fetch: For cargo with a registry: the run that fetches the crates first.
        offline_env: For cargo with a registry: the `env` that builds against the
            toolchain's vendored crates instead, if the fetch fails; or None.
        fetched_lock: For cargo with a registry: the lockfile a failed fetch may have
            left, pinning versions the vendored crates lack (None: the source's own).
    """

    argv: list[str]
    cwd: Path
    output: Path
    writable: tuple[Path, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    roots: tuple[Path, ...] = ()
    lock: Path | None = None
    network: bool = False
    read_only: tuple[Path, ...] = ()
    fetch: Invocation | None = None
    offline_env: Mapping[str, str] | None = None
    fetched_lock: Path | None = None


def prepare_invocation(
    toolchain: Toolchain,
    source: str | Mapping[str, str],
    *,
    work_dir: Path,
    cache_dir: Path | None,
    scope: str = "",
    crates: CrateSource | None = None,
) -> Invocation:
    """Write `source` under `work_dir` and say how to compile it with `toolchain`.

    What one build may leave for the next: zig's global cache (its compiler runs no
    code of the source's, so it may be shared), and cargo's target directory only
    within one `scope` (build scripts and macros are code: one tool's build must not
    leave anything another tool's build reads). Cargo's home is made fresh in
    `work_dir` for every build, its config written before any sandbox has run there.

    With `crates`, a Rust project that needs registry crates gets a `fetch` run first:
    `cargo vendor` into `work_dir/vendor`, with the network, its own fresh cargo home,
    and only `work_dir` writable; the compile then uses that folder alone.

    Raises:
        BuildError: The files cannot make a program (no `.c` file, no root `.zig`
            file, a bad Cargo.toml, a path outside the project, a git dependency).
    """
    caches = cache_dir or work_dir / ".cache"
    if toolchain.kind == "cargo":
        return _cargo(toolchain, source, work_dir, caches / "cargo", scope=scope, crates=crates)
    src = work_dir / "src"
    files = write_sources(toolchain.language, source, src)
    out = work_dir / "out.wasm"
    if toolchain.kind == "clang":
        argv = [str(toolchain.compiler), "--target=wasm32-wasi", *_C_FLAGS]
        argv += ["-o", str(out), *_c_files(files)]
        return Invocation(argv, src, out, (work_dir,), roots=(src, work_dir))
    zig_env = {
        "ZIG_GLOBAL_CACHE_DIR": str(caches / "zig"),
        "ZIG_LOCAL_CACHE_DIR": str(work_dir / "zig-local"),
    }
    writable = (work_dir, caches / "zig") if cache_dir else (work_dir,)
    if toolchain.kind == "zig-cc":
        argv = [str(toolchain.compiler), "cc", "-target", "wasm32-wasi", *_C_FLAGS]
        argv += ["-o", str(out), *_c_files(files)]
        return Invocation(argv, src, out, writable, zig_env, (src, work_dir))
    argv = [str(toolchain.compiler), "build-exe", "-target", "wasm32-wasi"]
    argv += ["-O", "ReleaseSmall", "--color", "off", f"-femit-bin={out}"]
    argv += ["--global-cache-dir", zig_env["ZIG_GLOBAL_CACHE_DIR"]]
    argv += ["--cache-dir", zig_env["ZIG_LOCAL_CACHE_DIR"], str(_zig_root(files))]
    return Invocation(argv, src, out, writable, zig_env, (src, work_dir))


def _cargo(
    toolchain: Toolchain,
    source: str | Mapping[str, str],
    work_dir: Path,
    caches: Path,
    *,
    scope: str,
    crates: CrateSource | None,
) -> Invocation:
    project = work_dir / "project"
    files = rust_project(source)
    # Checked whether or not anything is fetched: even offline, a manifest stays inside.
    fetch_from = crates if check_manifests(files) else None
    write_sources("rust", files, project)
    vendor = work_dir / "vendor"
    cargo_home = _cargo_home(
        work_dir / "cargo-home",
        cargo_config(vendor if fetch_from is not None else toolchain.registry),
    )
    key = hashlib.sha256(scope.encode()).hexdigest()[:16]
    target_dir = caches / key / "target"
    argv = [str(toolchain.compiler), "build", "--release", "--offline"]
    argv += ["--target", toolchain.target, "--target-dir", str(target_dir)]
    env = {"CARGO_HOME": str(cargo_home), "CARGO_TERM_COLOR": "never"}
    output = (
        target_dir / toolchain.target / "release" / f"{rust_binary_name(files['Cargo.toml'])}.wasm"
    )
    inside = caches.is_relative_to(work_dir)
    writable = (work_dir,) if inside else (work_dir, caches / key)
    lock = None if inside else caches / f"{key}.lock"
    if fetch_from is None:
        return Invocation(argv, project, output, writable, env, (project, work_dir), lock)
    fetch_home = _cargo_home(work_dir / "fetch-home", fetch_config(fetch_from))
    fetch = Invocation(
        [str(toolchain.compiler), "vendor", *_VENDOR_FLAGS, str(vendor)],
        project,
        vendor,
        (work_dir,),
        {**fetch_env(), "CARGO_HOME": str(fetch_home), "CARGO_TERM_COLOR": "never"},
        (project, work_dir),
        network=True,
        read_only=fetch_from.read_only + _ca_bundle(fetch_env()),
    )
    offline_env = None
    if toolchain.registry is not None:
        offline_home = _cargo_home(work_dir / "offline-home", cargo_config(toolchain.registry))
        offline_env = {**env, "CARGO_HOME": str(offline_home)}
    return Invocation(
        argv,
        project,
        output,
        writable,
        env,
        (project, work_dir),
        lock,
        fetch=fetch,
        offline_env=offline_env,
        fetched_lock=None if "Cargo.lock" in files else project / "Cargo.lock",
    )


def _cargo_home(home: Path, config: str) -> Path:
    """A fresh cargo home holding `config`, written before any sandbox runs."""
    home.mkdir()
    (home / "config.toml").write_text(config, encoding="utf-8")
    return home


def _ca_bundle(env: Mapping[str, str]) -> tuple[Path, ...]:
    """The CA bundle a fetch is pointed at, when the sandbox would not show it."""
    bundle = env.get("CARGO_HTTP_CAINFO")
    if bundle is None or bundle.startswith(("/etc/ssl/", "/usr/")):
        return ()
    return (Path(bundle),)


def _c_files(files: list[Path]) -> list[str]:
    sources = [str(path) for path in files if path.suffix == ".c"]
    if not sources:
        msg = "no .c file among the sources; name the program's file main.c"
        raise BuildError(msg, language="c")
    return sources


def _zig_root(files: list[Path]) -> Path:
    zig = [path for path in files if path.suffix == ".zig"]
    if Path("main.zig") in zig:
        return Path("main.zig")
    if len(zig) == 1:
        return zig[0]
    msg = "cannot tell which .zig file holds `pub fn main`; name it main.zig"
    raise BuildError(msg, language="zig")
