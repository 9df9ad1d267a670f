"""`Toolbox` is a traitlets Configurable: options from config, parts through `Type` traits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config, Configurable

from tk_support import write_config
from toolkernel.errors import ToolNotFound
from toolkernel.host import ToolHost
from toolkernel.session import Toolbox


class RecordingHost(ToolHost):
    """A real host that also notes each call's name (what another host class sees)."""

    calls: list[str] = []  # noqa: RUF012 - shared on purpose: the test reads it

    async def call(self, name: str, arguments: dict[str, Any] | None = None, **kw: Any) -> Any:
        RecordingHost.calls.append(name)
        return await super().call(name, arguments, **kw)


def test_the_host_class_and_options_come_from_config(tmp_path: Path) -> None:
    config = Config()
    config.Toolbox.host_class = f"{__name__}.RecordingHost"
    config.Toolbox.connect_timeout = 7.5
    parent = Configurable(config=config)  # as a kernel passes itself
    toolbox = Toolbox(
        parent=parent, home=tmp_path / "home", config_path=write_config(tmp_path / "m.json", {})
    )
    try:
        assert isinstance(toolbox.host, RecordingHost)
        assert toolbox.connect_timeout == 7.5
        toolbox.host.start()
        with pytest.raises(ToolNotFound):
            asyncio.run(toolbox.call_result("local.nothing_here", {}))
        assert RecordingHost.calls == ["local.nothing_here"]
    finally:
        toolbox.stop()


def test_a_toolbox_needs_a_home() -> None:
    with pytest.raises(ValueError, match="needs a home"):
        Toolbox()
