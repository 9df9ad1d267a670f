"""A WASI `random_get` whose work a slice bounds.

Filling a guest buffer with random bytes is one host call that burns no fuel and is
not stopped by an epoch tick: WASI's own fills any size it is asked for (256 MiB take
about 0.7 s here). That is fine on a worker thread, but a call tried within a
`WasmSlice` runs on its caller's thread (an event loop), so this one first counts the
bytes against the slice (`CallState.spend_io`): a call that asks for more is stopped, to
be run again where it may take its time. It fills the buffer from `os.urandom` (the
kernel's CSPRNG, as WASI's own) a MiB at a time, never holding a copy of the whole.

Bad guest pointers give `EFAULT`; the function never raises.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from wasmtime import FuncType, Linker, ValType

from toolkernel_sandbox.wasm._call import current_call
from toolkernel_sandbox.wasm._command import WASI_MODULE
from toolkernel_sandbox.wasm._native import caller_memory, define_raw_func, interrupt

__all__ = ["define_bounded_random"]

_EFAULT, _EIO = 21, 29
_CHUNK = 2**20
_U32 = 0xFFFF_FFFF


def define_bounded_random(linker: Linker) -> None:
    """Replace `random_get` in `linker`, which must already define WASI."""
    i32 = ValType.i32()
    define_raw_func(linker, WASI_MODULE, "random_get", FuncType([i32, i32], [i32]), _random_get)


def _random_get(caller: Any, args: Any) -> None:
    """`random_get(buf, buf_len) -> errno`, on raw arguments."""
    try:
        args[0].i32 = _errno(caller, args[0].i32 & _U32, args[1].i32 & _U32)
    except Exception:  # any surprise: fail the call, never the host
        args[0].i32 = _EFAULT


def _errno(caller: Any, buf: int, length: int) -> int:
    memory = caller_memory(caller)
    if memory is None:
        return _EFAULT
    context, base, size = memory
    if buf + length > size:
        return _EFAULT
    call = current_call()
    if call is not None and not call.spend_io(length):
        interrupt(context)
        return _EIO
    for start in range(0, length, _CHUNK):
        chunk = min(_CHUNK, length - start)
        ctypes.memmove(base + buf + start, os.urandom(chunk), chunk)
    return 0
