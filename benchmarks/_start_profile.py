"""Where a toolkernel kernel's start time goes, measured in fresh interpreters.

Used by bench_kernel.py when "start -> bindings ready" misses its goal. Two views:

- steps: in a fresh process, the imports a plain python3 kernel also makes (ipykernel),
  then `import toolkernel.kernel` (what the toolkernel launcher adds), then
  `Toolbox(...)` over the benchmark's home (registry, cached catalogs, bindings) and
  `Toolbox.start()` (host thread; the servers are spawned, not waited for).
- imports: `python -X importtime` of `toolkernel.kernel` after ipykernel, self time
  summed by top-level package, so the packages toolkernel adds to a start stand out.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from _bench_support import PYTHON, kernel_env, median
from _report import print_table

STEPS = """
import json, time
t0 = time.perf_counter()
import ipykernel.ipkernel, ipykernel.kernelapp
t1 = time.perf_counter()
import toolkernel.kernel
from toolkernel.session._toolbox import Toolbox
t2 = time.perf_counter()
box = Toolbox(home=__import__("pathlib").Path({home!r}), config_path=None)
t3 = time.perf_counter()
tools = len(box.discovery.list_tool_names())
t4 = time.perf_counter()
box.start()
t5 = time.perf_counter()
box.stop()
print(json.dumps({{
    "import ipykernel (a python3 kernel does this too)": t1 - t0,
    "import toolkernel.kernel (mcp SDK, pydantic, ...)": t2 - t1,
    "Toolbox(): registry, cached catalogs, bindings": t3 - t2,
    "list_tool_names()": t4 - t3,
    "Toolbox.start(): host thread, spawn servers": t5 - t4,
    "tools": tools,
}}))
"""

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def _run(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, *args], capture_output=True, text=True, env=env, timeout=timeout, check=True
    )


def import_costs(env: dict[str, str]) -> dict[str, float]:
    """Self import time (ms) by top-level package, for what toolkernel imports after ipykernel."""
    code = "import ipykernel.ipkernel, ipykernel.kernelapp; import toolkernel.kernel"
    stderr = _run(["-X", "importtime", "-c", code], env).stderr
    rows = [m.groups() for m in map(_IMPORT_LINE.match, stderr.splitlines()) if m]
    names = [name for _, _, _, name in rows]
    first = names.index("ipykernel.kernelapp") + 1 if "ipykernel.kernelapp" in names else 0
    by_package: Counter[str] = Counter()
    for self_us, _, _, name in rows[first:]:
        by_package[name.split(".")[0]] += int(self_us) / 1000
    return dict(by_package.most_common())


def profile_start(home: Path, config: Path, *, rounds: int = 3) -> dict[str, Any]:
    """Print the two views for a kernel over `home` and `config`; return them as data."""
    env = kernel_env(home, config)
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        out = _run(["-c", STEPS.format(home=str(home))], env).stdout
        for name, value in json.loads(out.strip().splitlines()[-1]).items():
            samples.setdefault(name, []).append(value)
    tools = int(samples.pop("tools")[0])
    steps = {name: median(values) for name, values in samples.items()}
    print_table(
        f"Where start time goes: fresh interpreter, {tools} cached tools, s (median of {rounds})",
        ["step", "s"],
        [*[[name, s] for name, s in steps.items()], ["sum", sum(steps.values())]],
    )
    imports = import_costs(env)
    shown = list(imports.items())[:12]
    print_table(
        "Imports toolkernel adds after ipykernel (-X importtime, self ms by package)",
        ["package", "ms"],
        [*[[name, ms] for name, ms in shown], ["all packages", sum(imports.values())]],
    )
    return {"steps_s": steps, "imports_ms": dict(shown), "imports_total_ms": sum(imports.values())}
