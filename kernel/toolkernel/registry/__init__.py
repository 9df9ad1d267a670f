"""The registry: the single source of truth, on SQLite (WAL) plus content-addressed blobs.

It holds the MCP catalog cache (versioned snapshots of each server's `tools/list`),
server status shared across processes, the current tool set with its FTS5/BM25 search
index, and blobs under `<home>/blobs/sha256/`.
"""

from toolkernel.registry._blobs import BlobStore
from toolkernel.registry._catalog import CatalogSnapshot
from toolkernel.registry._query import STOP_WORDS
from toolkernel.registry._registry import ToolRegistry
from toolkernel.registry._search import SearchHit
from toolkernel.registry._status import SERVER_STATES, ServerStatus

__all__ = [
    "SERVER_STATES",
    "STOP_WORDS",
    "BlobStore",
    "CatalogSnapshot",
    "SearchHit",
    "ServerStatus",
    "ToolRegistry",
]
