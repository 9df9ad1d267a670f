"""toolkernel: a Jupyter kernel that carries tools.

Importing this package is cheap on purpose (no MCP SDK, no pydantic): the kernel builds
its bindings before any server connects.
"""

from typing import Any

from toolkernel._spec import JSONObject, ToolResult, ToolSpec, catalog_hash
from toolkernel._version import __version__
from toolkernel.errors import (
    BindingError,
    BridgeError,
    BundleError,
    ConfigError,
    DependencyError,
    MemoryLimitError,
    RegistryError,
    SandboxError,
    SandboxLimitExceeded,
    SandboxTimeout,
    ServerUnavailable,
    ToolBuildError,
    ToolCallLimit,
    ToolCancelled,
    ToolchainMissing,
    ToolDenied,
    ToolError,
    ToolInputError,
    ToolkernelError,
    ToolNotFound,
)

__all__ = [
    "BindingError",
    "BridgeError",
    "BundleError",
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
    "ToolCallLimit",
    "ToolCancelled",
    "ToolDenied",
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


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tell Jupyter Server where the panel's REST extension lives (imported only then)."""
    from toolkernel.serverext import ToolkernelServerApp  # noqa: PLC0415 - keep import cheap

    return [{"module": "toolkernel.serverext", "app": ToolkernelServerApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Tell JupyterLab where the prebuilt panel extension is, relative to this package."""
    return [{"src": "labextension", "dest": "@toolkernel/labextension"}]
