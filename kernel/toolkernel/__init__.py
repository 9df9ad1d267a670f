"""toolkernel: a Jupyter kernel that carries tools.

Importing this package is cheap on purpose (no MCP SDK, no pydantic): the kernel builds
its bindings before any server connects.
"""

from toolkernel._spec import JSONObject, ToolResult, ToolSpec, catalog_hash
from toolkernel._version import __version__
from toolkernel.errors import (
    BindingError,
    BridgeError,
    ConfigError,
    RegistryError,
    ServerUnavailable,
    ToolCancelled,
    ToolError,
    ToolInputError,
    ToolkernelError,
    ToolNotFound,
)

__all__ = [
    "BindingError",
    "BridgeError",
    "ConfigError",
    "JSONObject",
    "RegistryError",
    "ServerUnavailable",
    "ToolCancelled",
    "ToolError",
    "ToolInputError",
    "ToolNotFound",
    "ToolResult",
    "ToolSpec",
    "ToolkernelError",
    "__version__",
    "catalog_hash",
]
