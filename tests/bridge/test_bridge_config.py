"""Bridge options as traitlets: config files in Jupyter's config dirs, flags on top."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from traitlets import TraitError

from toolkernel.bridge import Bridge, load_bridge


def test_defaults_without_any_config_file(tmp_path: Path) -> None:
    bridge = load_bridge(config_dirs=[str(tmp_path)])
    assert (bridge.transport, bridge.host, bridge.port) == ("stdio", "127.0.0.1", 8848)
    assert bridge.output_cap == 20_000
    assert bridge.expose_tools is False


def test_a_python_config_file_sets_bridge_options(tmp_path: Path) -> None:
    (tmp_path / "toolkernel_config.py").write_text(
        "c.Bridge.transport = 'http'\nc.Bridge.port = 9000\nc.Bridge.output_cap = 500\n"
        "c.Bridge.allow_origins = ['https://app.example']\n",
        encoding="utf-8",
    )
    bridge = load_bridge(config_dirs=[str(tmp_path)])
    assert (bridge.transport, bridge.port, bridge.output_cap) == ("http", 9000, 500)
    assert bridge.allow_origins == ["https://app.example"]


def test_later_dirs_override_earlier_and_flags_override_files(tmp_path: Path) -> None:
    system, user = tmp_path / "system", tmp_path / "user"
    system.mkdir()
    user.mkdir()
    (system / "toolkernel_config.json").write_text(
        json.dumps({"Bridge": {"port": 1111, "expose_tools": True}}), encoding="utf-8"
    )
    (user / "toolkernel_config.json").write_text(
        json.dumps({"Bridge": {"port": 2222}}), encoding="utf-8"
    )
    bridge = load_bridge(
        {"port": None, "kernel_name": "python3"}, config_dirs=[str(system), str(user)]
    )
    assert (bridge.port, bridge.expose_tools, bridge.kernel_name) == (2222, True, "python3")
    assert load_bridge({"port": 3333}, config_dirs=[str(system), str(user)]).port == 3333


def test_an_invalid_option_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TraitError):
        load_bridge({"transport": "carrier-pigeon"}, config_dirs=[str(tmp_path)])


def test_every_option_is_configurable_and_documented() -> None:
    traits = Bridge.class_traits(config=True)
    assert set(traits) >= {"transport", "host", "port", "output_cap", "expose_tools"}
    assert all(trait.help for trait in traits.values())
