"""toolkernel_sandbox: run untrusted code under limits.

It knows nothing of tools, registries or kernels, and never imports `toolkernel`.
The WASM runner and the process runner land here.
"""

__all__: list[str] = []
