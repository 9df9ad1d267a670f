"""What the bridge does only with a real Jupyter Enterprise Gateway (local process proxy):
kernel variables, the gateway's refusals and limits, the deployment samples. The tests it
shares with `jupyter server` are in test_bridge_gateway.py."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ipykernel.ipkernel import IPythonKernel
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from gateway_support import (
    WAIT,
    Bridge,
    EnterpriseGateway,
    eg_python,
    run,
    running_bridge,
)
from tk_support import python_server, write_config
from toolkernel.bridge import GatewayTarget, KernelSession
from toolkernel.bridge._gateway_rest import kernel_env
from toolkernel.config import StdioServer, load_config
from toolkernel.errors import BridgeError

pytestmark = pytest.mark.timeout(240)
TOOLKERNEL = str(Path(sys.executable).parent / "toolkernel")


@pytest.fixture(scope="module")
def bridge(enterprise_gateway: EnterpriseGateway) -> Iterator[Bridge]:
    with running_bridge(enterprise_gateway.target()) as running:
        run(running, "await wait_for_servers(30)")
        yield running
    assert enterprise_gateway.kernels() == []


def test_tools_from_the_home_baked_into_the_kernelspec_are_preloaded(
    bridge: Bridge, enterprise_gateway: EnterpriseGateway
) -> None:
    assert run(bridge, "await tools.echo.add(a=2, b=3)") == "5"
    home = run(bridge, "import os\nos.environ['TOOLKERNEL_HOME']")
    assert home == repr(str(enterprise_gateway.home))


def test_the_kernel_runs_as_the_user_the_bridge_names(bridge: Bridge) -> None:
    assert run(bridge, "import os\nos.environ['KERNEL_USERNAME']") == "'toolkernel-test'"


def test_an_mcp_json_the_client_sends_picks_the_remote_kernels_tools(
    enterprise_gateway: EnterpriseGateway, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "mcp.json", {"other": python_server("echo_server.py")})
    target = enterprise_gateway.target(env={"TOOLKERNEL_MCP_CONFIG": str(config)})
    with running_bridge(target, timeout=77) as bridge:
        run(bridge, "await wait_for_servers(30)")
        assert run(bridge, "await tools.other.add(a=4, b=5)") == "9"
        assert run(bridge, "'echo' in dir(tools)") == "False"
        # The gateway waits for the kernel as long as the bridge does.
        assert run(bridge, "import os\nos.environ['KERNEL_LAUNCH_TIMEOUT']") == "'77'"


def test_a_user_the_gateway_refuses_is_told_how_to_name_another(
    enterprise_gateway: EnterpriseGateway,
) -> None:
    before = enterprise_gateway.kernels()
    session = KernelSession(gateway=enterprise_gateway.target(env={"KERNEL_USERNAME": "root"}))
    with pytest.raises(
        BridgeError,
        match=r"HTTP 403 User 'root' is not authorized.*set KERNEL_USERNAME in the bridge's",
    ):
        asyncio.run(asyncio.wait_for(session.start(), WAIT))
    assert enterprise_gateway.kernels() == before


def test_a_gateway_at_its_kernel_limit_refuses_a_new_kernel_with_its_reason(
    tmp_path: Path,
) -> None:
    gateway = EnterpriseGateway(tmp_path, "--EnterpriseGatewayApp.max_kernels=1")
    try:
        with running_bridge(gateway.target()):
            session = KernelSession(gateway=gateway.target())
            with pytest.raises(
                BridgeError, match=r"did not start kernel .*HTTP 403 Resource Limit"
            ):
                asyncio.run(asyncio.wait_for(session.start(), WAIT))
            assert len(gateway.kernels()) == 1
    finally:
        gateway.stop()


def test_a_wrong_token_is_refused_by_the_gateway_with_a_clear_error(
    enterprise_gateway: EnterpriseGateway,
) -> None:
    session = KernelSession(gateway=enterprise_gateway.target(token="not-the-token"))  # noqa: S106
    with pytest.raises(BridgeError, match=r"refused the token \(HTTP 401\).*--gateway-token"):
        asyncio.run(asyncio.wait_for(session.start(), WAIT))


def test_toolkernel_mcp_sends_its_kernel_variables_to_the_gateway(
    enterprise_gateway: EnterpriseGateway, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "TOOLKERNEL_GATEWAY_TOKEN": enterprise_gateway.token,
        "KERNEL_USERNAME": "toolkernel-cli",
        "KERNEL_EXTRA": "from the bridge",
    }
    params = StdioServerParameters(
        command=TOOLKERNEL,
        args=["mcp", "--gateway-url", enterprise_gateway.url],
        env=env,
        cwd=str(tmp_path),
    )
    code = "import os\nos.environ['KERNEL_USERNAME'], os.environ['KERNEL_EXTRA']"

    async def scenario() -> str:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("execute_code", {"code": code})
        return str(result.content[0].text)

    assert (
        asyncio.run(asyncio.wait_for(scenario(), WAIT)) == "('toolkernel-cli', 'from the bridge')"
    )


def test_the_start_request_carries_kernel_variables_and_the_targets_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KERNEL_NAMESPACE", "team-a")
    monkeypatch.setenv("KERNEL_USERNAME", "ada")
    monkeypatch.setenv("NOT_A_KERNEL_VAR", "stays home")
    target = GatewayTarget("http://127.0.0.1:1", env={"KERNEL_USERNAME": "grace", "X": "1"})
    env = kernel_env(target, timeout=42.5)
    assert env["KERNEL_NAMESPACE"] == "team-a"
    assert env["KERNEL_USERNAME"] == "grace"
    assert env["X"] == "1"
    assert env["KERNEL_LAUNCH_TIMEOUT"] == "43"
    assert "NOT_A_KERNEL_VAR" not in env


DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "enterprise-gateway"


def sample_kernelspec() -> dict[str, Any]:
    path = DEPLOY / "kernelspecs" / "toolkernel_kubernetes" / "kernel.json"
    spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return spec


def dockerfile_instructions() -> list[str]:
    """The kernel image's Dockerfile, one instruction a line (continuations joined)."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_the_sample_kernelspec_runs_kernel_pods_through_the_gateways_kubernetes_proxy() -> None:
    spec = sample_kernelspec()
    proxy = spec["metadata"]["process_proxy"]
    module, _, name = proxy["class_name"].rpartition(".")
    # The class is the gateway's own. Its module connects to the cluster on import, so it
    # is found in the gateway's venv and read, not imported.
    found = subprocess.run(
        [
            str(eg_python()),
            "-c",
            f"import importlib.util; print(importlib.util.find_spec({module!r}).origin)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    source = Path(found.stdout.strip()).read_text(encoding="utf-8")
    assert f"\nclass {name}(" in source
    assert name == "KubernetesProcessProxy"
    argv = spec["argv"]
    assert argv[1].endswith("/scripts/launch_kubernetes.py")
    for placeholder in ("{kernel_id}", "{port_range}", "{response_address}", "{public_key}"):
        assert placeholder in argv
    assert spec["language"] == "python"
    # The image the pods run is the one the Dockerfile's header says to build.
    assert (
        f"docker build -t {proxy['config']['image_name']} " in (DEPLOY / "Dockerfile").read_text()
    )


def test_the_sample_kernelspec_names_the_toolkernel_kernel_class() -> None:
    argv = sample_kernelspec()["argv"]
    class_path = argv[argv.index("--kernel-class-name") + 1]
    module, _, name = class_path.rpartition(".")
    kernel_class = getattr(importlib.import_module(module), name)
    assert issubclass(kernel_class, IPythonKernel)
    assert kernel_class.implementation == "toolkernel"


def test_the_sample_kernel_image_installs_this_package_and_bakes_in_its_tools(
    tmp_path: Path,
) -> None:
    project = tomllib.loads((DEPLOY.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    wheel_name = re.sub(r"[-_.]+", "_", project["project"]["name"]).lower()
    instructions = dockerfile_instructions()
    [install] = [line for line in instructions if "pip install" in line]
    assert f"/{wheel_name}-*.whl" in install
    [copy_wheel] = [line for line in instructions if line.startswith("COPY dist/")]
    assert f"dist/{wheel_name}-*.whl" in copy_wheel
    # mcp.json is copied to where TOOLKERNEL_MCP_CONFIG points, and toolkernel reads it.
    [copy_config] = [line for line in instructions if line.endswith("mcp.json")]
    source, target = copy_config.split()[1:]
    [env] = [line for line in instructions if line.startswith("ENV ")]
    assert f"TOOLKERNEL_MCP_CONFIG={target}" in env.split()
    config = load_config(tmp_path, explicit=DEPLOY.parents[1] / source)
    assert config.servers
    for server in config.servers.values():  # each one's package is installed in the image
        assert isinstance(server, StdioServer)
        package = server.args[server.args.index("-m") + 1].replace("_", "-")
        assert package in install.split()
