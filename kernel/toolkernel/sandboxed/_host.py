"""`KernelHost`: the sandboxed kernel's own `toolkernel host`, started outside the sandbox.

The launcher starts it, not the provisioner: the launcher is the process Jupyter knows
as the kernel in every client (JupyterLab, the bridge, plain `jupyter_client`, a
kernel gateway), so the host lives exactly as long as its kernel, whoever started it:
- a shutdown or a restart ends the launcher, which closes the host's stdin, waits for
  it (bounded) and removes its folder; a restart starts a new launcher, so a new host;
- a launcher killed outright (SIGKILL) closes the host's stdin all the same: the host
  (`--with-launcher`) stops, removes its socket and its folder. No process is left.

It runs as the launching user, with that user's whole environment, `TOOLKERNEL_HOME`
and `mcp.json` (where the credentials stay), its log in `<home>/logs/`. Its socket is
in a folder of its own (`/tmp/tk-host-XXXX`), which the launcher shows read-only inside
the sandbox; when the launcher is root the kernel runs as uid 65534, and the host
admits exactly that uid besides its own (`--peer-uid`). A host that fails to start
does not stop the kernel: the launcher writes why, with the log's path, beside the
socket, and the kernel's tools say so (`toolkernel.host.RemoteToolHost`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess  # noqa: TID251 - the host runs unsandboxed by design: it holds the credentials
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from toolkernel._spec import START_FAILURE_NAME
from toolkernel_sandbox.process import SANDBOX_GID, SANDBOX_UID

__all__ = ["FOLDER_PREFIX", "SOCKET_NAME", "STOP_TIMEOUT_S", "KernelHost"]

#: How the host's folder's name starts (under the system's temp folder: a socket path
#: must stay under about 100 bytes).
FOLDER_PREFIX = "tk-host-"
#: The socket's name in that folder.
SOCKET_NAME = "host.sock"
#: Seconds the host gets to stop its servers once its kernel has ended.
STOP_TIMEOUT_S = 15.0


@dataclass
class KernelHost:
    """One kernel's tool host process, its socket's folder and its log.

    Attributes:
        socket: The socket the kernel connects to (`$TOOLKERNEL_HOST_SOCKET` inside).
        log: Where the host's stderr goes (its servers' logs are in the same folder).
        process: The host process; None if it could not even be started.
    """

    socket: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    _stopping: bool = field(default=False, repr=False)

    @classmethod
    def start(
        cls,
        *,
        environ: Mapping[str, str],
        home: Path,
        log_name: str,
        policy_file: Path | None = None,
    ) -> KernelHost:
        """Start `toolkernel host` for one kernel; never raises for the host's sake.

        Args:
            environ: The host's environment (the launching user's, whole).
            home: The user's toolkernel home; the log goes to its `logs/`.
            log_name: The log's file name (one per kernel: a restart appends to it).
            policy_file: The host's `--policy` file, if any.

        Raises:
            OSError: The folder for the socket could not be made.
        """
        folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
        root = os.geteuid() == 0
        if root:  # the kernel (uid 65534, its group) may read and enter it, not write
            os.chown(folder, -1, SANDBOX_GID)
            folder.chmod(0o750)
        host = cls(socket=folder / SOCKET_NAME, log=home / "logs" / log_name)
        argv = [sys.executable, "-P", "-s", "-m", "toolkernel.cli", "host"]
        argv += ["--socket", str(host.socket), "--with-launcher"]
        if root:
            argv += ["--peer-uid", str(SANDBOX_UID)]
        if policy_file is not None:
            argv += ["--policy", str(policy_file)]
        try:
            host.log.parent.mkdir(parents=True, exist_ok=True)
            with host.log.open("ab") as log:
                host.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                    argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    env=dict(environ),
                    start_new_session=True,  # a signal to the kernel's group is not for it
                )
        except OSError as exc:
            host.failed(f"the tool host could not be started ({exc})")
            return host
        threading.Thread(target=host._watch, name="toolkernel-host-watch", daemon=True).start()
        return host

    def stop(self) -> None:
        """End the host (close its stdin; kill it past `STOP_TIMEOUT_S`) and its folder."""
        self._stopping = True
        proc = self.process
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        shutil.rmtree(self.socket.parent, ignore_errors=True)

    def failed(self, reason: str) -> None:
        """Say, beside the socket, why the host is not there (the kernel reads it)."""
        last = self._last_line()
        text = (
            f"{reason}{f' ({last})' if last else ''}; the sandboxed kernel's tools are "
            f"unavailable. The host's log: {self.log}. Fix the cause (its mcp.json, its "
            "policy file), then restart the kernel"
        )
        path = self.socket.parent / START_FAILURE_NAME
        with contextlib.suppress(OSError):
            path.write_text(text, encoding="utf-8")
            if os.geteuid() == 0:
                os.chown(path, -1, SANDBOX_GID)
                path.chmod(0o640)

    def _watch(self) -> None:
        assert self.process is not None  # noqa: S101 - started only once it runs
        code = self.process.wait()
        if not self._stopping:
            self.failed(f"the tool host exited with status {code}")

    def _last_line(self) -> str:
        """The last line the host wrote to its log (its error, when it failed)."""
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        said = [line.strip() for line in lines if line.strip()]
        return said[-1] if said else ""
