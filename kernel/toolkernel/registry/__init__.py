"""The registry: the single source of truth, on SQLite (WAL) plus content-addressed blobs.

It holds the versioned registry tools (WASM, script, pipeline, skill), the MCP catalog
cache (versioned snapshots of each server's `tools/list`), server status shared across
processes, the current tool set with its FTS5/BM25 search index, the memory store, the
history of tool calls, and blobs under `<home>/blobs/sha256/`.
"""

from toolkernel.registry._blobs import BlobStore
from toolkernel.registry._catalog import CatalogSnapshot
from toolkernel.registry._history import CALL_OUTCOMES, HISTORY_KEEP, CallRecord
from toolkernel.registry._memory import USER_NAMESPACE, tool_namespace
from toolkernel.registry._query import STOP_WORDS
from toolkernel.registry._registry import NewVersion, ToolRegistry
from toolkernel.registry._search import SearchHit
from toolkernel.registry._status import SERVER_STATES, ServerStatus
from toolkernel.registry._versions import TOOL_KINDS, ToolVersion, check_tool_name

__all__ = [
    "CALL_OUTCOMES",
    "HISTORY_KEEP",
    "SERVER_STATES",
    "STOP_WORDS",
    "TOOL_KINDS",
    "USER_NAMESPACE",
    "BlobStore",
    "CallRecord",
    "CatalogSnapshot",
    "NewVersion",
    "SearchHit",
    "ServerStatus",
    "ToolRegistry",
    "ToolVersion",
    "check_tool_name",
    "tool_namespace",
]
