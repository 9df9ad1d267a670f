"""The HTTP front's DNS-rebinding settings: which Host and Origin headers a bridge accepts.

The processes in test_bridge_transports.py prove the MCP SDK enforces them (421, 403).
"""

from __future__ import annotations

import socket

from toolkernel.bridge import transport_security


def test_a_loopback_bridge_accepts_every_loopback_name_on_its_port() -> None:
    settings = transport_security("127.0.0.1", 8848)
    assert settings.enable_dns_rebinding_protection
    loopback = {"127.0.0.1:8848", "localhost:8848", "[::1]:8848"}
    assert set(settings.allowed_hosts) == loopback
    assert set(settings.allowed_origins) == {f"http://{host}" for host in loopback}


def test_a_bridge_on_another_address_accepts_that_address_and_the_extras_only() -> None:
    settings = transport_security(
        "192.0.2.7", 9000, hosts=["proxy.example:443"], origins=["https://app.example"]
    )
    assert settings.allowed_hosts == ["192.0.2.7:9000", "proxy.example:443"]
    assert settings.allowed_origins == ["http://192.0.2.7:9000", "https://app.example"]


def test_an_ipv6_address_is_bracketed_as_in_a_host_header() -> None:
    assert transport_security("2001:db8::7", 9000).allowed_hosts == ["[2001:db8::7]:9000"]


def test_on_port_80_a_host_header_without_the_port_is_accepted() -> None:
    settings = transport_security("localhost", 80)
    assert {"localhost", "localhost:80"} <= set(settings.allowed_hosts)
    assert "http://localhost" in settings.allowed_origins


def test_a_wildcard_bind_accepts_this_machines_name_and_loopback_not_the_wildcard() -> None:
    hosts = transport_security("0.0.0.0", 8848).allowed_hosts  # noqa: S104
    assert {f"{socket.gethostname()}:8848", "127.0.0.1:8848", "[::1]:8848"} <= set(hosts)
    assert "0.0.0.0:8848" not in hosts
