"""The tool host: one event loop in its own thread that owns every MCP session."""

from toolkernel.host._host import (
    CatalogListener,
    ClientRelay,
    ProgressCallback,
    ServerStatus,
    ToolHost,
)
from toolkernel.host._policy import ToolPolicy

__all__ = [
    "CatalogListener",
    "ClientRelay",
    "ProgressCallback",
    "ServerStatus",
    "ToolHost",
    "ToolPolicy",
]
