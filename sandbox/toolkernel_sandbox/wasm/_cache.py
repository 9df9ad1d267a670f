"""Compiled modules: compile once, then deserialize from an on-disk cache.

A cache file is named by the module's sha256 and a fingerprint of the wasmtime version,
the machine and the engine settings, so a file is only ever read back by an engine that
can run it. Files are written whole (a temporary file, then a rename), so another
process never reads half of one. Each file holds a sha256 of its payload, checked before
`Module.deserialize`, because wasmtime trusts serialized code: a damaged file is
recompiled and rewritten, never run.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import threading
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path

from wasmtime import Engine, Module, WasmtimeError

from toolkernel_sandbox._errors import SandboxError

__all__ = ["ModuleCache", "engine_fingerprint"]

_log = logging.getLogger(__name__)

_MAGIC = b"toolkernel-cwasm-1\n"
_DIGEST_LEN = 64  # hex sha256 of the payload, then a newline


def engine_fingerprint(settings: Mapping[str, object]) -> str:
    """Name what a compiled module depends on: wasmtime, the machine, engine settings."""
    described = ";".join(f"{key}={settings[key]!r}" for key in sorted(settings))
    digest = hashlib.sha256(described.encode()).hexdigest()[:12]
    return f"wasmtime{version('wasmtime')}-{platform.machine()}-{digest}"


class ModuleCache:
    """Turns wasm bytes into a `Module`, through an optional directory of compiled code.

    Thread-safe; `compiled_count` counts modules this cache compiled rather than read.
    """

    def __init__(self, engine: Engine, fingerprint: str, directory: Path | None) -> None:
        """Compile with `engine`; keep compiled code under `directory` (None: keep none)."""
        self._engine = engine
        self._fingerprint = fingerprint
        self._directory = directory
        self._lock = threading.Lock()
        self._compiled = 0

    @property
    def compiled_count(self) -> int:
        """How many modules were compiled, not read back from the cache directory."""
        return self._compiled

    def path_for(self, sha256: str) -> Path | None:
        """The cache file of the module whose wasm has this sha256 (None: no directory)."""
        if self._directory is None:
            return None
        return self._directory / f"{sha256}-{self._fingerprint}.cwasm"

    def module(self, wasm: bytes, sha256: str) -> Module:
        """Read the compiled module back from the cache, or compile it (and cache it).

        Raises:
            SandboxError: `wasm` is not a valid WebAssembly module.
        """
        path = self.path_for(sha256)
        cached = self._read(path) if path is not None else None
        if cached is not None:
            return cached
        module = self._compile(wasm)
        if path is not None:
            self._write(path, module)
        return module

    def _compile(self, wasm: bytes) -> Module:
        try:
            module = Module(self._engine, wasm)
        except WasmtimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
            msg = (
                f"the module is not valid WebAssembly ({first}); rebuild it for "
                "wasm32-wasi (wasm32-wasip1) and load the .wasm file's bytes"
            )
            raise SandboxError(msg) from exc
        with self._lock:
            self._compiled += 1
        return module

    def _read(self, path: Path) -> Module | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            _log.warning("cannot read compiled module %s (%s); compiling instead", path, exc)
            return None
        payload = _payload(data)
        if payload is not None:
            try:
                return Module.deserialize(self._engine, payload)
            except WasmtimeError as exc:
                _log.warning("compiled module %s does not load (%s); recompiling", path, exc)
                return None
        _log.warning("compiled module %s is damaged; recompiling it", path)
        return None

    def _write(self, path: Path, module: Module) -> None:
        payload = bytes(module.serialize())
        digest = hashlib.sha256(payload).hexdigest().encode()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(_MAGIC + digest + b"\n" + payload)
            tmp.replace(path)
        except OSError as exc:
            # The cache only saves time: a full or read-only disk must not fail a load.
            _log.warning("cannot cache compiled module at %s (%s)", path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def _payload(data: bytes) -> bytes | None:
    """The serialized module inside a cache file, or None if the file is damaged."""
    head = len(_MAGIC) + _DIGEST_LEN + 1
    if not data.startswith(_MAGIC) or len(data) < head or data[head - 1 : head] != b"\n":
        return None
    payload = data[head:]
    digest = data[len(_MAGIC) : head - 1].decode("ascii", "replace")
    return payload if hashlib.sha256(payload).hexdigest() == digest else None
