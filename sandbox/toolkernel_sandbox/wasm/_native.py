"""wasmtime C calls that wasmtime-py does not wrap, or wraps slowly, through its own ctypes.

- `set_stdin_bytes`: stdin from memory (`wasi_config_set_stdin_bytes`), about twice as
  fast as a temporary file.
- `watch_epochs`: an epoch-deadline callback (`wasmtime_store_epoch_deadline_callback`),
  so each tick asks Python whether this one store should go on. That lets a call be
  stopped for its own reasons (its wall-clock deadline, an output cap) while other
  stores on the same engine keep running.
- `interrupt`: from a host function, move the caller's epoch deadline to now, so a call
  that was just stopped traps at its next epoch check instead of the next tick.
- `define_raw_func` and `caller_memory`: a host function behind wasmtime's unchecked C
  API, given the raw caller and argument array. wasmtime-py's `Linker.define_func`
  wraps each call in a `Caller` and `Val` objects: about 12 us a call, against 2 here.
- `call_start`: call an instance's `_start` (checked at load to be `[] -> []`) without
  the export map and type lookups wasmtime-py's `Func.__call__` makes, about 10 us.

All use `wasmtime._ffi` and a few underscored names of wasmtime-py, which are private:
the bindings are looked up when this module is imported, so a wasmtime without them
fails loudly at import, not in a call; the runner's tests exercise every one.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable
from typing import Any

from wasmtime import FuncType, Instance, Linker, Store, WasiConfig, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime import _func as wasmtime_func

__all__ = [
    "STOP_MESSAGE",
    "RawFunc",
    "call_start",
    "caller_memory",
    "define_raw_func",
    "interrupt",
    "set_stdin_bytes",
    "unwatch_epochs",
    "watch_epochs",
]

STOP_MESSAGE = "toolkernel_sandbox: call stopped by its epoch watcher"

_NEEDED = (
    "WASMTIME_EXTERN_FUNC",
    "WASMTIME_EXTERN_MEMORY",
    "bytes_to_capi",
    "wasi_config_set_stdin_bytes",
    "wasmtime_caller_context",
    "wasmtime_caller_export_get",
    "wasmtime_context_set_epoch_deadline",
    "wasmtime_error_new",
    "wasmtime_extern_t",
    "wasmtime_func_call",
    "wasmtime_func_unchecked_callback_t",
    "wasmtime_instance_export_get",
    "wasmtime_linker_define_func_unchecked",
    "wasmtime_memory_data",
    "wasmtime_memory_data_size",
    "wasmtime_store_epoch_deadline_callback",
    "wasmtime_trap_new",
    "wasmtime_update_deadline_kind_t",
)
_missing = [name for name in _NEEDED if not hasattr(ffi, name)]
if not hasattr(wasmtime_func, "enter_wasm"):
    _missing.append("wasmtime._func.enter_wasm")
if _missing:
    _msg = (
        f"this wasmtime package lacks the C bindings {_missing} that toolkernel_sandbox.wasm "
        "needs; install a wasmtime release from 50 on (pip install 'wasmtime>=50')"
    )
    raise ImportError(_msg)

_CONTINUE = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE: keep running, no async yield

_DeadlineCallback = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
_NO_FINALIZER = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))

# Handle -> "may this store go on?". Handles never repeat, and each step is one dict
# operation, which the GIL makes atomic across the threads that run calls.
_WATCHERS: dict[int, Callable[[], bool]] = {}
_HANDLES = itertools.count(1)

_FUNC_KIND = ffi.WASMTIME_EXTERN_FUNC.value
_MEMORY_KIND = ffi.WASMTIME_EXTERN_MEMORY.value
_START = b"_start"
_MEMORY = b"memory"

RawFunc = Callable[[Any, Any], None]
"""A raw host function: `(caller pointer, raw argument array)`; it writes its results
(raw `i32`s) over the arguments, from index 0. If it raises, the call traps."""
_HOST_FAILED = b"toolkernel_sandbox: a host function failed"

# The C callbacks of raw functions, kept for the life of the process: wasmtime holds them.
_RAW_FUNCS: list[object] = []


def set_stdin_bytes(wasi: WasiConfig, data: bytes) -> None:
    """Make `data` the whole of the module's stdin."""
    vec = ffi.bytes_to_capi(data)
    # The config takes ownership of the vector's buffer, so it is not freed here.
    ffi.wasi_config_set_stdin_bytes(wasi.ptr(), ctypes.byref(vec))


