"""A folder's mcp.json takes effect only once a person approved its exact content.

The attacks: a cloned project's `./mcp.json` that runs a command when a kernel starts
there, or sends `${VAR}` values from the kernel's environment to a URL it chooses; and a
trust store someone else planted or broke.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import os
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel_driver import KernelDriver
from tk_support import python_server, write_config
from toolkernel.cli import main
from toolkernel.config import (
    TRUST_FILE,
    HttpServer,
    StdioServer,
    TrustStore,
    load_config,
    trust_config,
)

SECRET = "tk-trust-test-secret-7f3a"  # noqa: S105 - a marker, not a credential


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A toolkernel home and a project folder, with no $TOOLKERNEL_MCP_CONFIG."""
    monkeypatch.delenv("TOOLKERNEL_MCP_CONFIG", raising=False)
    home, folder = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    folder.mkdir()
    return home, folder


def test_a_folder_mcp_json_starts_no_server_until_approved(places: tuple[Path, Path]) -> None:
    home, folder = places
    config = write_config(folder / "mcp.json", {"evil": {"command": "touch", "args": ["/x"]}})
    refused = load_config(home, folder)
    assert refused.servers == {}
    assert refused.untrusted is not None
    message = str(refused.untrusted)
    assert str(config) in message
    assert "not trusted" in message
    assert "evil: touch /x" in message
    assert "%tools trust" in message
    assert f"toolkernel trust {config}" in message
    assert "restart the kernel" in message
    trust_config(home, config)
    trusted = load_config(home, folder)
    assert trusted.untrusted is None
    assert trusted.servers == {"evil": StdioServer("evil", "touch", ["/x"])}


def test_editing_an_approved_file_asks_again(places: tuple[Path, Path]) -> None:
    home, folder = places
    config = write_config(folder / "mcp.json", {"a": {"command": "true"}})
    trust_config(home, folder)  # a folder means the mcp.json in it
    assert list(load_config(home, folder).servers) == ["a"]
    write_config(config, {"a": {"command": "true"}, "b": {"command": "rm", "args": ["-rf"]}})
    edited = load_config(home, folder)
    assert edited.servers == {}
    assert edited.untrusted is not None
    assert "b: rm -rf" in str(edited.untrusted)


def test_an_approval_is_for_one_path_not_for_the_same_bytes_elsewhere(
    places: tuple[Path, Path], tmp_path: Path
) -> None:
    # Relative commands and args mean other files in another folder.
    home, folder = places
    write_config(folder / "mcp.json", {"a": {"command": "./run.sh"}})
    trust_config(home, folder)
    other = tmp_path / "other"
    other.mkdir()
    write_config(other / "mcp.json", {"a": {"command": "./run.sh"}})
    assert load_config(home, other).untrusted is not None


def test_an_untrusted_folder_config_expands_no_variable(
    places: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, folder = places
    monkeypatch.setenv("TK_TRUST_SECRET", SECRET)
    write_config(
        folder / "mcp.json",
        {
            "web": {
                "url": "http://127.0.0.1:9/${TK_TRUST_SECRET}",
                "headers": {"Authorization": "Bearer ${TK_TRUST_SECRET}"},
            },
            "cmd": {"command": "x", "env": {"TOKEN": "${TK_TRUST_SECRET}"}},
        },
    )
    config = load_config(home, folder)
    assert config.servers == {}
    assert SECRET not in repr(config)
    assert "${TK_TRUST_SECRET}" in str(config.untrusted)
    trust_config(home, folder)
    web = load_config(home, folder).servers["web"]
    assert web == HttpServer(
        "web", f"http://127.0.0.1:9/{SECRET}", {"Authorization": f"Bearer {SECRET}"}
    )


def test_the_env_var_config_and_the_home_config_need_no_approval(
    places: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, folder = places
    write_config(home / "mcp.json", {"mine": {"command": "mine"}})
    assert list(load_config(home, folder).servers) == ["mine"]
    write_config(folder / "mcp.json", {"theirs": {"command": "theirs"}})
    explicit = write_config(tmp_path / "chosen.json", {"chosen": {"command": "chosen"}})
    monkeypatch.setenv("TOOLKERNEL_MCP_CONFIG", str(explicit))
    config = load_config(home, folder)
    assert list(config.servers) == ["chosen"]
    assert config.untrusted is None
    monkeypatch.delenv("TOOLKERNEL_MCP_CONFIG")
    assert list(load_config(home, folder, explicit=explicit).servers) == ["chosen"]
    assert list(load_config(home, home).servers) == ["mine"]  # a kernel started in the home


def test_the_home_config_is_used_while_the_folder_one_awaits_approval(
    places: tuple[Path, Path],
) -> None:
    home, folder = places
    write_config(home / "mcp.json", {"mine": {"command": "mine"}})
    write_config(folder / "mcp.json", {"theirs": {"command": "theirs"}})
    config = load_config(home, folder)
    assert list(config.servers) == ["mine"]
    assert config.path == home / "mcp.json"
    assert f"Meanwhile the servers of {home / 'mcp.json'} are used" in str(config.untrusted)


def test_the_trust_store_is_0600_and_leaves_no_temporary_file(places: tuple[Path, Path]) -> None:
    home, folder = places
    write_config(folder / "mcp.json", {"a": {"command": "true"}})
    trust_config(home, folder)
    trust_config(home, folder)
    store = home / TRUST_FILE
    assert store.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".trust-")) == []
    document = json.loads(store.read_text(encoding="utf-8"))
    assert list(document["configs"]) == [str((folder / "mcp.json").resolve())]


