"""The Jupyter Server extension app: options, and the REST handlers under `toolkernel/api/`."""

from __future__ import annotations

from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Unicode, default

from toolkernel.config import toolkernel_home
from toolkernel.serverext._handlers import handlers
from toolkernel.serverext._service import PanelService

__all__ = ["ToolkernelServerApp"]


class ToolkernelServerApp(ExtensionApp):
    """Serves the JupyterLab panel's REST API from the registry kernels share.

    Enabled by `jupyter_server_config.d/toolkernel.json`; configure it as
    `c.ToolkernelServerApp.home` and `c.ToolkernelServerApp.mcp_config`. It reads the
    registry only: it never connects to an MCP server or calls a tool.
    """

    name = "toolkernel"
    description = "REST API for the toolkernel JupyterLab panel: tools, versions, servers."
    load_other_extensions = True

    home = Unicode(
        help="The toolkernel home whose registry the panel shows (the kernels' home). "
        "Default: $TOOLKERNEL_HOME, else <jupyter data dir>/toolkernel.",
    ).tag(config=True)
    mcp_config = Unicode(
        "",
        help="Path of the mcp.json whose servers the panel lists. Default, as the kernel "
        "looks it up: $TOOLKERNEL_MCP_CONFIG, ./mcp.json, then <home>/mcp.json.",
    ).tag(config=True)

    service: PanelService | None = None

    @default("home")
    def _default_home(self) -> str:
        return str(toolkernel_home())

    def initialize_settings(self) -> None:
        """Open the registry (the service the handlers share)."""
        self.service = PanelService(
            Path(self.home).expanduser(),
            Path(self.mcp_config).expanduser() if self.mcp_config else None,
        )
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
        return f"ToolkernelServerApp(home={self.home!r})"
