"""Turning free text into FTS5 phrases: words, stop-words, quoting, prefix.

A query becomes lowercase words (split like tool names, so `readFile` is `read file`)
with English stop-words removed: "read a file" is `read`, `file`. Each word is quoted,
so FTS5 syntax in user input (`*`, `OR`, `NEAR(`, unbalanced quotes) is plain text. The
last word matches as a prefix when it has at least three letters, for search-as-you-type.
"""

from __future__ import annotations

from toolkernel.registry._names import name_words, safe_text

__all__ = ["MAX_QUERY_TOKENS", "MIN_PREFIX_LENGTH", "STOP_WORDS", "phrases", "query_tokens"]

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during
    each either else ever every few for from further get gets had has have having he her
    here hers him his how i if in into is it its itself just let me might more most must
    my myself need needs no nor not now of off on once only or other our ours out over own
    please same shall she should so some such than that the their them then there these
    they this those through to too under until up us use using very via want was we were
    what when where which while who whom why will with would yet you your yours
    """.split()  # noqa: SIM905 - a block of words reads better than 150 quoted strings
)
"""Words that say nothing about what a tool does; they are dropped from queries."""

MAX_QUERY_TOKENS = 16
"""Words of a query beyond this many are ignored, which bounds the work per query."""
MIN_PREFIX_LENGTH = 3
"""The last word matches as a prefix only from this length on."""


def query_tokens(query: str) -> list[str]:
    """Return the distinct words of `query` that are not stop-words, in order."""
    words = [word for word in name_words(safe_text(query)) if word not in STOP_WORDS]
    return list(dict.fromkeys(words))[:MAX_QUERY_TOKENS]


def phrases(tokens: list[str]) -> list[str]:
    """Quote each token as an FTS5 phrase; the last one is a prefix if long enough."""
    quoted = ['"' + token.replace('"', '""') + '"' for token in tokens]
    if quoted and len(tokens[-1]) >= MIN_PREFIX_LENGTH:
        quoted[-1] += "*"
    return quoted