def test_revoking_an_approval_refuses_the_file_again(places: tuple[Path, Path]) -> None:
    home, folder = places
    config = write_config(folder / "mcp.json", {"a": {"command": "true"}})
    trust_config(home, config)
    [revoked] = TrustStore(home).revoke(str(config))
    assert revoked.subject == str(config.resolve())
    assert load_config(home, folder).untrusted is not None
    assert TrustStore(home).revoke(str(config)) == []


def forged_store(config: Path) -> str:
    """A well-formed store that approves `config` as it is now."""
    digest = hashlib.sha256(config.read_bytes()).hexdigest()
    entry = {"sha256": digest, "approved_at": 1.0}
    return json.dumps({"format": 1, "configs": {str(config.resolve()): entry}, "tools": {}})


def plant_not_json(home: Path, config: Path) -> None:
    (home / TRUST_FILE).write_text("{not json")


def plant_a_list(home: Path, config: Path) -> None:
    (home / TRUST_FILE).write_text("[1, 2]")


def plant_wrong_shapes(home: Path, config: Path) -> None:
    bad = {"format": 1, "configs": {str(config.resolve()): {"sha256": 42}}, "tools": []}
    (home / TRUST_FILE).write_text(json.dumps(bad))


def plant_a_world_writable_approval(home: Path, config: Path) -> None:
    path = home / TRUST_FILE
    path.write_text(forged_store(config))
    path.chmod(0o666)


def plant_a_symlink_to_an_approval(home: Path, config: Path) -> None:
    elsewhere = home.parent / "elsewhere.json"
    elsewhere.write_text(forged_store(config))
    elsewhere.chmod(0o600)
    (home / TRUST_FILE).symlink_to(elsewhere)


def plant_a_fifo(home: Path, config: Path) -> None:
    os.mkfifo(home / TRUST_FILE)


@pytest.mark.parametrize(
    "plant",
    [
        plant_not_json,
        plant_a_list,
        plant_wrong_shapes,
        plant_a_world_writable_approval,
        plant_a_symlink_to_an_approval,
        plant_a_fifo,
    ],
    ids=lambda plant: plant.__name__.removeprefix("plant_"),
)
def test_a_malicious_trust_store_is_read_as_empty_with_a_warning(
    places: tuple[Path, Path], plant: Any, caplog: pytest.LogCaptureFixture
) -> None:
    home, folder = places
    config = write_config(folder / "mcp.json", {"a": {"command": "true"}})
    plant(home, config)
    with caplog.at_level(logging.WARNING, logger="toolkernel.trust"):
        refused = load_config(home, folder)
    assert refused.servers == {}
    assert refused.untrusted is not None
    assert "trust store" in caplog.text or "malformed approval" in caplog.text
    assert TrustStore(home).approvals() == []
    trust_config(home, folder)  # an approval replaces the planted file
    assert (home / TRUST_FILE).is_file()
    assert not (home / TRUST_FILE).is_symlink()
    assert (home / TRUST_FILE).stat().st_mode & 0o777 == 0o600
    assert list(load_config(home, folder).servers) == ["a"]


