"""Kinds of registry tool: each one folder behind the one `ToolKind` protocol.

The factory and the host dispatch through this registry and know no kind. A new kind
is one new folder (a class implementing `ToolKind`) plus one `register_kind` line here::

    register_kind("wasm", "toolkernel.kinds.wasm:WasmKind")

Kinds are imported on first use, so importing this package loads none of them.
"""

from toolkernel.kinds._draft import ToolDraft
from toolkernel.kinds._protocol import (
    MAX_DEPTH,
    CallContext,
    CallHooks,
    HostCall,
    KindContext,
    LineSink,
    ProgressHook,
    Relay,
    Resources,
    ToolIndex,
    ToolKind,
    call_depth,
)
from toolkernel.kinds._registry import KindMaker, Kinds, kind_names, load_kind, register_kind
from toolkernel.kinds._results import json_result, result_from_output, sandbox_failure

__all__ = [
    "MAX_DEPTH",
    "CallContext",
    "CallHooks",
    "HostCall",
    "KindContext",
    "KindMaker",
    "Kinds",
    "LineSink",
    "ProgressHook",
    "Relay",
    "Resources",
    "ToolDraft",
    "ToolIndex",
    "ToolKind",
    "call_depth",
    "json_result",
    "kind_names",
    "load_kind",
    "register_kind",
    "result_from_output",
    "sandbox_failure",
]

register_kind("pipeline", "toolkernel.kinds.pipeline:PipelineKind")
register_kind("script", "toolkernel.kinds.script:ScriptKind")
register_kind("skill", "toolkernel.kinds.skill:SkillKind")
register_kind("wasm", "toolkernel.kinds.wasm:WasmKind")
