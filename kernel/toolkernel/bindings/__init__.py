"""Typed Python bindings for tools: generated, cached on disk, importable as `tools.<source>`.

`generate_module` writes one module of `async def` functions per source, `BindingCache`
keeps them on disk by catalog hash, and `ToolsNamespace` is the `tools` package users
import from. Calls go through the `Caller` installed with `set_caller`; `to_python`
turns a `ToolResult` into the value a binding returns.
"""

from toolkernel.bindings._generate import GENERATOR_VERSION, GeneratedModule, generate_module
from toolkernel.bindings._loader import BindingCache
from toolkernel.bindings._names import python_identifier, source_identifier
from toolkernel.bindings._namespace import ToolsNamespace
from toolkernel.bindings._results import (
    ToolAudio,
    ToolContent,
    ToolImage,
    ToolResource,
    ToolResourceLink,
    content_to_python,
    resources_to_python,
    to_python,
)
from toolkernel.bindings._runtime import (
    Caller,
    ResourceReader,
    binding,
    call_tool,
    get_caller,
    get_resource_reader,
    set_caller,
    set_resource_reader,
)

__all__ = [
    "GENERATOR_VERSION",
    "BindingCache",
    "Caller",
    "GeneratedModule",
    "ResourceReader",
    "ToolAudio",
    "ToolContent",
    "ToolImage",
    "ToolResource",
    "ToolResourceLink",
    "ToolsNamespace",
    "binding",
    "call_tool",
    "content_to_python",
    "generate_module",
    "get_caller",
    "get_resource_reader",
    "python_identifier",
    "resources_to_python",
    "set_caller",
    "set_resource_reader",
    "source_identifier",
    "to_python",
]
