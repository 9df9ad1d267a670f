"""A WASI `poll_oneoff` whose sleeps cannot outlast the call's wall-clock limit.

Epoch interruption only fires while wasm code runs. `poll_oneoff`, which is how `sleep`,
`nanosleep` and Rust's `thread::sleep` wait, blocks inside the host, so with wasmtime's
own version a guest sleeping for an hour holds its thread for an hour whatever its time
limit. This replaces it in the runner's linkers (wasmtime's cannot be wrapped: called
from the host it finds no guest memory) with one that sleeps at most until the call's
deadline, then marks the call as stopped by its time limit; back in wasm, the epoch
watcher traps it. A call tried within a slice (`WasmSlice`) never sleeps: a wait stops
it as having outgrown its slice, to be run again where it may wait.

What a sandboxed call can poll is simple: its stdin is in memory, its outputs are
callbacks and its files are regular files, so every file-descriptor subscription is
ready at once (as on Linux for regular files). Only clocks wait. The guest's monotonic
clock counts from the moment its WASI context was made (`CallState.wasi_origin_ns`).

This function never raises: wasmtime-py parks an exception from a host function in one
process-wide slot, which a call on another thread could pick up. Bad guest pointers
become `EFAULT`, as WASI specifies.
"""

from __future__ import annotations

import struct
import time
from typing import NamedTuple

from wasmtime import Caller, FuncType, Linker, Memory, ValType

from toolkernel_sandbox.wasm._call import CallState, current_call
from toolkernel_sandbox.wasm._command import WASI_MODULE
from toolkernel_sandbox.wasm._native import interrupt

__all__ = ["define_bounded_poll"]

_SUBSCRIPTION = struct.Struct("<QB7xIxxxxQ8xH6x")  # userdata, tag, fd|clock id, timeout, flags
_EVENT = struct.Struct("<QHB5xQH6x")  # userdata, error, type, nbytes, flags
_NEVENTS = struct.Struct("<I")
_CLOCK, _FD_READ, _FD_WRITE = 0, 1, 2
_REALTIME, _MONOTONIC = 0, 1
_ABSTIME = 1
_EFAULT, _EINVAL = 21, 28
_U32 = 0xFFFF_FFFF


class _Subscription(NamedTuple):
    userdata: int
    tag: int
    clock_or_fd: int
    timeout: int
    flags: int


def define_bounded_poll(linker: Linker) -> None:
    """Replace `poll_oneoff` in `linker`, which must already define WASI."""
    i32 = ValType.i32()
    linker.allow_shadowing = True
    linker.define_func(
        WASI_MODULE,
        "poll_oneoff",
        FuncType([i32, i32, i32, i32], [i32]),
        _poll_oneoff,
        access_caller=True,
    )
    linker.allow_shadowing = False


def _poll_oneoff(caller: Caller, subs: int, out: int, count: int, nevents: int) -> int:
    try:
        memory = caller.get("memory")
        if not isinstance(memory, Memory):
            return _EFAULT
        call = current_call()
        errno = _poll(caller, memory, call, (subs & _U32, out & _U32, count & _U32, nevents & _U32))
        if call is not None and call.stopped_by is not None:
            interrupt(caller._context())  # private to wasmtime-py, like `_native`'s names
        return errno
    except Exception:  # IndexError from Memory.write on a bad pointer, and any surprise
        return _EFAULT


def _poll(
    caller: Caller, memory: Memory, call: CallState | None, args: tuple[int, int, int, int]
) -> int:
    subs, out, count, nevents = args
    if count == 0:
        return _EINVAL
    raw = memory.read(caller, subs, subs + count * _SUBSCRIPTION.size)
    if len(raw) != count * _SUBSCRIPTION.size:
        return _EFAULT
    wanted = [_Subscription(*fields) for fields in _SUBSCRIPTION.iter_unpack(raw)]
    events = _ready_now(wanted) or _wait_for_clocks(wanted, call)
    memory.write(caller, b"".join(events), out)
    memory.write(caller, _NEVENTS.pack(len(events)), nevents)
    return 0


def _ready_now(wanted: list[_Subscription]) -> list[bytes]:
    """Events that need no waiting: ready descriptors, and clocks WASI cannot read."""
    events = []
    for sub in wanted:
        if sub.tag in (_FD_READ, _FD_WRITE):
            events.append(_EVENT.pack(sub.userdata, 0, sub.tag, 1, 0))
        elif sub.tag != _CLOCK or sub.clock_or_fd not in (_REALTIME, _MONOTONIC):
            events.append(_EVENT.pack(sub.userdata, _EINVAL, sub.tag, 0, 0))
    return events


def _wait_for_clocks(wanted: list[_Subscription], call: CallState | None) -> list[bytes]:
    """Sleep until the first clock fires, or until the call's deadline if sooner."""
    waits = [(sub, _relative_ns(sub, call)) for sub in wanted]
    first = min(wait for _, wait in waits)
    if call is not None and call.within is not None and first > 0:
        call.stop("slice")
        return [_EVENT.pack(sub.userdata, 0, _CLOCK, 0, 0) for sub, _ in waits]
    remaining = call.remaining_ns() if call is not None else first
    time.sleep(min(first, remaining) / 1e9)
    if call is not None and remaining < first:
        call.stop("time")
    return [_EVENT.pack(sub.userdata, 0, _CLOCK, 0, 0) for sub, wait in waits if wait <= first]


def _relative_ns(sub: _Subscription, call: CallState | None) -> int:
    if not sub.flags & _ABSTIME:
        return sub.timeout
    if sub.clock_or_fd == _REALTIME:
        now = time.time_ns()
    else:
        origin = call.wasi_origin_ns if call is not None else time.monotonic_ns()
        now = time.monotonic_ns() - origin
    return max(0, sub.timeout - now)
