"""Browser tests drive Playwright's sync API, which owns this thread's event loop.

pytest-jupyter's autouse fixtures (loaded for the server extension's tests) would make
and close a loop of their own around every test; here nothing runs in-process, so they
are replaced by no-ops.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def jp_asyncio_loop() -> None:
    return None


@pytest.fixture
def jp_server_cleanup() -> None:
    return None
