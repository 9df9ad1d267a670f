"""The exceptions toolkernel raises, under one root.

The tree::

    ToolkernelError
    ├── ConfigError            mcp.json or a trait is invalid (carries `server`)
    ├── RegistryError          the registry could not read or write
    │   └── ToolNotFound       no such tool, or no such version (carries `tool`, `version`)
    ├── BindingError           a binding could not be generated or loaded (carries `source`)
    ├── ToolError              a tool call failed (carries `tool`)
    │   ├── ToolInputError     the arguments do not match the tool's input schema;
    │   │                      nothing was sent
    │   ├── ServerUnavailable  the tool's server is not connected, or died mid-call
    │   └── ToolCancelled      the call was cancelled before it finished
    └── BridgeError            the MCP bridge could not serve a request

Every message says what happened and what to do next.
"""

from __future__ import annotations

__all__ = [
    "BindingError",
    "BridgeError",
    "ConfigError",
    "RegistryError",
    "ServerUnavailable",
    "ToolCancelled",
    "ToolError",
    "ToolInputError",
    "ToolNotFound",
    "ToolkernelError",
]


class ToolkernelError(Exception):
    """Root of every error toolkernel raises on purpose."""


class ConfigError(ToolkernelError):
    """A configuration file or option is invalid.

    Attributes:
        server: The MCP server entry at fault, when the fault is in one entry.
    """

    def __init__(self, message: str, *, server: str | None = None) -> None:
        super().__init__(message)
        self.server = server


class RegistryError(ToolkernelError):
    """The registry could not be read or written."""


class ToolNotFound(RegistryError, LookupError):
    """A tool, or a version of it, does not exist.

    Attributes:
        tool: The qualified name that was asked for (`server.tool`).
        version: The version that was asked for, if any.
    """

    def __init__(self, message: str, *, tool: str, version: int | None = None) -> None:
        super().__init__(message)
        self.tool = tool
        self.version = version


class BindingError(ToolkernelError):
    """Python bindings for a source could not be generated or loaded.

    Attributes:
        source: The MCP server (or local namespace) whose bindings failed.
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class ToolError(ToolkernelError):
    """A tool call failed.

    Raised when the server answers with `isError` (the message is the server's),
    and as the base of the more specific call failures below.

    Attributes:
        tool: The qualified name of the tool (`server.tool`).
        content: The raw MCP content blocks of the error result, when there was one.
    """

    def __init__(
        self, message: str, *, tool: str, content: list[dict[str, object]] | None = None
    ) -> None:
        super().__init__(message)
        self.tool = tool
        self.content = content or []


class ToolInputError(ToolError, TypeError):
    """The arguments do not match the tool's input schema. Nothing was sent."""


class ServerUnavailable(ToolError):
    """The tool's server is not connected, failed to start, or died during the call.

    Attributes:
        server: The server's configured name.
    """

    def __init__(self, message: str, *, tool: str, server: str) -> None:
        super().__init__(message, tool=tool)
        self.server = server


class ToolCancelled(ToolError):
    """The call was cancelled before the tool answered."""


class BridgeError(ToolkernelError):
    """The MCP bridge could not serve a request."""
