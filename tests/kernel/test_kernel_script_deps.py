"""Script tools with their own dependencies: a real pip package and a real npm package."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tk_support import TESTS, start_kernel

pytestmark = pytest.mark.timeout(600)

SOURCES = TESTS / "script_sources"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_kernel(tmp_path_factory.mktemp("deps-kernel"), {})
    yield driver
    driver.shutdown()


def create(kernel: Any, name: str, source_file: str, language: str, **options: Any) -> Any:
    source = (SOURCES / source_file).read_text(encoding="utf-8")
    call = (
        f"create_tool({name!r}, kind='script', language={language!r}, source={source!r}, "
        "input_schema={'type': 'object', 'additionalProperties': True}, "
        + "".join(f"{key}={value!r}, " for key, value in options.items())
        + ")"
    )
    return kernel.execute(call, timeout=580, allow_error=True)


def test_a_pip_requirement_goes_into_the_tools_own_venv(kernel: Any) -> None:
    out = create(kernel, "uses_six", "uses_six.py", "python", requirements=["six==1.17.0"])
    assert out.error is None, out.traceback
    assert kernel.value("await tools.local.uses_six({})") == {"six": "1.17.0"}
    again = create(kernel, "uses_six_too", "uses_six.py", "python", requirements=["six==1.17.0"])
    assert again.error is None
    assert "Collecting" not in again.stdout


def test_an_npm_package_goes_into_the_tools_own_node_modules(kernel: Any) -> None:
    out = create(
        kernel, "uses_is_number", "uses_is_number.js", "node", packages=["is-number@7.0.0"]
    )
    assert out.error is None, out.traceback
    assert kernel.value("await tools.local.uses_is_number({'value': 5})") == {"checked": True}


def test_a_failed_install_is_a_clear_error_and_registers_nothing(kernel: Any) -> None:
    out = create(
        kernel, "broken_deps", "uses_six.py", "python", requirements=["toolkernel-no-such-pkg-xyz"]
    )
    assert out.error is not None
    assert out.error["ename"] == "DependencyError"
    assert "toolkernel-no-such-pkg-xyz" in out.error["evalue"]
    assert kernel.value("hasattr(tools.local, 'broken_deps')") is False
