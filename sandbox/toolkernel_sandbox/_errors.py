"""The exceptions the sandbox raises, under one root.

The tree::

    SandboxError               untrusted code could not be run, or failed under the sandbox
    ├── LimitExceeded          a limit stopped the run (carries `limit`, `value`)
    │   └── TimeLimitExceeded  the wall-clock or CPU-time limit stopped it
    ├── SliceExhausted         a WASM call tried in a slice needs more: run it again without
    ├── SandboxUnavailable     no isolation backend is usable here (says what to install)
    └── BuildError             a compiler rejected the source (carries `language`, `diagnostics`)
        └── ToolchainMissing   the compiler for a language is not installed (carries `install`)

The sandbox knows nothing of tools; `toolkernel` translates these once, where a tool's
name is known, into its own `ToolError` subtree.
"""

from __future__ import annotations

__all__ = [
    "BuildError",
    "LimitExceeded",
    "SandboxError",
    "SandboxUnavailable",
    "SliceExhausted",
    "TimeLimitExceeded",
    "ToolchainMissing",
]


class SandboxError(Exception):
    """Untrusted code could not be run, or failed in a way the sandbox detected.

    Attributes:
        stderr: What the code wrote to stderr before it failed (capped), if anything.
    """

    def __init__(self, message: str, *, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


class LimitExceeded(SandboxError):
    """A limit stopped the run.

    Attributes:
        limit: Which limit: `fuel`, `memory`, `time`, `cpu`, `stdout`, `stderr`,
            `file_size`, `processes` or `open_files`.
        value: The limit's configured value (bytes, seconds, fuel units or a count).
    """

    def __init__(self, message: str, *, limit: str, value: float, stderr: str = "") -> None:
        super().__init__(message, stderr=stderr)
        self.limit = limit
        self.value = value


class TimeLimitExceeded(LimitExceeded):
    """The wall-clock limit (`time`) or the CPU-time limit (`cpu`) stopped the run."""


class SliceExhausted(SandboxError):
    """A WASM call tried within a `WasmSlice` needed more fuel or time, or wanted to sleep.

    Nothing of the call was kept; it is not a failure of the code, only of the slice.
    Run the call again without a slice.
    """


class SandboxUnavailable(SandboxError):
    """No isolation backend can be used on this machine; the message says what to install."""


class BuildError(SandboxError):
    """A compiler rejected the source.

    Attributes:
        language: The source language (`rust`, `c`, `zig`, `wat`, ...).
        diagnostics: The compiler's messages, trimmed to what a person needs to fix it.
    """

    def __init__(self, message: str, *, language: str, diagnostics: str = "") -> None:
        super().__init__(message, stderr=diagnostics)
        self.language = language
        self.diagnostics = diagnostics


class ToolchainMissing(BuildError):
    """The compiler for a language is not installed.

    Attributes:
        install: The exact command that installs it on this kind of machine.
    """

    def __init__(self, message: str, *, language: str, install: str) -> None:
        super().__init__(message, language=language)
        self.install = install
