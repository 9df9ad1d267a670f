"""The layers: what a part may import, proven in a fresh interpreter doing real work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tk_support import modules_loaded_by

KERNEL_ONLY = {"ipykernel", "IPython"}

# The CLI's commands and the panel's service, each run for real against one home.
WORK = """
import json, sys
from pathlib import Path
home = Path(sys.argv[1])
from toolkernel.cli import main
for argv in (["tools", "list"], ["tools", "search", "echo"], ["servers"], ["trust", "--list"]):
    main(["--home", str(home), *argv])
from toolkernel.serverext._service import PanelService
service = PanelService(home, Path(sys.argv[2]))
service.tools(None, None)
service.tools("echo", 5)
service.close()
from toolkernel.session import Toolbox
toolbox = Toolbox(home=home, config_path=Path(sys.argv[2]))
toolbox.discovery.search_tools("echo")
toolbox.stop()
roots = {"ipykernel", "IPython"}
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & roots)), file=sys.stderr)
"""


def test_the_session_panel_and_cli_do_their_work_without_ipykernel(tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text('{"mcpServers": {}}', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", WORK, str(tmp_path / "home"), str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


def test_importing_the_session_the_panel_or_the_cli_loads_no_kernel() -> None:
    for module in ("toolkernel.session", "toolkernel.serverext", "toolkernel.cli"):
        assert modules_loaded_by(module, KERNEL_ONLY) == [], module


def test_the_kernel_package_does_load_ipykernel() -> None:
    # The control: the check sees ipykernel where it is loaded.
    assert modules_loaded_by("toolkernel.kernel", KERNEL_ONLY) == ["IPython", "ipykernel"]
