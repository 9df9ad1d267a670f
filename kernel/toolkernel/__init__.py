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
    DependencyError,
    MemoryLimitError,
    RegistryError,
    SandboxError,
    SandboxLimitExceeded,
    SandboxTimeout,
    ServerUnavailable,
    ToolBuildError,
    ToolCancelled,
    ToolchainMissing,
    ToolError,
    ToolInputError,
    ToolkernelError,
    ToolNotFound,
)

__all__ = [
    "BindingError",
    "BridgeError",
    "ConfigError",
    "DependencyError",
    "JSONObject",
    "MemoryLimitError",
    "RegistryError",
    "SandboxError",
    "SandboxLimitExceeded",
    "SandboxTimeout",
    "ServerUnavailable",
    "ToolBuildError",
    "ToolCancelled",
    "ToolError",
    "ToolInputError",
    "ToolNotFound",
    "ToolResult",
    "ToolSpec",
    "ToolchainMissing",
    "ToolkernelError",
    "__version__",
    "catalog_hash",
]
