"""`GET servers`, `GET generation`, authentication, and how the extension is found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from panel_support import get_json

import toolkernel
from toolkernel.registry import ToolRegistry
from toolkernel.serverext import (
    NOT_STARTED,
    NOT_STARTED_STATE,
    PanelService,
    ToolkernelServerApp,
)


async def test_servers_show_published_states_and_configured_ones(jp_fetch: Any) -> None:
    answer = await get_json(jp_fetch, "servers")
    servers = {server["name"]: server for server in answer["servers"]}
    assert [server["name"] for server in answer["servers"]] == sorted(servers)
    assert servers["filesystem"]["state"] == "connected"
    assert servers["filesystem"]["tool_count"] == 3
    assert servers["everything"]["state"] == "failed"
    assert "npx not found; install Node" in servers["everything"]["detail"]
    memory = (servers["memory"]["state"], servers["memory"]["detail"])
    assert memory == (NOT_STARTED_STATE, NOT_STARTED) == ("not_started", NOT_STARTED)
    assert servers["broken"]["state"] == "failed"
    assert "command" in servers["broken"]["detail"]
    assert answer["config_error"] is None


async def test_generation_changes_after_a_write_from_another_registry(
    jp_fetch: Any, registry: ToolRegistry
) -> None:
    first = (await get_json(jp_fetch, "generation"))["generation"]
    assert (await get_json(jp_fetch, "generation"))["generation"] == first
    registry.memory_set("user", "note", {"not": "a tool"})
    assert (await get_json(jp_fetch, "generation"))["generation"] == first
    registry.set_server_status("memory", "connecting")
    second = (await get_json(jp_fetch, "generation"))["generation"]
    assert second != first
    registry.rollback_tool("local.word_count", 1)
    third = (await get_json(jp_fetch, "generation"))["generation"]
    assert third not in (first, second)
    listed = await get_json(jp_fetch, "tools")
    assert {t["name"]: t["version"] for t in listed["tools"]}["local.word_count"] == 3


async def test_generation_changes_after_the_panels_own_rollback(jp_fetch: Any) -> None:
    first = (await get_json(jp_fetch, "generation"))["generation"]
    await jp_fetch(
        "toolkernel", "api", "tools", "local.word_count", "rollback",
        method="POST", body=json.dumps({"version": 1}),
    )  # fmt: skip
    assert (await get_json(jp_fetch, "generation"))["generation"] != first


async def test_a_request_without_credentials_is_refused(
    jp_fetch: Any, http_server_client: Any, jp_base_url: str
) -> None:
    await get_json(jp_fetch, "tools")  # the server is up and the route exists
    for path in ["tools", "tools/filesystem.read_file", "servers", "generation"]:
        response = await http_server_client.fetch(
            f"{jp_base_url}toolkernel/api/{path}", raise_error=False
        )
        assert response.code in (401, 403), path
        assert b"read_file" not in response.body


async def test_a_post_without_token_or_xsrf_is_refused(
    jp_fetch: Any, http_server_client: Any, jp_base_url: str, registry: ToolRegistry
) -> None:
    response = await http_server_client.fetch(
        f"{jp_base_url}toolkernel/api/tools/local.word_count/rollback",
        method="POST",
        body=json.dumps({"version": 1}),
        raise_error=False,
    )
    assert response.code in (401, 403)
    assert len(registry.tool_versions("local.word_count")) == 2


async def test_a_post_with_a_cookie_but_no_xsrf_is_refused(
    jp_fetch: Any, http_server_client: Any, jp_base_url: str, registry: ToolRegistry
) -> None:
    login = await jp_fetch("api", "status")  # token auth sets the login cookie
    cookies = [value.split(";", 1)[0] for value in login.headers.get_list("Set-Cookie")]
    url = f"{jp_base_url}toolkernel/api/generation"
    with_cookie = await http_server_client.fetch(url, headers={"Cookie": "; ".join(cookies)})
    assert with_cookie.code == 200  # the cookie alone authenticates a GET
    response = await http_server_client.fetch(
        f"{jp_base_url}toolkernel/api/tools/local.word_count/rollback",
        method="POST",
        body=json.dumps({"version": 1}),
        headers={"Cookie": "; ".join(cookies)},
        raise_error=False,
    )
    assert response.code in (401, 403)
    assert len(registry.tool_versions("local.word_count")) == 2


def test_the_package_names_its_server_and_lab_extensions() -> None:
    assert toolkernel._jupyter_server_extension_points() == [
        {"module": "toolkernel.serverext", "app": ToolkernelServerApp}
    ]
    assert toolkernel._jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "@toolkernel/labextension"}
    ]
    assert ToolkernelServerApp.name == "toolkernel"


def test_an_untrusted_folder_config_is_shown_with_how_to_approve_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "mcp.json").write_text(json.dumps({"mcpServers": {"x": {"command": "evil"}}}))
    monkeypatch.chdir(folder)
    monkeypatch.delenv("TOOLKERNEL_MCP_CONFIG", raising=False)
    answer = PanelService(tmp_path / "home").servers()
    assert answer["servers"] == []
    assert "is not trusted yet" in str(answer["config_error"])
    assert f"toolkernel trust {folder / 'mcp.json'}" in str(answer["config_error"])
