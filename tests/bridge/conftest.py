"""Kernel servers for the bridge's gateway tests (see tests/gateway_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway_support import EnterpriseGateway, JupyterServer


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A `jupyter server` for the module's tests; its kernels see the echo server."""
    server = JupyterServer(tmp_path_factory.mktemp("jupyter"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def enterprise_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnterpriseGateway]:
    """An Enterprise Gateway for the module's tests; its toolkernel kernels see the echo
    server from the home baked into the kernelspec."""
    gateway = EnterpriseGateway(tmp_path_factory.mktemp("enterprise-gateway"))
    yield gateway
    gateway.stop()
