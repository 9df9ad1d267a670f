"""A WASI `fd_write` that puts stdout and stderr straight into the call's capped buffers.

wasmtime's custom output streams (`WasiConfig.stdout_custom`) hand each write to a tokio
worker thread, which then takes the GIL to run the Python callback while the call's own
thread waits: two thread switches per write, about 100 us of a 150 us call (measured
here on a module that echoes its stdin). This host function runs on the thread that
runs the wasm instead, through wasmtime's unchecked C API (`define_raw_func`), and
copies the guest's buffers into the call's `OutputCap`s. Passing a cap stops the call at
its next epoch check, not at the next tick.

It serves descriptors 1 and 2 only; any other gets `EBADF`. That is what WASI's own
`fd_write` answers for every other descriptor a call without a writable mount can
hold (stdin, read-only files, directories), so the runner defines it for those calls
and keeps WASI's own (with the stream callbacks) for calls with a writable mount.

Bad guest pointers give `EFAULT`; more than `_IOV_MAX` buffers give `EINVAL`, which
bounds the work one call does (it burns no fuel), and only what fits under the cap (and
one byte more, to tell that it did not fit) is copied out of the guest. A call tried in
a slice is stopped once its writes pass the slice's `io_bytes`. The function never
raises.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

from wasmtime import FuncType, Linker, ValType

from toolkernel_sandbox.wasm._call import CallState, current_call
from toolkernel_sandbox.wasm._command import WASI_MODULE
from toolkernel_sandbox.wasm._native import caller_memory, define_raw_func, interrupt

__all__ = ["define_captured_output"]

_IOVEC = struct.Struct("<II")  # buf, buf_len
_SIZE = struct.Struct("<I")
_EBADF, _EFAULT, _EINVAL, _EIO = 8, 21, 28, 29
_IOV_MAX = 1024  # as POSIX writev
_U32 = 0xFFFF_FFFF


def define_captured_output(linker: Linker) -> None:
    """Replace `fd_write` in `linker`, which must already define WASI."""
    i32 = ValType.i32()
    define_raw_func(linker, WASI_MODULE, "fd_write", FuncType([i32] * 4, [i32]), _fd_write)


def _fd_write(caller: Any, args: Any) -> None:
    """`fd_write(fd, iovs, iovs_len, nwritten) -> errno`, on raw arguments."""
    try:
        args[0].i32 = _errno(caller, args)
    except Exception:  # any surprise: fail the write, never the host
        args[0].i32 = _EFAULT


def _errno(caller: Any, args: Any) -> int:
    call = current_call()
    fd = args[0].i32
    if call is None or fd not in (1, 2):
        return _EBADF
    memory = caller_memory(caller)
    if memory is None:
        return _EFAULT
    context, base, size = memory
    where = (fd, args[1].i32 & _U32, args[2].i32 & _U32, args[3].i32 & _U32)
    errno = _write(base, size, call, where)
    if call.stopped_by is not None:
        interrupt(context)
    return errno


def _write(base: int, size: int, call: CallState, where: tuple[int, int, int, int]) -> int:
    fd, iovs, count, nwritten = where
    if count > _IOV_MAX:
        return _EINVAL
    if iovs + count * _IOVEC.size > size or nwritten + _SIZE.size > size:
        return _EFAULT
    vectors = list(_IOVEC.iter_unpack(ctypes.string_at(base + iovs, count * _IOVEC.size)))
    if any(buf + length > size for buf, length in vectors):
        return _EFAULT
    cap = call.stdout if fd == 1 else call.stderr
    total = 0
    for buf, length in vectors:
        if not length:
            continue
        taken = min(length, cap.room + 1)  # one byte past the room tells the cap it is full
        if not call.spend_io(taken) or cap.write(ctypes.string_at(base + buf, taken)) < 0:
            return _EIO
        total += length
    ctypes.memmove(base + nwritten, _SIZE.pack(total), _SIZE.size)
    return 0
