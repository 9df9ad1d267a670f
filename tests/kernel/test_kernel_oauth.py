"""A kernel uses a remote OAuth server with the tokens its tool host keeps, never the cell's.

The browser step is done once by an in-process host on the same home (see
`tests/host/test_host_oauth.py` for the sign-in itself); the kernel then starts with no
browser step, and its cells never hold a token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tk_support import SIGN_IN_LINK, http_server, oauth_sign_in, start_kernel
from toolkernel.host._oauth_store import TokenFile

_NAMESPACE_TEXT = (
    "'\\n'.join(f'{k}={v!r} {v!s}' for k, v in list(globals().items()) "
    "if k not in ('In', 'Out', '_ih', '_oh', '_i', '_ii', '_iii'))"
)


@pytest.fixture
def oauth_url() -> Iterator[str]:
    with http_server("oauth_server.py") as url:
        yield url


def test_a_kernel_calls_an_oauth_server_and_no_token_reaches_its_namespace(
    tmp_path: Path, oauth_url: str
) -> None:
    home = tmp_path / "home"
    oauth_sign_in(home, oauth_url)
    kernel = start_kernel(tmp_path, {"notes": {"url": oauth_url, "auth": "oauth"}})
    try:
        assert kernel.value("await tools.notes.whoami()") == "signed in as toolkernel"
        result = kernel.value("await tools.notes.oauth_stats()")
        assert result["authorizations"] == 1  # no second browser step
        shown = kernel.execute("%tools").stdout + kernel.value(_NAMESPACE_TEXT)
    finally:
        kernel.shutdown()
    stored = json.loads(
        (home / "oauth" / TokenFile(home / "oauth", "notes", oauth_url).name).read_text()
    )
    for secret in (stored["tokens"]["access_token"], stored["tokens"]["refresh_token"]):
        assert secret not in shown
    assert "notes" in shown


def test_a_kernel_that_is_not_signed_in_shows_the_sign_in_link_in_tools(
    tmp_path: Path, oauth_url: str
) -> None:
    kernel = start_kernel(tmp_path, {"notes": {"url": oauth_url, "auth": "oauth"}})
    try:
        # A cell that names the server runs once its first attempt is over (bounded).
        kernel.execute("tools.notes", allow_error=True)
        shown = kernel.execute("%tools").stdout
    finally:
        kernel.shutdown()
    assert "✗ notes" in shown
    link = SIGN_IN_LINK.search(shown)
    assert link, shown
    assert link.group(1).startswith(oauth_url.removesuffix("/mcp") + "/authorize?")
