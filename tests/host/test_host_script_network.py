"""A script tool's `network` as a list of domains: checked in its manifest, enforced by
the sandbox's filtering proxy when the tool runs through `ToolHost.call`.

No internet here: the tools reach an HTTP server this test starts on the host's
127.0.0.1, under real bubblewrap and firejail.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tk_support import local_web_server
from toolkernel.errors import RegistryError
from toolkernel.factory import ToolFactory
from toolkernel.host import ToolHost
from toolkernel.kinds.script._manifest import check_script_policy, policy_or_error
from toolkernel.registry import ToolRegistry

WAIT_S = 60.0
ANY_ARGS = {"type": "object", "additionalProperties": True}

# Fetches each URL it is given (through the proxy the environment names, if any), and
# tries one direct connection, then answers with what happened.
FETCH = """import json, socket, sys, urllib.request
request = json.loads(sys.stdin.readline())
arguments = request["params"]["arguments"]
out = {}
for url in arguments["urls"]:
    try:
        out[url] = [200, urllib.request.urlopen(url, timeout=10).read().decode()]
    except urllib.error.HTTPError as exc:
        out[url] = [exc.code, exc.read().decode()]
    except OSError as exc:
        out[url] = [0, str(exc)]
try:
    socket.create_connection(("127.0.0.1", arguments["port"]), timeout=2).close()
    out["direct"] = "connected"
except OSError as exc:
    out["direct"] = exc.strerror
print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": out}), flush=True)
"""


def test_a_policy_network_may_be_a_list_of_domains_kept_normalized() -> None:
    checked = check_script_policy({"network": ["API.GitHub.com", "*.example.org", "localhost"]})
    assert checked["network"] == ["api.github.com", "*.example.org", "localhost"]
    assert check_script_policy({"network": []})["network"] is False
    assert check_script_policy({"network": True})["network"] is True


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ("true", "true, false, or a list of domains"),
        ({"api.github.com": True}, "true, false, or a list of domains"),
        (["https://api.github.com"], "without a scheme"),
        (["*.com"], "two labels or more"),
        ([443], "domain patterns \\(strings\\)"),
    ],
)
def test_a_policy_network_that_is_neither_a_bool_nor_domains_is_refused(
    network: object, message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        check_script_policy({"network": network})


def test_the_sandbox_policy_of_a_domain_list_keeps_the_network_off() -> None:
    manifest = {"policy": {"network": ["api.github.com"]}, "limits": {}}
    policy = policy_or_error(manifest, Path("/"), {})
    assert (policy.network, policy.network_allow) == (False, ("api.github.com",))


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    with local_web_server(lambda request: f"hello {request.path}".encode()) as port:
        yield port


@pytest.fixture(scope="module", params=["bwrap", "firejail"])
def host(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ToolHost]:
    if shutil.which(request.param) is None:
        pytest.skip(f"{request.param} is not installed")
    home = tmp_path_factory.mktemp(f"script-network-{request.param}")
    with ToolRegistry(home / "home") as registry:
        factory = ToolFactory(registry, reserved=(), cache_dir=home / "cache")
        for name, options in {
            "fetch_local": {"policy": {"network": ["localhost"]}},
            "fetch_worker": {"policy": {"network": ["localhost"]}, "persistent": True},
            "fetch_closed": {},
        }.items():
            factory.create(
                name,
                kind="script",
                language="python",
                source=FETCH,
                input_schema=ANY_ARGS,
                **options,
            )
        served = ToolHost(
            {}, registry=registry, logs_dir=home / "logs", sandbox_backend=request.param
        )
        served.start()
        try:
            yield served
        finally:
            served.stop()


def fetch(host: ToolHost, tool: str, port: int, *urls: str) -> dict[str, Any]:
    arguments = {"urls": list(urls), "port": port}
    result = asyncio.run(asyncio.wait_for(host.call(f"local.{tool}", arguments), WAIT_S))
    assert not result.is_error, result.content
    return dict(result.structured)


@pytest.mark.parametrize("tool", ["fetch_local", "fetch_worker"])
def test_a_script_tool_reaches_its_listed_domain_and_nothing_else(
    host: ToolHost, upstream: int, tool: str
) -> None:
    by_name = f"http://localhost:{upstream}/page"
    by_address = f"http://127.0.0.1:{upstream}/page"
    out = fetch(host, tool, upstream, by_name, by_address)
    assert out[by_name] == [200, "hello /page"]
    status, body = out[by_address]
    assert status == 403
    assert "'127.0.0.1'" in body
    assert "network allowlist (localhost)" in body
    assert out["direct"] == "Connection refused"


def test_a_script_tool_without_a_network_policy_reaches_nothing(
    host: ToolHost, upstream: int
) -> None:
    url = f"http://localhost:{upstream}/page"
    out = fetch(host, "fetch_closed", upstream, url)
    assert out[url][0] == 0  # no proxy: its own empty loopback refuses the connection
    assert "Connection refused" in out[url][1]
    assert out["direct"] == "Connection refused"
