"""The Jupyter Server extension behind the JupyterLab panel: REST under `toolkernel/api/`.

`ToolkernelServerApp` serves tools (list and BM25 search), each tool's binding
signature, docstring and a ready-to-run call, version history, diffs, rollback, server
status and a generation token, all read from the registry kernels share.
"""

from toolkernel.serverext._app import ToolkernelServerApp
from toolkernel.serverext._handlers import AUTH_RESOURCE, MAX_LIMIT
from toolkernel.serverext._service import NOT_STARTED, NOT_STARTED_STATE, PanelService

__all__ = [
    "AUTH_RESOURCE",
    "MAX_LIMIT",
    "NOT_STARTED",
    "NOT_STARTED_STATE",
    "PanelService",
    "ToolkernelServerApp",
]
