"""The `toolkernel-sandboxed` kernel: the Toolkernel kernel under bubblewrap or firejail.

Agent code in it has no network, a read-only system, one writable workspace (by default
the notebook's folder), a private `/tmp`, its own pid namespace and `/proc`, no home and
no host environment but a short allowlist (`ENV_ALLOWLIST`), with memory, process and
CPU limits (`KernelLimits`). It talks to Jupyter over ZMQ `ipc` sockets in a private
folder (`SandboxedProvisioner`), and to its tools through the socket of its own tool
host (`KernelHost`: a `toolkernel host` the launcher starts outside the sandbox, as the
launching user, and stops with the kernel), named by `HOST_SOCKET_VAR`. The kernelspec
is written by `toolkernel.kernelspec`.
"""

from toolkernel.sandboxed._host import KernelHost
from toolkernel.sandboxed._launcher import (
    ENV_ALLOWLIST,
    HOST_SOCKET_VAR,
    KernelLimits,
    kernel_policy,
)
from toolkernel.sandboxed._provisioner import PROVISIONER_NAME, SandboxedProvisioner

__all__ = [
    "ENV_ALLOWLIST",
    "HOST_SOCKET_VAR",
    "PROVISIONER_NAME",
    "KernelHost",
    "KernelLimits",
    "SandboxedProvisioner",
    "kernel_policy",
]
