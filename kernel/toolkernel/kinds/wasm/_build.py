"""Build a WASM tool's module from Rust, C, Zig or WAT source (or take a prebuilt one).

Compilers run through `toolkernel_sandbox.build`, in the process sandbox. A build is
cached by the hash of its language and sources: unchanged source reuses its module.
Rust crates are fetched from the context's `crate_registry` (no build script runs
while the network is on), unless it is `off`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import tempfile
import time
from pathlib import Path

from toolkernel.errors import RegistryError, ToolBuildError, ToolchainMissing
from toolkernel.kinds._protocol import KindContext, LineSink
from toolkernel.kinds._sources import source_files
from toolkernel.kinds.wasm._runner import WasmTools

__all__ = [
    "CRATE_REGISTRY_OFF",
    "WASM_LANGUAGES",
    "build_module",
    "crate_setting",
    "wasm_source_files",
]

WASM_LANGUAGES = ("c", "rust", "wasm", "wat", "zig")
"""The source languages a WASM tool can be built from."""

CRATE_REGISTRY_OFF = "off"
"""The `crate_registry` setting that turns fetching crates off."""

_MAIN_FILE = {"c": "main.c", "rust": "src/main.rs", "wat": "main.wat", "zig": "main.zig"}


def wasm_source_files(language: str, source: object) -> dict[str, bytes]:
    """A WASM tool's sources as {relative path: bytes}; a prebuilt module is `module.wasm`.

    Raises:
        RegistryError: An unsafe path, or a module that is neither bytes nor base64.
    """
    if language == "wasm":
        return {"module.wasm": _wasm_bytes(source)}
    return source_files(language, source, _MAIN_FILE[language])


def build_module(
    context: KindContext,
    name: str,
    language: str,
    files: dict[str, bytes],
    on_line: LineSink | None,
) -> str:
    """Build `files` into a module proven to load as a WASI command; return its blob's sha.

    Raises:
        ToolBuildError: The source did not build, or the module is not a WASI command.
        ToolchainMissing: The language's compiler is not installed here.
        SandboxError: The module does not load as a WASI command.
    """
    registry = context.registry
    key = _build_key(language, files)
    marker = context.cache_dir / "builds" / key
    if marker.exists():
        sha = marker.read_text(encoding="ascii").strip()
        if registry.blobs.has(sha):
            _say(on_line, f"{name}: unchanged {language} source, reusing its build")
            return sha
    wasm = _compile(context, name, language, files, on_line)
    _check_loads(context, name, wasm)
    sha = registry.put_blob(wasm)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(sha, encoding="ascii")
    return sha


def crate_setting(registry: str) -> str | None:
    """The sandbox's `crates` for a `crate_registry` setting: None when it is `off`."""
    text = registry.strip()
    return None if text.lower() in {"", CRATE_REGISTRY_OFF} else text


def _check_loads(context: KindContext, name: str, wasm: bytes) -> None:
    """Load `wasm` the way calls will (warming its compiled cache), or raise."""
    tools = WasmTools(context.registry, context.cache_dir / "wasm")
    try:
        tools.check(name, wasm)
    finally:
        tools.close()


def _compile(
    context: KindContext,
    name: str,
    language: str,
    files: dict[str, bytes],
    on_line: LineSink | None,
) -> bytes:
    from toolkernel_sandbox import (  # noqa: PLC0415 - compilers load lazily
        BuildError,
        SandboxError,
    )
    from toolkernel_sandbox import ToolchainMissing as RawToolchainMissing  # noqa: PLC0415
    from toolkernel_sandbox.build import build, find_toolchain  # noqa: PLC0415

    source: bytes | str | dict[str, str]
    if language == "wasm":
        source = files["module.wasm"]
    elif len(files) == 1 and language != "rust":
        source = next(iter(files.values())).decode("utf-8")
    else:
        source = {path: data.decode("utf-8") for path, data in files.items()}
    _say(on_line, f"{name}: building from {language}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="toolkernel-build-") as work:
        try:
            toolchain = None
            if context.toolchain_path is not None and language not in ("wat", "wasm"):
                toolchain = find_toolchain(language, path=context.toolchain_path)
            wasm = build(
                language,
                source,
                work_dir=Path(work),
                on_line=on_line,
                cache_dir=context.cache_dir / "toolchains",
                toolchain=toolchain,
                backend=context.sandbox_backend,
                scope=name,
                crates=crate_setting(context.crate_registry),
            )
        except RawToolchainMissing as exc:
            msg = f"cannot build {name}: {exc}"
            raise ToolchainMissing(msg, tool=name, language=language, install=exc.install) from exc
        except BuildError as exc:
            msg = f"{name} did not build from {language}:\n{exc.diagnostics or exc}"
            raise ToolBuildError(
                msg, tool=name, language=language, diagnostics=exc.diagnostics
            ) from exc
        except SandboxError as exc:
            msg = f"{name} did not build from {language}: {exc}"
            raise ToolBuildError(msg, tool=name, language=language) from exc
    _say(on_line, f"{name}: built {len(wasm):,} bytes in {time.monotonic() - started:.1f} s")
    return bytes(wasm)


def _say(on_line: LineSink | None, line: str) -> None:
    if on_line is not None:
        on_line(line)


def _wasm_bytes(source: object) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, str):
        try:
            return base64.b64decode(source, validate=True)
        except binascii.Error as exc:
            msg = "a prebuilt module is given as bytes, or as base64 text"
            raise RegistryError(msg) from exc
    msg = f"a prebuilt module is given as bytes, or as base64 text, not {type(source).__name__}"
    raise RegistryError(msg)


def _build_key(language: str, files: dict[str, bytes]) -> str:
    digest = hashlib.sha256(language.encode())
    for path in sorted(files):
        digest.update(b"\0" + path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()
