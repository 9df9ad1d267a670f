"""The `wasm` kind: WASI command modules built from Rust, C, Zig or WAT, run in wasmtime.

A module reads its arguments as one JSON object on stdin and prints one JSON value on
stdout, under fuel, memory, wall-clock and output limits, with no host files but the
mounts its policy grants (read-only by default).
"""

from toolkernel.kinds.wasm._build import WASM_LANGUAGES
from toolkernel.kinds.wasm._kind import WasmKind

__all__ = ["WASM_LANGUAGES", "WasmKind"]
