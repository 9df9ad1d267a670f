"""The Jupyter Server extension app: options, and the REST handlers under `toolkernel/api/`."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

from toolkernel.config import toolkernel_settings
from toolkernel.serverext._handlers import handlers
from toolkernel.serverext._service import PanelService

__all__ = ["ToolkernelServerApp"]


class ToolkernelServerApp(ExtensionApp):
    """Serves the JupyterLab panel's REST API from the registry kernels share.

    Enabled by `jupyter_server_config.d/toolkernel.json`. Its home and mcp.json are the
    shared `Toolkernel` options (`c.Toolkernel.home`, `c.Toolkernel.mcp_config`), as
    the kernels read them. It reads the registry only: it never connects to an MCP
    server or calls a tool.
    """

    name = "toolkernel"
    description = "REST API for the toolkernel JupyterLab panel: tools, versions, servers."
    load_other_extensions = True

    service: PanelService | None = None

    def initialize_settings(self) -> None:
        """Open the registry (the service the handlers share)."""
        where = toolkernel_settings(self)
        self.service = PanelService(where.home_path(), where.mcp_config_path())
        self.log.info("toolkernel: serving the registry at %s", self.service.registry.path)

    def initialize_handlers(self) -> None:
        """Register the handlers; `ExtensionApp` prefixes each pattern with `base_url`."""
        if self.service is None:  # pragma: no cover - initialize_settings runs first
            self.initialize_settings()
        assert self.service is not None  # noqa: S101 - set just above
        self.handlers.extend(handlers(self.service))

    async def stop_extension(self) -> None:
        """Release the registry connections."""
        if self.service is not None:
            self.service.close()
            self.service = None

    def __repr__(self) -> str:
        home = self.service.home if self.service is not None else None
        return f"ToolkernelServerApp(home={str(home)!r})"
