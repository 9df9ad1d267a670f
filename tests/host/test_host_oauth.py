"""OAuth sign-in for remote servers, against a real server that only takes OAuth tokens.

`tests/servers/oauth_server.py` is its own authorization server (the SDK's
`mcp.server.auth`) and approves at once, so the test plays the person by fetching the
authorization link and following its redirects to the host's loopback callback.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tk_support import SIGN_IN_LINK, approve, http_server, oauth_sign_in
from toolkernel.config import HttpServer, OAuthSettings
from toolkernel.errors import ServerUnavailable
from toolkernel.host import ToolHost
from toolkernel.host._connection import ServerConnection
from toolkernel.host._failures import ConnectFailed
from toolkernel.host._oauth_store import TokenFile
from toolkernel.registry import ToolRegistry

WAIT = 30


@pytest.fixture
def oauth_url() -> Iterator[str]:
    with http_server("oauth_server.py") as url:
        yield url


def start_host(home: Path, url: str) -> ToolHost:
    host = ToolHost(
        {"notes": HttpServer("notes", url, oauth=OAuthSettings())},
        registry=ToolRegistry(home),
        logs_dir=home / "logs",
    )
    host.start()
    return host


def run(work: Any) -> Any:
    return asyncio.run(asyncio.wait_for(work, WAIT))


def stats(host: ToolHost) -> dict[str, Any]:
    result = run(host.call("notes.oauth_stats", {}))
    assert not result.is_error, result
    return dict(result.structured)


def token_file(home: Path) -> Path:
    [path] = (home / "oauth").glob("*.json")
    return path


def backdate(home: Path) -> None:
    """Make the stored access token expired, as a night away would."""
    path = token_file(home)
    data = json.loads(path.read_text())
    data["expires_at"] = 1.0
    path.write_text(json.dumps(data))


def test_a_first_call_names_the_sign_in_link_and_the_host_connects_once_approved(
    tmp_path: Path, oauth_url: str
) -> None:
    host = start_host(tmp_path, oauth_url)
    try:
        with pytest.raises(ServerUnavailable, match="needs you to sign in: open http") as info:
            run(host.call("notes.whoami", {}))
        link = SIGN_IN_LINK.search(str(info.value))
        assert link
        connected = threading.Event()  # a fresh home: no cached tools are heard first
        host.subscribe(lambda source, specs: connected.set() if source == "notes" else None)
        assert approve(link.group(1)).status_code == 200
        assert connected.wait(WAIT), "the host did not connect by itself after the sign-in"
        assert run(host.call("notes.whoami", {})).content[0]["text"] == "signed in as toolkernel"
        assert stats(host)["authorizations"] == 1
    finally:
        host.stop()


def test_tokens_are_kept_in_a_private_file_of_the_home(tmp_path: Path, oauth_url: str) -> None:
    oauth_sign_in(tmp_path, oauth_url)
    path = token_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    assert data["server_url"] == oauth_url
    assert data["tokens"]["access_token"]
    assert data["tokens"]["refresh_token"]
    assert data["client_info"]["client_id"]


def test_a_second_start_reuses_the_stored_token_without_a_browser_step(
    tmp_path: Path, oauth_url: str
) -> None:
    oauth_sign_in(tmp_path, oauth_url)
    host = start_host(tmp_path, oauth_url)
    try:
        [status] = run(host.statuses(settle=WAIT))
        assert status.state == "connected", status.detail
        counts = stats(host)
        assert (counts["registrations"], counts["authorizations"]) == (1, 1)
    finally:
        host.stop()


def test_an_expired_token_is_refreshed_and_the_new_tokens_are_kept(
    tmp_path: Path, oauth_url: str
) -> None:
    oauth_sign_in(tmp_path, oauth_url)
    for refreshes in (1, 2):  # the second refresh needs the rotated refresh token kept
        backdate(tmp_path)
        host = start_host(tmp_path, oauth_url)
        try:
            counts = stats(host)
        finally:
            host.stop()
        assert (counts["authorizations"], counts["refreshes"]) == (1, refreshes)
        stored = json.loads(token_file(tmp_path).read_text())["tokens"]
        assert _sha(stored["access_token"]) == counts["access_sha256"]
        assert _sha(stored["refresh_token"]) == counts["refresh_sha256"]


def test_a_client_completes_the_sign_in_through_url_elicitation(
    tmp_path: Path, oauth_url: str
) -> None:
    asked: list[dict[str, Any]] = []

    async def client(method: str, params: dict[str, Any]) -> dict[str, Any]:
        asked.append({"method": method, **params})
        page = await asyncio.to_thread(approve, params["url"])
        assert page.status_code == 200
        return {"action": "accept"}

    async def connect() -> list[str]:
        connection = _connection(tmp_path, oauth_url)
        try:
            with connection.relaying(client):
                await connection.ensure_connected()
            return [spec.name for spec in connection.tools or []]
        finally:
            await connection.close()

    assert "whoami" in run(connect())
    [request] = asked
    assert request["method"] == "elicitation/create"
    assert request["mode"] == "url"
    assert request["url"].startswith(oauth_url.removesuffix("/mcp") + "/authorize?")


def test_a_token_refused_mid_session_is_renewed_through_the_calling_client(
    tmp_path: Path, oauth_url: str
) -> None:
    oauth_sign_in(tmp_path, oauth_url)
    asked: list[str] = []

    async def client(method: str, params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params["mode"])
        page = await asyncio.to_thread(approve, params["url"])
        assert page.status_code == 200
        return {"action": "accept"}

    host = start_host(tmp_path, oauth_url)
    try:
        assert run(host.call("notes.revoke_all", {})).content[0]["text"] == "revoked"
        result = run(host.call("notes.whoami", {}, relay=client))
        assert result.content[0]["text"] == "signed in as toolkernel"
        assert asked == ["url"]
        assert stats(host)["authorizations"] == 2
    finally:
        host.stop()


def test_a_declined_sign_in_fails_and_says_how_to_retry(tmp_path: Path, oauth_url: str) -> None:
    async def client(method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "decline"}

    async def connect() -> None:
        connection = _connection(tmp_path, oauth_url)
        try:
            with connection.relaying(client):
                await connection.ensure_connected()
        finally:
            await connection.close()

    with pytest.raises(ConnectFailed, match="sign-in was declined; call again to retry"):
        run(connect())


def test_a_callback_with_another_state_is_refused_and_the_sign_in_goes_on(
    tmp_path: Path, oauth_url: str
) -> None:
    host = start_host(tmp_path, oauth_url)
    try:
        [status] = run(host.statuses(settle=WAIT))
        link = SIGN_IN_LINK.search(status.detail or "")
        assert link
        redirect = httpx.get(link.group(1), timeout=WAIT).headers["location"]
        forged = re.sub(r"state=[^&]+", "state=forged", redirect)
        refused = httpx.get(forged, timeout=WAIT)
        assert refused.status_code == 400
        assert "state differs" in refused.text
        assert httpx.get(redirect, timeout=WAIT).status_code == 200
        assert run(host.call("notes.whoami", {})).content[0]["text"] == "signed in as toolkernel"
    finally:
        host.stop()


def test_tokens_are_never_written_through_a_planted_link(tmp_path: Path, oauth_url: str) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("untouched")
    folder = tmp_path / "oauth"
    folder.mkdir(mode=0o700)
    (folder / TokenFile(folder, "notes", oauth_url).name).symlink_to(target)
    oauth_sign_in(tmp_path, oauth_url)
    assert target.read_text() == "untouched"
    assert not token_file(tmp_path).is_symlink()


def _connection(home: Path, url: str) -> ServerConnection:
    return ServerConnection(
        HttpServer("notes", url, oauth=OAuthSettings()),
        connect_timeout=WAIT,
        logs_dir=home / "logs",
        on_tools=lambda source, specs: None,
        on_log=lambda server, level, text: None,
    )


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_a_taken_callback_port_registers_again_with_a_free_one(
    tmp_path: Path, oauth_url: str
) -> None:
    oauth_sign_in(tmp_path, oauth_url)
    path = token_file(tmp_path)
    data = json.loads(path.read_text())
    del data["tokens"]  # signed out: the next connection needs the browser again
    path.write_text(json.dumps(data))
    port = TokenFile(path.parent, "notes", oauth_url).callback_port()
    assert port is not None
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        host = start_host(tmp_path, oauth_url)
        try:
            [status] = run(host.statuses(settle=WAIT))  # the host tries once at start
            assert f"callback port {port} is taken" in (status.detail or "")
            with pytest.raises(ServerUnavailable, match="needs you to sign in") as info:
                run(host.call("notes.whoami", {}))
            link = SIGN_IN_LINK.search(str(info.value))
            assert link
            assert f"127.0.0.1%3A{port}%2F" not in link.group(1)
            assert approve(link.group(1)).status_code == 200
            assert stats(host)["registrations"] == 2
        finally:
            host.stop()
