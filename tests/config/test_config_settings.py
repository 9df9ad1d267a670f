"""`c.Toolkernel`: one home and one mcp.json for the kernel, the panel, the CLI and the bridge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from traitlets.config import Config, Configurable

from toolkernel.config import Toolkernel, toolkernel_settings


def config_dir(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "jupyter-config"
    folder.mkdir(exist_ok=True)
    (folder / "toolkernel_config.py").write_text(text, encoding="utf-8")
    return folder


def test_the_shared_file_sets_home_and_a_parts_own_config_wins(tmp_path: Path) -> None:
    folder = config_dir(
        tmp_path, "c.Toolkernel.home = '/srv/tk'\nc.Toolkernel.mcp_config = 'a.json'\n"
    )
    shared = toolkernel_settings(config_dirs=[str(folder)])
    assert (shared.home_path(), shared.mcp_config_path()) == (Path("/srv/tk"), Path("a.json"))
    own = Config()
    own.Toolkernel.mcp_config = "b.json"  # as in a kernel's ipython_kernel_config.py
    mine = toolkernel_settings(Configurable(config=own), config_dirs=[str(folder)])
    assert (mine.home_path(), mine.mcp_config_path()) == (Path("/srv/tk"), Path("b.json"))


def test_without_any_config_home_is_toolkernel_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLKERNEL_HOME", str(tmp_path / "env-home"))
    settings = toolkernel_settings(config_dirs=[])
    assert settings.home_path() == tmp_path / "env-home"
    assert settings.mcp_config_path() is None
    assert isinstance(settings, Toolkernel)


def test_the_cli_reads_the_shared_home(tmp_path: Path) -> None:
    home = tmp_path / "configured-home"
    folder = config_dir(tmp_path, f"c.Toolkernel.home = {str(home)!r}\n")
    env = {k: v for k, v in os.environ.items() if k != "TOOLKERNEL_HOME"}
    env["JUPYTER_CONFIG_DIR"] = str(folder)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "toolkernel"), "tools", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert f"no registry at {home}" in done.stderr
