"""Two wasmtime C calls that wasmtime-py does not wrap, made through its own ctypes bindings.

- `set_stdin_bytes`: stdin from memory (`wasi_config_set_stdin_bytes`), about twice as
  fast as a temporary file.
- `watch_epochs`: an epoch-deadline callback (`wasmtime_store_epoch_deadline_callback`),
  so each tick asks Python whether this one store should go on. That lets a call be
  stopped for its own reasons (its wall-clock deadline, an output cap) while other
  stores on the same engine keep running.

Both use `wasmtime._ffi`, which is private: the bindings are looked up when this module
is imported, so a wasmtime without them fails loudly at import, not in a call.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable

from wasmtime import Store, WasiConfig
from wasmtime import _ffi as ffi

__all__ = ["STOP_MESSAGE", "set_stdin_bytes", "unwatch_epochs", "watch_epochs"]

STOP_MESSAGE = "toolkernel_sandbox: call stopped by its epoch watcher"

_NEEDED = (
    "bytes_to_capi",
    "wasi_config_set_stdin_bytes",
    "wasmtime_error_new",
    "wasmtime_store_epoch_deadline_callback",
    "wasmtime_update_deadline_kind_t",
)
_missing = [name for name in _NEEDED if not hasattr(ffi, name)]
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
