"""`build`: source in, WASI command module out, with the compiler run in the sandbox."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import math
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import wasmtime

from toolkernel_sandbox._errors import BuildError, TimeLimitExceeded
from toolkernel_sandbox.build._compilers import Invocation, prepare_invocation
from toolkernel_sandbox.build._crates import crate_source
from toolkernel_sandbox.build._diagnostics import LineCleaner, summarize
from toolkernel_sandbox.build._toolchain import LANGUAGES, Toolchain, find_toolchain
from toolkernel_sandbox.process import ProcessPolicy, run, share_writable

__all__ = ["build", "build_policy"]

_WASM_MAGIC = b"\0asm\x01\0\0\0"
_FETCH_TIMEOUT_S = 600.0  # an old cargo clones the whole crates.io git index


def build(
    language: str,
    source: str | bytes | Mapping[str, str],
    *,
    work_dir: Path,
    on_line: Callable[[str], None] | None = None,
    timeout_s: float = 300.0,
    cache_dir: Path | None = None,
    toolchain: Toolchain | None = None,
    backend: str | None = None,
    scope: str = "",
    crates: str | None = None,
) -> bytes:
    """Compile `source` to a WASI command module and return its bytes.

    Compilers run in the process sandbox (build scripts and macros are code): the work
    and cache directories writable, the toolchain read-only, no network.

    Rust crates come from the toolchain's vendored registry (Debian's), offline, unless
    `crates` names a registry. Then a project that depends on registry crates has them
    fetched first by `cargo vendor` (which runs no build script or macro), the one step
    with the network, into a folder of `work_dir`; the compile then runs offline
    against that folder. If the fetch fails and the toolchain has vendored crates,
    those are used instead, and `on_line` is told so.

    Args:
        language: One of `LANGUAGES`.
        source: The program. `wasm`: the module's bytes. `wat`, `c`, `zig`: one text,
            or relative file name -> text. `rust`: a `main.rs` text (a Cargo.toml is
            generated, with serde_json when the code uses it), or files including
            `Cargo.toml` and `src/main.rs`.
        work_dir: An empty directory to build in; sources and output are written here.
        on_line: Called with each line the compiler prints, as it prints it (cleaned:
            no colours, paths relative to the source).
        timeout_s: Wall-clock seconds for the whole compile (a fetch of crates apart).
        cache_dir: Kept between builds: zig's global cache (its first build of libc
            takes about half a minute) and cargo's home and target directory.
        toolchain: The toolchain to use; by default `find_toolchain(language)`.
        backend: The sandbox backend; by default the best available.
        scope: Who may share writable build caches (a tool's name): builds of different
            scopes share nothing that one of them could write and another read.
        crates: Where Rust crates are fetched from: `crates.io`, a registry index URL
            (`sparse+https://...` or a git index's `https://...`), or an absolute
            folder (a local registry with an `index/`, or a vendored folder); None:
            no fetch, the toolchain's vendored crates only.

    Raises:
        ValueError: `language` is not one of `LANGUAGES`.
        ToolchainMissing: No compiler for `language`; `install` says what to run.
        BuildError: The source did not compile; `diagnostics` holds the compiler's
            errors, trimmed, with paths relative to the source. Also: a Cargo.toml that
            reaches outside the project or names git or another registry; `crates`
            that names no registry; crates that could not be fetched.
        TimeLimitExceeded: The compile ran past `timeout_s` (a fetch has ten minutes
            of its own, and failing them counts as a failed fetch).
        SandboxUnavailable: No sandbox can run the compiler here.
    """
    if language not in LANGUAGES:
        msg = f"cannot build {language!r}; choose one of {', '.join(LANGUAGES)}"
        raise ValueError(msg)
    if language == "wasm":
        return _checked_module(source, language)
    if language == "wat":
        return _wat(source)
    if isinstance(source, bytes):
        msg = f"{language} source must be text (or file name -> text), not bytes"
        raise BuildError(msg, language=language)
    toolchain = toolchain or find_toolchain(language)
    registry = crate_source(crates) if crates is not None and language == "rust" else None
    work_dir.mkdir(parents=True, exist_ok=True)
    invocation = prepare_invocation(
        toolchain, source, work_dir=work_dir, cache_dir=cache_dir, scope=scope, crates=registry
    )
    with _exclusive(invocation.lock):
        failed_fetch = ""
        if invocation.fetch is not None and registry is not None:
            invocation, failed_fetch = _fetch(
                invocation,
                invocation.fetch,
                toolchain,
                registry=registry.setting,
                on_line=on_line,
                backend=backend,
            )
        _compile(
            language,
            toolchain,
            invocation=invocation,
            on_line=on_line,
            timeout_s=timeout_s,
            backend=backend,
            failed_fetch=failed_fetch,
        )
        return _checked_module(_read_output(invocation.output, language), language)


def build_policy(
    toolchain: Toolchain,
    *,
    writable: tuple[Path, ...],
    timeout_s: float = 300.0,
    env: Mapping[str, str] | None = None,
    network: bool = False,
    read_only: tuple[Path, ...] = (),
) -> ProcessPolicy:
    """The sandbox a compiler runs in: `writable` dirs, the toolchain read-only, no network.

    Limits are set for compilers, which are large, threaded and spawn helpers; the
    wall clock (`timeout_s`) is the real bound. `env` adds to the toolchain's variables.
    `network` is for a fetch of crates alone, never for a step that runs the source's
    code; `read_only` adds host folders (a local crate registry).
    """
    return ProcessPolicy(
        network=network,
        read_only=(*toolchain.read_only, *read_only),
        writable=writable,
        env={**toolchain.env, **(env or {})},
        cpu_s=max(60, math.ceil(timeout_s) * (os.cpu_count() or 1)),
        memory_bytes=16 * 2**30,
        processes=512,
        file_size_bytes=2 * 2**30,
        open_files=4096,
        timeout_s=timeout_s,
        stdout_bytes=16 * 2**20,
        stderr_bytes=16 * 2**20,
    )


def _compile(
    language: str,
    toolchain: Toolchain,
    *,
    invocation: Invocation,
    on_line: Callable[[str], None] | None,
    timeout_s: float,
    backend: str | None,
    failed_fetch: str = "",
) -> None:
    diagnostics = _run_step(toolchain, invocation, on_line, timeout_s, backend)
    if diagnostics is not None:
        msg = f"the {language} source did not build; fix it and build again:\n{diagnostics}"
        if failed_fetch:
            msg = (
                f"{failed_fetch}; with the toolchain's vendored crates instead, the {language} "
                f"source did not build:\n{diagnostics}"
            )
        raise BuildError(msg, language=language, diagnostics=diagnostics)


def _fetch(
    invocation: Invocation,
    fetch: Invocation,
    toolchain: Toolchain,
    *,
    registry: str,
    on_line: Callable[[str], None] | None,
    backend: str | None,
) -> tuple[Invocation, str]:
    """Run `fetch`; on failure, have `invocation` build with the vendored crates instead.

    Returns the compile to run, and why the fetch failed when it fell back ("" if not).

    Raises:
        BuildError: The fetch failed and the toolchain has no vendored crates.
    """
    if on_line is not None:
        on_line(f"fetching crates from {registry}")
    try:
        # cargo vendor prints the config we already wrote; only its progress is shown.
        diagnostics = _run_step(toolchain, fetch, on_line, _FETCH_TIMEOUT_S, backend, stdout=False)
    except TimeLimitExceeded:
        diagnostics = f"the fetch ran past {_FETCH_TIMEOUT_S:g} s"
    if diagnostics is None:
        return dataclasses.replace(invocation, fetch=None, offline_env=None), ""
    failed = f"could not fetch the crates from {registry}:\n{diagnostics}\n"
    if invocation.offline_env is None:
        msg = (
            f"{failed}check the crate names and versions, the network, and the crate "
            f"registry setting (or turn fetching off to build with vendored crates only)"
        )
        raise BuildError(msg, language="rust", diagnostics=diagnostics)
    if on_line is not None:
        on_line(f"could not fetch crates from {registry}; building with the vendored crates")
    if invocation.fetched_lock is not None:
        # Only cargo has run in the project (no code of the source's), so no link there.
        invocation.fetched_lock.unlink(missing_ok=True)
    offline = dataclasses.replace(invocation, env=invocation.offline_env, fetch=None)
    return offline, failed.rstrip("\n")


def _run_step(
    toolchain: Toolchain,
    invocation: Invocation,
    on_line: Callable[[str], None] | None,
    timeout_s: float,
    backend: str | None,
    *,
    stdout: bool = True,
) -> str | None:
    """Run one sandboxed step; None when it succeeded, else its trimmed diagnostics."""
    for path in invocation.writable:
        _share_tree(path)
    policy = build_policy(
        toolchain,
        writable=invocation.writable,
        timeout_s=timeout_s,
        env=invocation.env,
        network=invocation.network,
        read_only=invocation.read_only,
    )
    cleaner = LineCleaner(invocation.roots, on_line)
    done = run(
        invocation.argv,
        policy=policy,
        cwd=invocation.cwd,
        backend=backend,
        on_stdout_line=cleaner if stdout else None,
        on_stderr_line=cleaner,
    )
    return None if done.returncode == 0 else summarize(cleaner.lines)


def _wat(source: str | bytes | Mapping[str, str]) -> bytes:
    text = _single_text(source, "wat")
    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as exc:
        diagnostics = summarize(str(exc).splitlines())
        msg = f"the wat source did not parse; fix it and build again:\n{diagnostics}"
        raise BuildError(msg, language="wat", diagnostics=diagnostics) from exc


def _single_text(source: str | bytes | Mapping[str, str], language: str) -> str:
    if isinstance(source, Mapping) and len(source) == 1:
        source = next(iter(source.values()))
    if not isinstance(source, str):
        msg = f"{language} source must be one text, not {type(source).__name__}"
        raise BuildError(msg, language=language)
    return source


def _checked_module(data: object, language: str) -> bytes:
    """`data` if it is a valid WebAssembly module, else a BuildError saying why."""
    if not isinstance(data, bytes | bytearray):
        msg = f"a {language} module must be given as bytes, not {type(data).__name__}"
        raise BuildError(msg, language=language)
    if bytes(data[:8]) != _WASM_MAGIC:
        msg = "this is not a WebAssembly module (it does not start with \\0asm, version 1)"
        raise BuildError(msg, language=language)
    try:
        wasmtime.Module.validate(wasmtime.Engine(), bytes(data))
    except wasmtime.WasmtimeError as exc:
        msg = f"the WebAssembly module is invalid: {exc}"
        raise BuildError(msg, language=language, diagnostics=str(exc)) from exc
    return bytes(data)


def _read_output(output: Path, language: str) -> bytes:
    try:
        return output.read_bytes()
    except FileNotFoundError as exc:
        msg = f"the {language} compiler succeeded but wrote no {output.name}; is it a program?"
        raise BuildError(msg, language=language) from exc


def _share_tree(root: Path) -> None:
    """Hand `root` and what this process wrote in it to the sandbox user (if we are root).

    Directories the sandbox made are its own already, and are not walked: a cache can
    hold many thousands of files.
    """
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return
    for parent, dirs, files in os.walk(root):
        share_writable(Path(parent))
        for name in files:
            if (Path(parent) / name).stat(follow_symlinks=False).st_uid == 0:
                share_writable(Path(parent) / name)
        dirs[:] = [d for d in dirs if (Path(parent) / d).stat(follow_symlinks=False).st_uid == 0]


@contextlib.contextmanager
def _exclusive(lock_path: Path | None) -> Iterator[None]:
    """Hold `lock_path`, so a build's output is not overwritten before it is read.

    The lock file sits outside every directory a sandbox writes, and is opened without
    following a link, so no build can point this process's write elsewhere.
    """
    if lock_path is None:
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(lock_path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
