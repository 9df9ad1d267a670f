"""The values a WASM run takes and gives: its limits, its slice, its mounts and its outcome."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

__all__ = ["Mount", "WasmLimits", "WasmOutcome", "WasmSlice"]

# Store limits are C int64 and fuel a C uint64; staying far below both keeps every
# value representable without a ctypes overflow.
_MAX_COUNT = 2**62


@dataclass(frozen=True)
class WasmLimits:
    """The limits one call runs under; every one is always set on the store.

    Attributes:
        fuel: Wasmtime fuel units (about one per simple instruction); running out stops
            the call with `LimitExceeded(limit="fuel")`.
        memory_bytes: The most linear memory the module may have. Growing past it fails
            (`memory.grow` gives -1, so C's `malloc` returns NULL); a call that then
            traps or exits non-zero with its memory within a sixteenth of this limit is
            reported as `LimitExceeded(limit="memory")`. A module that starts with more
            memory than this is refused before it runs.
        timeout_s: Wall-clock seconds before the call is stopped with
            `TimeLimitExceeded(limit="time")`; checked every epoch tick (10 ms).
        stdout_bytes: The most stdout kept; writing more stops the call with
            `LimitExceeded(limit="stdout")`.
        stderr_bytes: The same for stderr (`limit="stderr"`).
        table_elements: The most elements in the module's tables (8 bytes each).
    """

    fuel: int = 10_000_000_000
    memory_bytes: int = 256 * 2**20
    timeout_s: float = 10.0
    stdout_bytes: int = 4 * 2**20
    stderr_bytes: int = 64 * 2**10
    table_elements: int = 1_000_000

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "timeout_s":
                _check_seconds(field.name, value)
            else:
                _check_count(field.name, value)


@dataclass(frozen=True)
class WasmSlice:
    """A short first try at a call, for a caller that must not wait long (an event loop).

    A call run `within` a slice gets at most the slice's fuel, time and host I/O, and
    may not sleep. If it needs more, it is stopped and `SliceExhausted` is raised:
    nothing of it is kept, and the caller runs it again, from a fresh instance, without
    a slice (on a thread that may wait). The call's own limits still apply inside the
    slice, so a limit it hits there is reported as usual. Only calls without mounts can
    be sliced, so that nothing outside the instance sees the first try.

    Attributes:
        fuel: At most this much fuel (plain wasm burns about 10 units a microsecond
            here, so the default is about 2 ms).
        timeout_s: At most this much wall-clock time; like `WasmLimits.timeout_s` it is
            checked each epoch tick (10 ms), so it bounds host calls that burn no fuel.
        io_bytes: At most this many bytes moved by host functions (stdout, stderr, and
            `random_get`, which costs about 2.5 ms a MiB here): one host call burns no
            fuel and is not stopped by a tick, so this bounds what one call can take.
    """

    fuel: int = 20_000_000
    timeout_s: float = 0.005
    io_bytes: int = 2**20

    def __post_init__(self) -> None:
        _check_count("fuel", self.fuel, "WasmSlice")
        _check_seconds("timeout_s", self.timeout_s, "WasmSlice")
        _check_count("io_bytes", self.io_bytes, "WasmSlice")


def _check_count(name: str, value: object, owner: str = "WasmLimits") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_COUNT:
        msg = f"{owner}.{name} must be a whole number from 1 to 2**62, not {value!r}"
        raise ValueError(msg)


def _check_seconds(name: str, value: object, owner: str = "WasmLimits") -> None:
    if not _is_positive_seconds(value):
        msg = f"{owner}.{name} must be a positive finite number of seconds, not {value!r}"
        raise ValueError(msg)


def _is_positive_seconds(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value > 0


@dataclass(frozen=True)
class Mount:
    """A host directory the module may see, read-only unless declared writable.

    Attributes:
        host: The host directory; it must exist when a call starts.
        guest: The path the module opens it by, such as `/data`.
        writable: Whether the module may create, change or delete files in it.
    """

    host: Path
    guest: str
    writable: bool = False

    def __post_init__(self) -> None:
        if not self.guest or "\0" in self.guest or "\0" in str(self.host):
            msg = f"a mount needs a non-empty guest path without NUL bytes, not {self.guest!r}"
            raise ValueError(msg)


@dataclass(frozen=True)
class WasmOutcome:
    """How a call ended when no limit or trap stopped it.

    Attributes:
        exit_code: 0 when `_start` returned, else the code given to WASI `proc_exit`.
        stdout: Everything the module wrote to stdout (at most `stdout_bytes`).
        stderr: Everything it wrote to stderr (at most `stderr_bytes`).
        fuel_used: Fuel units the call consumed.
        elapsed_s: Wall-clock seconds from the start of the call to its end.
    """

    exit_code: int
    stdout: bytes
    stderr: bytes
    fuel_used: int
    elapsed_s: float
