"""The WASI view a call gets: its argv, env, stdin, capped outputs and mounts, nothing more.

Nothing is inherited from the host: no environment variable, no argument, no stream and
no directory except the mounts given, and those are read-only unless declared writable
(wasmtime's own default is writable). The config is consumed by the store it is given
to, so each call builds its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from wasmtime import WasiConfig, WasmtimeError

from toolkernel_sandbox._errors import SandboxError
from toolkernel_sandbox.wasm._call import CallState
from toolkernel_sandbox.wasm._limits import Mount
from toolkernel_sandbox.wasm._native import set_stdin_bytes

__all__ = ["wasi_config"]


def wasi_config(
    call: CallState,
    stdin: bytes,
    *,
    mounts: Sequence[Mount],
    env: Mapping[str, str],
    argv: Sequence[str],
    output_streams: bool,
) -> WasiConfig:
    """Build the WASI configuration of one call, its outputs going to `call`.

    With `output_streams`, stdout and stderr are WASI streams whose writes reach the
    call's caps through callbacks; without, they are left empty, for a linker whose
    `fd_write` writes to the caps itself (`_output`).

    Raises:
        ValueError: An argument or variable holds a NUL byte, or a name holds `=`.
        SandboxError: A mount's host directory is missing or cannot be opened.
    """
    wasi = WasiConfig()
    wasi.argv = _checked("argv", argv)
    if env:
        wasi.env = _env_pairs(env)
    set_stdin_bytes(wasi, bytes(stdin))
    if output_streams:
        wasi.stdout_custom = call.stdout.write
        wasi.stderr_custom = call.stderr.write
    for mount in mounts:
        _preopen(wasi, mount)
    return wasi


def _checked(what: str, items: Iterable[str]) -> list[str]:
    values = list(items)
    for value in values:
        if "\0" in value:
            msg = f"{what} value {value!r} holds a NUL byte, which WASI cannot pass; remove it"
            raise ValueError(msg)
    return values


def _env_pairs(env: Mapping[str, str]) -> list[tuple[str, str]]:
    names = _checked("env name", env)
    for name in names:
        if not name or "=" in name:
            msg = f"env name {name!r} must be non-empty and hold no '='; rename the variable"
            raise ValueError(msg)
    return list(zip(names, _checked("env value", env.values()), strict=True))


def _preopen(wasi: WasiConfig, mount: Mount) -> None:
    host = Path(mount.host)
    if not host.is_dir():
        msg = (
            f"the mount for {mount.guest!r} needs the host directory {str(host)!r}, which "
            "does not exist; create it or remove the mount"
        )
        raise SandboxError(msg)
    try:
        wasi.preopen_dir(str(host), mount.guest, fs_mutable=mount.writable)
    except WasmtimeError as exc:
        msg = (
            f"cannot mount {str(host)!r} at {mount.guest!r} ({exc}); check that the "
            "directory is readable by this process"
        )
        raise SandboxError(msg) from exc
