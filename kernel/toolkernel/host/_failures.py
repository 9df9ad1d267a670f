"""Failures inside the host that never leave it (they become `ServerUnavailable`)."""

__all__ = ["ConnectFailed"]


class ConnectFailed(Exception):
    """A server could not be started or did not complete `initialize`; `str()` says why."""
