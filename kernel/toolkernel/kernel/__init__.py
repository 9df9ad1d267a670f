"""The Toolkernel Jupyter kernel: the ipykernel adapter around a tool session.

What does not need ipykernel (the registry, host, bindings, discovery, skills, memory,
the lock) lives in `toolkernel.session`; this package adds the kernel class, magics,
progress lines in cells, the relay to a client, and short tracebacks.
"""

from toolkernel.kernel._kernel import ToolKernel

__all__ = ["ToolKernel"]
