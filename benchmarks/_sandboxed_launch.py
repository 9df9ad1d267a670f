"""The sandboxed kernel's launcher, with its tools in a `toolkernel host` (bench_sandboxed.py).

Run by the kernelspec bench_sandboxed.py writes, as `toolkernel.sandboxed` is by the
real one: `python -s benchmarks/_sandboxed_launch.py -f {connection_file}`.

The real launcher does not yet tell the kernel to use `RemoteToolHost` (the provisioner
starting the host, and that choice, are being built). Until then this runs the real
launcher, unchanged, and adds `--Toolbox.host_class=toolkernel.host.RemoteToolHost` to
the kernel's own command line; the host's socket comes from `$TOOLKERNEL_HOST_SOCKET`,
which the launcher passes into the sandbox.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from toolkernel.sandboxed import _launcher

HOST_CLASS = "--Toolbox.host_class=toolkernel.host.RemoteToolHost"
_run_foreground = _launcher.run_foreground


def _with_remote_host(command: Sequence[str], **kwargs: Any) -> Any:
    return _run_foreground([*command, HOST_CLASS], **kwargs)


if __name__ == "__main__":
    _launcher.run_foreground = _with_remote_host  # type: ignore[assignment]
    sys.exit(_launcher.main())
