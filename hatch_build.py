"""Hatch build hook: ship the `toolkernel` and `toolkernel-sandboxed` kernelspecs as shared-data.

It reuses the pure functions of `toolkernel/kernelspec.py` (loaded by path, so the build
needs none of the runtime dependencies). Wheels get `"python"` as the interpreter;
editable installs get this interpreter's absolute path, as ipykernel does.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

HERE = Path(__file__).parent


def _kernelspec_module() -> Any:
    path = HERE / "kernel" / "toolkernel" / "kernelspec.py"
    spec = importlib.util.spec_from_file_location("_toolkernel_kernelspec", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CustomHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        kernelspec = _kernelspec_module()
        dest = HERE / "build" / "kernelspec"
        if dest.exists():
            shutil.rmtree(dest)
        executable = sys.executable if version == "editable" else "python"
        kernelspec.write_kernel_spec(dest, executable=executable)
        build_data["shared_data"][str(dest)] = f"share/jupyter/kernels/{kernelspec.KERNEL_NAME}"
        sandboxed = HERE / "build" / "kernelspec-sandboxed"
        if sandboxed.exists():
            shutil.rmtree(sandboxed)
        kernelspec.write_kernel_spec(
            sandboxed,
            executable=executable,
            display_name=kernelspec.SANDBOXED_DISPLAY_NAME,
            sandboxed=True,
        )
        build_data["shared_data"][str(sandboxed)] = (
            f"share/jupyter/kernels/{kernelspec.SANDBOXED_KERNEL_NAME}"
        )
