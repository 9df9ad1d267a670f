"""toolkernel_sandbox: run untrusted code under limits.

It knows nothing of tools, registries or kernels, and never imports `toolkernel`.

- `toolkernel_sandbox.wasm`: a wasmtime runner with fuel, memory, epoch and output limits.
- `toolkernel_sandbox.process`: a process runner under bubblewrap, firejail, nsjail or
  bare rlimits.
- `toolkernel_sandbox.build`: compilers from Rust, C, Zig and WAT to WASI modules, run
  through the process runner.
"""

from toolkernel_sandbox._errors import (
    BuildError,
    LimitExceeded,
    SandboxError,
    SandboxUnavailable,
    SliceExhausted,
    TimeLimitExceeded,
    ToolchainMissing,
)

__all__ = [
    "BuildError",
    "LimitExceeded",
    "SandboxError",
    "SandboxUnavailable",
    "SliceExhausted",
    "TimeLimitExceeded",
    "ToolchainMissing",
]
