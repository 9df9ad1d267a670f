from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkernel.config import (
    HttpServer,
    InvalidServer,
    OAuthSettings,
    StdioServer,
    find_config,
    load_config,
    parse_config,
    toolkernel_home,
)
from toolkernel.errors import ConfigError


def test_stdio_and_http_entries_parse_in_the_standard_shape() -> None:
    servers = parse_config(
        {
            "mcpServers": {
                "fs": {
                    "command": "npx",
                    "args": ["-y", "server"],
                    "env": {"A": "1"},
                    "cwd": "/tmp",
                },
                "web": {"url": "http://127.0.0.1:9/mcp", "headers": {"X": "y"}},
            }
        },
        environ={},
    )
    assert servers["fs"] == StdioServer("fs", "npx", ["-y", "server"], {"A": "1"}, "/tmp")
    assert servers["web"] == HttpServer("web", "http://127.0.0.1:9/mcp", {"X": "y"})


def test_variables_expand_from_the_environment_in_env_and_headers() -> None:
    servers = parse_config(
        {
            "mcpServers": {
                "a": {"command": "x", "env": {"TOKEN": "${SECRET}"}},
                "b": {
                    "url": "http://h/${PATH_PART}",
                    "headers": {"Authorization": "Bearer ${SECRET}"},
                },
            }
        },
        environ={"SECRET": "s3", "PATH_PART": "mcp"},
    )
    assert isinstance(servers["a"], StdioServer)
    assert servers["a"].env == {"TOKEN": "s3"}
    assert servers["b"] == HttpServer("b", "http://h/mcp", {"Authorization": "Bearer s3"})


def test_an_unset_variable_invalidates_only_its_own_server() -> None:
    servers = parse_config(
        {"mcpServers": {"a": {"command": "x", "env": {"T": "${NOPE}"}}, "b": {"command": "y"}}},
        environ={},
    )
    bad = servers["a"]
    assert isinstance(bad, InvalidServer)
    assert "${NOPE}" in bad.reason
    assert "export NOPE" in bad.reason
    assert isinstance(servers["b"], StdioServer)


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("not an object", "expected an object"),
        ({"args": ["x"]}, "needs a non-empty 'command'"),
        ({"command": "x", "args": "not-a-list"}, "'args' must be a list of strings"),
        ({"command": "x", "env": ["A=1"]}, "'env' must be an object"),
        ({"command": "x", "disabled": True}, "disabled"),
    ],
)
def test_a_malformed_entry_becomes_an_invalid_server_with_a_reason(
    entry: object, fragment: str
) -> None:
    server = parse_config({"mcpServers": {"s": entry}}, environ={})["s"]
    assert isinstance(server, InvalidServer)
    assert fragment in server.reason


def test_a_document_of_the_wrong_shape_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="mcpServers"):
        parse_config(["not", "a", "dict"])


def test_lookup_prefers_env_var_then_cwd_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.delenv("TOOLKERNEL_MCP_CONFIG", raising=False)
    assert find_config(home, cwd) is None
    (home / "mcp.json").write_text("{}")
    assert find_config(home, cwd) == home / "mcp.json"
    (cwd / "mcp.json").write_text("{}")
    assert find_config(home, cwd) == cwd / "mcp.json"
    explicit = tmp_path / "other.json"
    explicit.write_text("{}")
    monkeypatch.setenv("TOOLKERNEL_MCP_CONFIG", str(explicit))
    assert find_config(home, cwd) == explicit


def test_env_var_naming_a_missing_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLKERNEL_MCP_CONFIG", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="does not exist"):
        find_config(tmp_path)


def test_invalid_json_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOOLKERNEL_MCP_CONFIG", raising=False)
    (tmp_path / "mcp.json").write_text("{nope")
    with pytest.raises(ConfigError, match=r"mcp\.json"):
        load_config(tmp_path / "home", tmp_path)


def test_no_config_file_means_no_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOOLKERNEL_MCP_CONFIG", raising=False)
    config = load_config(tmp_path / "home", tmp_path)
    assert config.servers == {}
    assert config.path is None


def test_home_comes_from_toolkernel_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLKERNEL_HOME", str(tmp_path))
    assert toolkernel_home() == tmp_path
    monkeypatch.delenv("TOOLKERNEL_HOME")
    assert toolkernel_home().name == "toolkernel"


def test_load_config_reads_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"mcpServers": {"a": {"command": "c"}}}))
    assert list(load_config(tmp_path, explicit=path).servers) == ["a"]
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path, explicit=tmp_path / "none.json")


def test_a_remote_server_can_sign_in_with_oauth() -> None:
    servers = parse_config(
        {
            "mcpServers": {
                "plain": {"url": "https://a.example/mcp", "auth": "oauth"},
                "scoped": {
                    "url": "http://127.0.0.1:9/mcp",
                    "auth": {"type": "oauth", "scope": "read write", "client_name": "my lab"},
                },
            }
        },
        environ={},
    )
    assert servers["plain"] == HttpServer("plain", "https://a.example/mcp", oauth=OAuthSettings())
    assert servers["scoped"] == HttpServer(
        "scoped", "http://127.0.0.1:9/mcp", oauth=OAuthSettings("read write", "my lab")
    )


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"url": "https://a.example/mcp", "auth": "basic"}, "'auth' must be \"oauth\""),
        (
            {"url": "https://a.example/mcp", "auth": {"type": "oauth", "x": 1}},
            "unknown 'auth' keys",
        ),
        (
            {"url": "https://a.example/mcp", "auth": {"type": "oauth", "scope": "a\nb"}},
            "auth.scope",
        ),
        ({"url": "https://a.example/mcp", "auth": {"type": "oauth", "scope": 3}}, "auth.scope"),
        (
            {"url": "https://a.example/mcp", "auth": {"type": "oauth", "client_name": "a\x1b[2J"}},
            "auth.client_name",
        ),
        ({"url": "http://a.example/mcp", "auth": "oauth"}, "use https://"),
        ({"url": "file:///etc/passwd", "auth": "oauth"}, "needs an http"),
        (
            {"url": "https://a.example/mcp", "auth": "oauth", "headers": {"authorization": "x"}},
            "drop the Authorization header",
        ),
        ({"command": "server", "auth": "oauth"}, "remote servers only"),
    ],
)
def test_a_malformed_or_unsafe_oauth_entry_is_refused_with_the_reason(
    entry: dict[str, object], reason: str
) -> None:
    server = parse_config({"mcpServers": {"s": entry}}, environ={})["s"]
    assert isinstance(server, InvalidServer)
    assert reason in server.reason
