"""`SandboxedProvisioner`: the sandboxed kernel speaks ZMQ over `ipc`, in a private folder.

A kernel with no network cannot bind TCP ports that the client can reach, and the client
(`KernelManager`, or jupyter_server's) decides the transport and writes the connection
file before the kernel starts, so the kernelspec cannot leave it to the launcher. This
provisioner, named by the `toolkernel-sandboxed` kernelspec
(`metadata.kernel_provisioner`), switches its manager to `transport="ipc"` with the
sockets in a folder of their own, made for this kernel, which the launcher binds into
the sandbox; nothing else of the host's runtime folder is shown.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.provisioning.local_provisioner import LocalProvisioner

__all__ = ["PROVISIONER_NAME", "SOCKETS_PREFIX", "SandboxedProvisioner"]

#: The entry point name (group `jupyter_client.kernel_provisioners`).
PROVISIONER_NAME = "toolkernel-sandboxed"
#: How the sockets folder's name starts (under the system's temp folder: socket paths
#: must stay under about 100 bytes).
SOCKETS_PREFIX = "tk-sandbox-"
_SOCKET_STEM = "kernel"


class SandboxedProvisioner(LocalProvisioner):
    """A `LocalProvisioner` whose kernel is reached over `ipc` sockets in a private folder.

    The folder is made at the first launch, kept across restarts (the connection file,
    and so the socket paths, stay the same) and removed when the kernel is shut down.
    """

    sockets_dir: Path | None = None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Switch the manager to `ipc` in this kernel's sockets folder, then launch as usual."""
        km = self.parent
        if km is not None and self.sockets_dir is None:
            self.sockets_dir = Path(tempfile.mkdtemp(prefix=SOCKETS_PREFIX))
            km.cache_ports = False
            km.transport = "ipc"
            km.ip = str(self.sockets_dir / _SOCKET_STEM)
        result: dict[str, Any] = await super().pre_launch(**kwargs)
        return result

    async def cleanup(self, restart: bool = False) -> None:
        """Remove the sockets folder, unless the kernel is restarting."""
        await super().cleanup(restart=restart)
        if not restart and self.sockets_dir is not None:
            shutil.rmtree(self.sockets_dir, ignore_errors=True)
            self.sockets_dir = None
