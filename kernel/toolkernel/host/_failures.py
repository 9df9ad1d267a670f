"""Failures inside the host that never leave it (they become `ServerUnavailable`)."""

__all__ = ["ConnectFailed", "RequestNotSent"]


class ConnectFailed(Exception):
    """A server could not be started or did not complete `initialize`; `str()` says why."""


class RequestNotSent(Exception):
    """The connection was closed before a request was written: the server never saw it.

    Such a request is safe to send again on a new connection.
    """
