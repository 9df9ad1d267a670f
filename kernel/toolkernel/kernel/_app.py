"""The kernel application: ipykernel's `IPKernelApp`, with subshells optional.

ipykernel 7 reads the shell channel in a thread of its own, so that kernel subshells
(JEP 91) can run beside the main shell, and hands each main-shell request to the main
thread, and its reply back, through inproc sockets. Those two thread hops cost about
0.5 ms of every request here. `--ToolKernelApp.subshells=False` (what the bridge passes
to the kernels it starts) makes the main thread read the shell channel itself. The
kernel then offers no subshells, and the toolkernel channel, which must answer while a
cell blocks the main thread, is served on the control channel instead (see
`ToolKernel.kernel_info`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ipykernel.kernelapp import IPKernelApp
from traitlets import Bool

__all__ = ["ToolKernelApp"]


class ToolKernelApp(IPKernelApp):
    """`IPKernelApp` with `subshells` (on by default) and a logger that skips debug calls."""

    subshells = Bool(
        True,
        help="Offer kernel subshells, with ipykernel's shell-channel thread. Off, the main "
        "thread reads the shell channel itself (about 0.5 ms less per request), no "
        "subshells are offered, and the toolkernel channel is served on the control "
        "channel. The bridge turns this off for the kernels it starts.",
    ).tag(config=True)

    def init_sockets(self) -> None:
        """Open the sockets; without subshells, no shell-channel thread is made."""
        super().init_sockets()  # type: ignore[no-untyped-call]
        if not self.subshells:
            self.shell_channel_thread = _NoShellChannelThread()

    def initialize(self, argv: Any = None) -> None:
        """Initialize as ipykernel does, then raise the logger to its handlers' level."""
        super().initialize(argv)  # type: ignore[no-untyped-call]
        _skip_unhandled_levels(self.log)


class _NoShellChannelThread:
    """Stands for ipykernel's shell-channel thread when there is none.

    It is false, so ipykernel reads the shell channel on the main thread's loop and
    offers no subshells (`ToolKernel._supports_kernel_subshells`). `parent_thread` is
    what ipykernel 7.4's `do_execute` compares the running thread with, unguarded, to
    decide whether an interrupt cancels a running async cell: the main thread.
    """

    parent_thread = threading.main_thread()

    def __bool__(self) -> bool:
        return False


def _skip_unhandled_levels(log: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """Set the kernel's logger to the lowest level one of its handlers emits.

    traitlets leaves the application's logger at DEBUG and filters in its handler, so
    each of ipykernel's several `log.debug` calls per request built a record that was
    then dropped (about 0.1 ms per request).
    """
    logger = log.logger if isinstance(log, logging.LoggerAdapter) else log
    levels = [handler.level for handler in logger.handlers]
    if levels and min(levels) > logger.level:
        logger.setLevel(min(levels))
