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
    to_python,
)
from toolkernel.bindings._runtime import Caller, binding, call_tool, get_caller, set_caller

__all__ = [
    "GENERATOR_VERSION",
    "BindingCache",
    "Caller",
    "GeneratedModule",
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
    "python_identifier",
    "set_caller",
    "source_identifier",
    "to_python",
]
