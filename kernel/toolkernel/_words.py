"""Counted nouns in what users read: `1 tool`, `2 tools`, `1 key`."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """Return `count` and `noun`, in the plural (`nouns`, else `noun + "s"`) unless 1."""
    return f"{count} {noun}" if count == 1 else f"{count} {nouns or noun + 's'}"
