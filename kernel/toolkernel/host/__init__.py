"""The tool host: one event loop in its own thread that owns every MCP session."""

from toolkernel.host._host import CatalogListener, ProgressCallback, ServerStatus, ToolHost

__all__ = ["CatalogListener", "ProgressCallback", "ServerStatus", "ToolHost"]
