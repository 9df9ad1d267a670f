"""Browser tests drive Playwright's sync API, which owns this thread's event loop.

pytest-jupyter's autouse fixtures (loaded for the server extension's tests) would make
and close a loop of their own around every test; here nothing runs in-process, so they
are replaced by no-ops. One headless Debian Chromium serves every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lab_support import CHROMIUM


@pytest.fixture
def jp_asyncio_loop() -> None:
    return None


@pytest.fixture
def jp_server_cleanup() -> None:
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (.ci/setup)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()