def watch_epochs(store: Store, keep_going: Callable[[], bool]) -> int:
    """Call `keep_going` at each epoch tick while `store` runs wasm; False traps it.

    The store's deadline is set one tick ahead, and moved one tick on each time
    `keep_going` returns True. The trap carries `STOP_MESSAGE`.

    Returns:
        A handle to give `unwatch_epochs` once the store is done.
    """
    handle = next(_HANDLES)
    _WATCHERS[handle] = keep_going
    ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), _on_deadline, handle, _NO_FINALIZER)
    store.set_epoch_deadline(1)
    return handle


def interrupt(context: Any) -> None:
    """Have the epoch watcher of a store (its context pointer) asked at its next check.

    Wasm checks its epoch at every function entry and loop back edge, so a host
    function that has just stopped its call (`CallState.stop`) makes it trap almost at
    once. A call whose watcher still answers True just goes on.
    """
    ffi.wasmtime_context_set_epoch_deadline(context, 0)


def define_raw_func(linker: Linker, module: str, name: str, ty: FuncType, func: RawFunc) -> None:
    """Define (or shadow) `module.name` in `linker` as the raw host function `func`.

    Raises:
        WasmtimeError: `linker` refused the definition.
    """

    def callback(_env: object, caller: Any, args: Any, _count: int) -> int:
        try:
            func(caller, args)
        except BaseException:
            # Never let the guest run on with results that were not written: trap it.
            trap = ffi.wasmtime_trap_new(_HOST_FAILED, len(_HOST_FAILED))
            return ctypes.cast(trap, ctypes.c_void_p).value or 0
        return 0  # no trap

    raw = ffi.wasmtime_func_unchecked_callback_t(callback)
    _RAW_FUNCS.append(raw)
    module_bytes, name_bytes = module.encode(), name.encode()
    linker.allow_shadowing = True
    try:
        error = ffi.wasmtime_linker_define_func_unchecked(
            linker.ptr(),
            module_bytes,
            len(module_bytes),
            name_bytes,
            len(name_bytes),
            ty.ptr(),
            raw,
            None,
            _NO_FINALIZER,
        )
    finally:
        linker.allow_shadowing = False
    if error:
        raise WasmtimeError._from_ptr(error)


def caller_memory(caller: Any) -> tuple[Any, int, int] | None:
    """The calling instance's exported `memory`: (context, base address, size), or None."""
    item: Any = ffi.wasmtime_extern_t()  # ctypes reads its `kind` as a plain int
    if not ffi.wasmtime_caller_export_get(caller, _MEMORY, len(_MEMORY), ctypes.byref(item)):
        return None
    if item.kind != _MEMORY_KIND:
        return None
    context = ffi.wasmtime_caller_context(caller)
    memory = ctypes.byref(item.of.memory)
    base = ctypes.cast(ffi.wasmtime_memory_data(context, memory), ctypes.c_void_p).value
    return context, base or 0, ffi.wasmtime_memory_data_size(context, memory)


def call_start(store: Store, instance: Instance) -> None:
    """Call the instance's `_start`, which `check_command` found to be `[] -> []`.

    Raises:
        ExitTrap: The module called `proc_exit` (a normal exit, with its code).
        Trap: The module trapped.
        WasmtimeError: It has no `_start` function, or the call failed otherwise.
    """
    context = store._context()
    item: Any = ffi.wasmtime_extern_t()
    found = ffi.wasmtime_instance_export_get(
        context, ctypes.byref(instance._instance), _START, len(_START), ctypes.byref(item)
    )
    if not found or item.kind != _FUNC_KIND:
        msg = "the instance has no `_start` function"
        raise WasmtimeError(msg)
    with wasmtime_func.enter_wasm(store) as trap:
        error = ffi.wasmtime_func_call(context, ctypes.byref(item.of.func), None, 0, None, 0, trap)
        if error:
            raise WasmtimeError._from_ptr(error)


def unwatch_epochs(handle: int) -> None:
    """Forget the watcher behind `handle` (idempotent)."""
    _WATCHERS.pop(handle, None)


def _deadline_reached(
    _context: object,
    data: int | None,
    delta: ctypes._Pointer[ctypes.c_uint64],
    kind: ctypes._Pointer[ctypes.c_uint8],
) -> int:
    # An exception must not cross into wasmtime: ctypes would print it and return 0,
    # which means "continue" with whatever deadline delta happened to be there.
    try:
        keep_going = _WATCHERS.get(data or 0)
        if keep_going is not None and keep_going():
            delta[0] = 1
            kind[0] = _CONTINUE
            return 0
    except BaseException:  # noqa: S110 - stopping the store is the safe answer
        pass
    # wasmtime takes ownership of the error and turns it into the call's trap.
    error = ffi.wasmtime_error_new(STOP_MESSAGE.encode())
    return ctypes.cast(error, ctypes.c_void_p).value or 0


# Kept at module level for the life of the process: wasmtime holds the raw pointer.
_on_deadline = _DeadlineCallback(_deadline_reached)
