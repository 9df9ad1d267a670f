"""Bridge options as traitlets: config files in Jupyter's config dirs, flags on top."""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from traitlets import Bool, Enum, Float, Int, List, TraitError, TraitType, Unicode

from toolkernel.bridge import (
    Bridge,
    ReplyLimits,
    add_bridge_flags,
    bridge_flags,
    bridge_overrides,
    load_bridge,
)
from toolkernel.bridge._run import _kernel_target
from toolkernel.cli import main

TOOLKERNEL = str(Path(sys.executable).parent / "toolkernel")


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


def sample_flag(name: str, trait: TraitType[Any, Any]) -> tuple[list[str], Any]:
    """Command-line words that set option `name` to a value other than its default."""
    flag = bridge_flags()[name]
    default = trait.default_value
    if isinstance(trait, Bool):
        return ([flag] if not default else [f"--no-{flag[2:]}"]), not default
    if isinstance(trait, Enum):
        value = next(v for v in trait.values or () if v != default)
        return [flag, value], value
    if isinstance(trait, List):
        return [flag, f"{name}-a", flag, f"{name}-b"], [f"{name}-a", f"{name}-b"]
    if isinstance(trait, Int):
        return [flag, str(default + 7)], default + 7
    if isinstance(trait, Float):
        return [flag, str(default + 0.5)], default + 0.5
    if isinstance(trait, Unicode):
        return [flag, f"given-{name}"], f"given-{name}"
    pytest.fail(f"no sample value for option {name!r} of type {type(trait).__name__}")


def test_every_option_has_a_flag_and_toolkernel_mcp_help_lists_each() -> None:
    flags = bridge_flags()
    assert set(flags) == set(Bridge.class_traits(config=True))
    assert flags["allow_origins"] == "--allow-origin"  # the spellings users already type
    assert flags["output_cap"] == "--output-cap"
    shown = subprocess.run(
        [TOOLKERNEL, "mcp", "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert set(flags.values()) <= set(re.findall(r"--[a-z-]+", shown))


def test_a_value_for_every_option_on_the_command_line_reaches_the_bridge(tmp_path: Path) -> None:
    traits = Bridge.class_traits(config=True)
    samples = {name: sample_flag(name, trait) for name, trait in traits.items()}
    parser = argparse.ArgumentParser()
    add_bridge_flags(parser)
    argv = [word for words, _ in samples.values() for word in words]
    bridge = load_bridge(bridge_overrides(parser.parse_args(argv)), config_dirs=[str(tmp_path)])
    given = {name: getattr(bridge, name) for name in traits}
    assert given == {name: value for name, (_, value) in samples.items()}
    assert all(getattr(Bridge(), name) != value for name, (_, value) in samples.items())


def test_flags_not_given_leave_the_config_files_values(tmp_path: Path) -> None:
    (tmp_path / "toolkernel_config.json").write_text(
        json.dumps({"Bridge": {"port": 9000, "allow_origins": ["https://app.example"]}}),
        encoding="utf-8",
    )
    parser = argparse.ArgumentParser()
    add_bridge_flags(parser)
    bridge = load_bridge(bridge_overrides(parser.parse_args([])), config_dirs=[str(tmp_path)])
    assert (bridge.port, bridge.allow_origins) == (9000, ["https://app.example"])


def test_an_unknown_option_name_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no bridge option named prot; options: .*port"):
        load_bridge({"prot": 1}, config_dirs=[str(tmp_path)])


def test_the_reply_caps_default_to_the_reply_limits() -> None:
    bridge, limits = Bridge(), ReplyLimits()
    assert (bridge.output_cap, bridge.image_cap) == (limits.output_chars, limits.image_bytes)


def test_a_gateway_token_given_on_the_command_line_without_a_gateway_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["mcp", "--gateway-token", "t0ken"]) == 1
    assert "--gateway-token needs --gateway-url" in capsys.readouterr().err


def test_a_gateway_env_without_a_gateway_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mcp", "--gateway-env", "KERNEL_USERNAME=ada"]) == 1
    assert "--gateway-env needs --gateway-url" in capsys.readouterr().err


@pytest.mark.parametrize("entry", ["KERNEL_USERNAME", "=ada", "NOT A NAME=1"])
def test_a_gateway_env_entry_that_is_not_name_equals_value_is_refused(
    entry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["mcp", "--gateway-url", "http://127.0.0.1:1", "--gateway-env", entry]
    assert main(argv) == 1
    assert f"--gateway-env takes NAME=VALUE (a variable name, then =), not {entry!r}" in (
        capsys.readouterr().err
    )


def test_each_gateway_env_entry_goes_into_the_gateways_kernel_environment() -> None:
    bridge = load_bridge(
        {
            "gateway_url": "http://127.0.0.1:1",
            "gateway_env": ["KERNEL_USERNAME=ada", "TOOLKERNEL_MCP_CONFIG=/etc/a=b.json"],
        },
        config_dirs=[],
    )
    _, target = _kernel_target(bridge)
    assert target is not None
    assert target.env == {
        "KERNEL_USERNAME": "ada",
        "TOOLKERNEL_MCP_CONFIG": "/etc/a=b.json",
    }


def test_a_port_in_use_is_refused_before_a_kernel_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code = main(["mcp", "--transport", "http", "--port", str(port)])
    assert code == 1
    assert f"cannot listen on 127.0.0.1 port {port}" in capsys.readouterr().err


def test_the_readme_table_lists_every_option_with_its_flag() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("| option (`c.Bridge.<name>`) | flag | default |", 1)[1]
    documented: dict[str, str] = {}
    for row in table.split("\n\n", 1)[0].splitlines()[2:]:
        names, flags = row.split("|")[1:3]
        shown = [f for f in re.findall(r"`(--[a-z-]+)`", flags) if not f.startswith("--no-")]
        documented.update(zip(re.findall(r"`(\w+)`", names), shown, strict=True))
    assert documented == bridge_flags()
