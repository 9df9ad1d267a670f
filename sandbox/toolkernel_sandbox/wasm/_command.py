"""Check that a compiled module is a WASI command: `_start`, and only WASI imports."""

from __future__ import annotations

from wasmtime import FuncType, MemoryType, Module

from toolkernel_sandbox._errors import SandboxError

__all__ = ["WASI_MODULE", "check_command"]

WASI_MODULE = "wasi_snapshot_preview1"
_SHOWN = 5


def check_command(module: Module) -> int:
    """Refuse a module that is not a WASI command; return its initial memory in bytes.

    Raises:
        SandboxError: It imports from outside WASI, or has no `_start: [] -> []`.
    """
    foreign = sorted(
        {f"{imp.module}.{imp.name}" for imp in module.imports if imp.module != WASI_MODULE}
    )
    if foreign:
        more = f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else ""
        msg = (
            f"the module imports {', '.join(foreign[:_SHOWN])}{more}, but a tool may import "
            f"only WASI ({WASI_MODULE}); remove those imports, or build for wasm32-wasi "
            "(wasm32-wasip1) without extra host functions"
        )
        raise SandboxError(msg)
    exports = {export.name: export.type for export in module.exports}
    start = exports.get("_start")
    if not isinstance(start, FuncType) or start.params or start.results:
        msg = (
            "the module has no `_start` function taking and returning nothing, so it is not "
            "a WASI command; build it as a program with a main function (a bin crate in "
            "Rust), not as a library or reactor"
        )
        raise SandboxError(msg)
    memories = [kind for kind in exports.values() if isinstance(kind, MemoryType)]
    return max((memory.limits.min * memory.page_size for memory in memories), default=0)