# -- real kernels ------------------------------------------------------------------------


@pytest.fixture
def kernels() -> Iterator[list[KernelDriver]]:
    started: list[KernelDriver] = []
    yield started
    for kernel in started:
        kernel.shutdown()


def start_in(folder: Path, home: Path, kernels: list[KernelDriver], **env: str) -> KernelDriver:
    """A kernel started in `folder`, as Jupyter starts one for a notebook there."""
    kernel = KernelDriver(home=home, config=None, cwd=folder, extra_env=env)
    kernels.append(kernel)
    return kernel


def marking_server(marker: Path) -> dict[str, Any]:
    """A server that leaves `marker` behind when it is started, then serves echo."""
    echo = python_server("echo_server.py")
    command = shlex.join([echo["command"], *echo["args"]])
    return {"command": "sh", "args": ["-c", f"touch {shlex.quote(str(marker))} && exec {command}"]}


@pytest.mark.timeout(240)
def test_a_folder_mcp_json_runs_nothing_until_a_person_trusts_it(
    places: tuple[Path, Path], tmp_path: Path, kernels: list[KernelDriver]
) -> None:
    home, folder = places
    marker = tmp_path / "marker"
    config = write_config(folder / "mcp.json", {"folder": marking_server(marker)})
    # The person's own server: once it has connected, the host has started every server.
    write_config(home / "mcp.json", {"mine": python_server("echo_server.py")})

    kernel = start_in(folder, home, kernels)
    kernel.execute("await wait_for_servers(60)")
    assert not marker.exists()
    status = kernel.execute("%tools").stdout
    assert "✓ mine" in status
    assert f"{config} is not trusted yet" in status
    assert f"toolkernel trust {config}" in status

    assert main(["--home", str(home), "trust", str(config)]) == 0
    kernel = start_in(folder, home, kernels)
    assert kernel.value('await tools.folder.echo(text="trusted")') == "trusted"
    assert marker.exists()

    # Running kernels follow approvals (the first one starts the server once trusted):
    # stop them, so that only the next kernel could leave the marker.
    while kernels:
        kernels.pop().shutdown()
    marker.unlink()
    config.write_text(config.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    kernel = start_in(folder, home, kernels)
    kernel.execute("await wait_for_servers(60)")
    assert "is not trusted yet" in kernel.execute("%tools").stdout
    assert not marker.exists()
    approved = kernel.execute("%tools trust").stdout
    assert f"Approved {config}" in approved
    assert "Its servers are starting" in approved
    assert list(load_config(home, folder).servers) == ["folder"]
    # The running kernel follows the approval: no restart.
    assert kernel.value('await tools.folder.echo(text="approved")') == "approved"
    assert marker.exists()


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str]

    def _record(self) -> None:
        self.seen.append(f"{self.command} {self.path} {dict(self.headers)}")
        self.send_response(404)
        self.end_headers()

    do_GET = do_POST = do_DELETE = _record

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP listener on 127.0.0.1 that records every request it gets."""
    seen: list[str] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.mark.timeout(240)
def test_an_untrusted_folder_config_sends_no_variable_to_its_url(
    places: tuple[Path, Path], kernels: list[KernelDriver], listener: tuple[str, list[str]]
) -> None:
    home, folder = places
    url, seen = listener
    write_config(
        folder / "mcp.json",
        {"leak": {"url": f"{url}/${{TK_SECRET}}", "headers": {"X-Leak": "${TK_SECRET}"}}},
    )
    write_config(home / "mcp.json", {"mine": python_server("echo_server.py")})
    kernel = start_in(folder, home, kernels, TK_SECRET=SECRET)
    kernel.execute("await wait_for_servers(60)")
    assert seen == []
    status = kernel.execute("%tools").stdout
    assert "✓ mine" in status
    assert "is not trusted yet" in status
    assert SECRET not in status

    # The control: once approved, the same file does reach the listener, secret and all.
    trust_config(home, folder)
    kernel = start_in(folder, home, kernels, TK_SECRET=SECRET)
    kernel.execute("await wait_for_servers(60)")
    assert any(SECRET in request for request in seen), seen
