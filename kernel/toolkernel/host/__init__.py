"""The tool host: one event loop in its own thread that owns every MCP session.

`ToolHost` runs in the kernel's process (the plain kernel). `HostService` serves one
on a Unix socket (`toolkernel host`), and `RemoteToolHost` is the kernel's side of that
socket, with the same interface (the sandboxed kernel).
"""

from toolkernel.host._host import (
    CatalogListener,
    ClientRelay,
    ProgressCallback,
    ServerStatus,
    ToolHost,
)
from toolkernel.host._policy import APPROVAL_META, ToolPolicy
from toolkernel.host._remote import RemoteToolHost
from toolkernel.host._service import HostService
from toolkernel.host._wire import SOCKET_ENV_VAR

__all__ = [
    "APPROVAL_META",
    "SOCKET_ENV_VAR",
    "CatalogListener",
    "ClientRelay",
    "HostService",
    "ProgressCallback",
    "RemoteToolHost",
    "ServerStatus",
    "ToolHost",
    "ToolPolicy",
]
