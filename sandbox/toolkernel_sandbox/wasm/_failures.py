"""Translate how a call failed (a trap, a stop, a full memory) into the sandbox's errors.

A raw wasmtime `Trap` or `WasmtimeError` never leaves the runner: it becomes a
`LimitExceeded` naming the limit, a `SliceExhausted` for a call that outgrew its slice,
or a `SandboxError` quoting the trap's cause, chained to the original with `from`.
"""

from __future__ import annotations

import re

from wasmtime import Trap, TrapCode, WasmtimeError

from toolkernel_sandbox._errors import (
    LimitExceeded,
    SandboxError,
    SliceExhausted,
    TimeLimitExceeded,
)
from toolkernel_sandbox.wasm._call import CallState
from toolkernel_sandbox.wasm._limits import WasmLimits

__all__ = ["call_failure", "limit_exceeded", "memory_exceeded", "stopped", "trap_summary"]

_SUMMARY_CHARS = 500
_FRAME = re.compile(r"^\s*\d+:\s+0x[0-9a-f]+ - (?:.*!)?(.+)$", re.MULTILINE)
_CAUSE_NUMBER = re.compile(r"^\d+:\s*")

# limit -> (WasmLimits field, what happened, what to do next)
_LIMITS = {
    "fuel": ("fuel", "ran out of fuel after {value} units", "make the code cheaper"),
    "time": (
        "timeout_s",
        "ran past its wall-clock limit of {value} s and was stopped",
        "make it faster",
    ),
    "memory": (
        "memory_bytes",
        "{how} after its memory reached the limit of {value}",
        "make it use less memory",
    ),
    "stdout": (
        "stdout_bytes",
        "wrote more than {value} to stdout and was stopped",
        "make it print less",
    ),
    "stderr": (
        "stderr_bytes",
        "wrote more than {value} to stderr and was stopped",
        "make it log less",
    ),
}


def limit_exceeded(
    limit: str, limits: WasmLimits, stderr: bytes, *, how: str = "failed"
) -> LimitExceeded:
    """The error for a call that `limit` stopped, saying which knob to turn."""
    field, happened, remedy = _LIMITS[limit]
    value: float = getattr(limits, field)
    shown = f"{value:g}" if limit == "time" else _amount(limit, int(value))
    msg = f"the tool {happened.format(value=shown, how=how)}; raise limits.{field} or {remedy}"
    kind = TimeLimitExceeded if limit == "time" else LimitExceeded
    return kind(msg, limit=limit, value=value, stderr=_text(stderr))


def stopped(call: CallState) -> SandboxError:
    """The error for a call the runner stopped (`call.stopped_by` is set)."""
    reason = call.stopped_by or "time"
    if reason == "slice":
        return _slice_exhausted("wanted to wait, or outgrew the slice's time or I/O bytes")
    return limit_exceeded(reason, call.limits, call.stderr.value())


def _slice_exhausted(why: str) -> SliceExhausted:
    msg = f"the call {why}; nothing of it was kept: run it again without a slice"
    return SliceExhausted(msg)


def memory_exceeded(limits: WasmLimits, stderr: bytes, exit_code: int) -> LimitExceeded:
    """The error for a call that exited non-zero once its memory was full."""
    return limit_exceeded("memory", limits, stderr, how=f"exited with code {exit_code}")


def call_failure(exc: WasmtimeError | Trap, call: CallState, *, memory_full: bool) -> SandboxError:
    """Translate the trap or error that ended a call.

    Args:
        exc: What wasmtime raised (not an `ExitTrap`: that is a normal exit).
        call: The call's state, which knows whether the runner stopped it, and why.
        memory_full: Whether the module's memory had reached its limit.
    """
    stderr = call.stderr.value()
    if call.stopped_by is not None:
        return stopped(call)
    code = exc.trap_code if isinstance(exc, Trap) else None
    if code is TrapCode.OUT_OF_FUEL and call.fuel_is_sliced:
        return _slice_exhausted(f"used up the slice's {call.fuel:,} units of fuel")
    if code is TrapCode.OUT_OF_FUEL:
        return limit_exceeded("fuel", call.limits, stderr)
    if code is TrapCode.INTERRUPT:
        return limit_exceeded("time", call.limits, stderr)
    summary = trap_summary(str(exc))
    if memory_full:
        return limit_exceeded("memory", call.limits, stderr, how=f"trapped ({summary})")
    msg = (
        f"the tool trapped: {summary}; fix the tool's code (its stderr may say more), "
        "or rebuild it with debug info for a readable backtrace"
    )
    return SandboxError(msg, stderr=_text(stderr))


def trap_summary(text: str) -> str:
    """The cause of a wasmtime error and its innermost functions, on one short line."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if "Caused by:" in lines:
        causes = lines[lines.index("Caused by:") + 1 :]
        cause = "; ".join(_CAUSE_NUMBER.sub("", line) for line in causes if line)
    else:
        cause = lines[0] if lines else "no detail given"
    functions = [name.strip() for name in _FRAME.findall(text)[:3]]
    where = f" (in {' <- '.join(functions)})" if functions else ""
    return (cause + where)[:_SUMMARY_CHARS]


def _amount(limit: str, value: int) -> str:
    if limit == "fuel":
        return f"{value:,}"
    for unit, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if value >= unit and value % unit == 0:
            return f"{value // unit:,} {name}"
    return f"{value:,} bytes"


def _text(stderr: bytes) -> str:
    return stderr.decode("utf-8", "replace")
