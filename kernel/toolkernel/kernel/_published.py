"""How many IOPub messages the kernel published for an execute request before replying.

A client cannot know that it has all of a cell's output until the kernel's `idle` status
arrives, and that status comes after the reply, through the IOPub thread: about 0.25 ms
after the reply here. The kernel counts what it published for each execute request and
puts the count in the reply's metadata (`metadata["toolkernel"]["published"]`, see
`PUBLISHED`). A client that has seen that many IOPub messages for the request has all
the output the cell produced; the bridge then answers without waiting for `idle`. The
count includes the `busy` status and `execute_input`; other clients ignore it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from jupyter_client.session import Session, extract_header

__all__ = ["PublishedCounter"]

_WATCHED_AT_MOST = 64  # requests whose reply never came (aborted) are forgotten


class PublishedCounter:
    """Counts IOPub messages per watched request, from any thread.

    It wraps `session.send` (the one the kernel, its output streams and its comms
    share): a message sent to one of `iopub` whose parent is a watched request counts.
    """

    def __init__(self, session: Session | None, iopub: tuple[object, ...]) -> None:
        """Wrap `session.send`; with no session (a kernel that sends nothing), count nothing."""
        self._iopub = iopub
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        if session is not None:
            self._send = session.send
            session.send = self._counting_send  # type: ignore[method-assign]

    def watch(self, msg_id: str) -> None:
        """Count from now on what is published for request `msg_id`."""
        with self._lock:
            self._counts[msg_id] = 0
            while len(self._counts) > _WATCHED_AT_MOST:
                self._counts.popitem(last=False)

    def published(self, msg_id: str) -> int | None:
        """How many messages were published for `msg_id`, and stop counting; None if unwatched."""
        with self._lock:
            return self._counts.pop(msg_id, None)

    def _counting_send(self, stream: Any, msg_or_type: Any, *args: Any, **kwargs: Any) -> Any:
        sent = self._send(stream, msg_or_type, *args, **kwargs)
        if self._counts and any(stream is iopub for iopub in self._iopub):
            msg_id = _parent_id(msg_or_type, args, kwargs)
            with self._lock:
                if msg_id in self._counts:
                    self._counts[msg_id] += 1
        return sent


def _parent_id(msg_or_type: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The parent msg_id of a `Session.send(stream, msg_or_type, content, parent, ...)`."""
    if isinstance(msg_or_type, dict):  # a whole message: its own parent header
        parent = msg_or_type.get("parent_header")
    else:
        parent = kwargs.get("parent", args[1] if len(args) > 1 else None)
    if not parent:
        return ""
    return str(extract_header(parent).get("msg_id", ""))
