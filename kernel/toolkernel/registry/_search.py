"""BM25 search over the current tool set, at a bounded cost per query.

FTS5 ranks with BM25 weighted by column: the name counts most, then the description,
then the source, then the parameters. A tool whose name is exactly the query ranks
first, whatever BM25 says.

Scoring a row costs about a microsecond, so a query must not score every row of a big
registry. Two rules keep the work small without changing the order that matters:

- A phrase found in half the tools or more is left out, unless every phrase is that
  common: FTS5's BM25 clamps such a phrase's weight to almost zero, so it could not
  change the order anyway.
- If the phrases left would still make FTS5 score more than `SCORING_BUDGET` rows,
  tools holding *all* of them rank first (their intersection is small), and the rest
  are ranked by the rarest phrases that fit the budget (at least the rarest one, which
  is in fewer than half the tools).
- If every phrase is in half the tools or more, and that is more than the budget, the
  first matches are returned unranked: BM25 would give them all about zero.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from itertools import accumulate

from toolkernel._spec import ToolSpec
from toolkernel.registry._lookup import ExactMatch, exact_matches
from toolkernel.registry._names import name_key, name_words, safe_text
from toolkernel.registry._query import phrases, query_tokens

__all__ = ["SCORING_BUDGET", "SearchHit", "search"]

SCORING_BUDGET = 2000
"""About how many rows one query may ask FTS5 to score."""

Row = tuple[int, str, float]
"""A ranked row: (tool_index id, spec JSON, score)."""

_COUNT_UP_TO = """
    SELECT count(*) FROM (SELECT 1 FROM tool_fts WHERE tool_fts MATCH ?1 LIMIT ?2)
"""
# BM25 weights by FTS column, in order: name 10, source 1.5, description 4, parameters 1.
_TOP = """
    SELECT t.id, t.spec_json, f.score
    FROM (SELECT rowid, -bm25(tool_fts, 10.0, 1.5, 4.0, 1.0) AS score
          FROM tool_fts WHERE tool_fts MATCH ?1 ORDER BY score DESC LIMIT ?2) AS f
    JOIN tool_index AS t ON t.id = f.rowid
    ORDER BY f.score DESC, t.source, t.name
"""
_TOP_IN_SOURCES = """
    SELECT t.id, t.spec_json, -bm25(tool_fts, 10.0, 1.5, 4.0, 1.0) AS score
    FROM tool_fts JOIN tool_index AS t ON t.id = tool_fts.rowid
    WHERE tool_fts MATCH ?1 AND t.source IN (SELECT value FROM json_each(?3))
    ORDER BY score DESC, t.source, t.name LIMIT ?2
"""
_ANY = """
    SELECT t.id, t.spec_json, 0.0
    FROM tool_fts JOIN tool_index AS t ON t.id = tool_fts.rowid
    WHERE tool_fts MATCH ?1 AND (?3 IS NULL OR t.source IN (SELECT value FROM json_each(?3)))
    LIMIT ?2
"""


@dataclass(frozen=True)
class SearchHit:
    """One search result.

    Attributes:
        spec: The tool that matched.
        score: How well it matched; higher is better. Only the order is meaningful.
    """

    spec: ToolSpec
    score: float


def search(
    conn: sqlite3.Connection, query: str, *, limit: int, sources: str | None
) -> list[SearchHit]:
    """Return up to `limit` tools for `query`, best first.

    Args:
        conn: The registry connection.
        query: Free text; any string is accepted.
        limit: The most hits to return.
        sources: A `sources_param` JSON list to search in, or None for every source.
    """
    tokens = query_tokens(query)
    if not tokens or limit <= 0:
        return []
    raw = safe_text(query).strip()
    keys = list(dict.fromkeys((name_key(tokens), name_key(name_words(raw)))))
    exact = exact_matches(conn, raw, keys, sources)
    ranked = _ranked(conn, phrases(tokens), limit + len(exact), sources)
    return _merge(exact, ranked)[:limit]


def _ranked(
    conn: sqlite3.Connection, candidates: list[str], limit: int, sources: str | None
) -> list[Row]:
    counted, informative = _counted(conn, candidates)
    if not counted:
        return []
    words = [phrase for phrase, _ in counted]
    counts = [count for _, count in counted]
    if sum(counts) <= SCORING_BUDGET:
        return _top(conn, " OR ".join(words), limit, sources)
    if not informative:
        # Every phrase is in half the tools or more: BM25 would score them all ~0.
        return conn.execute(_ANY, (" OR ".join(words), limit, sources)).fetchall()
    fitting = max(1, sum(1 for total in accumulate(counts) if total <= SCORING_BUDGET))
    rest = _top(conn, " OR ".join(words[:fitting]), limit, sources)
    if len(words) == 1 or counts[0] > SCORING_BUDGET:
        # No intersection to rank first, or it might itself exceed the budget.
        return rest
    return _chain(_top(conn, " AND ".join(words), limit, sources), rest)


def _counted(conn: sqlite3.Connection, candidates: list[str]) -> tuple[list[tuple[str, int]], bool]:
    """Return (phrase, rows it matches) rarest first, and whether they are informative.

    Phrases that match nothing go; so do those matching half the rows or more (the
    uninformative ones), unless all phrases do.
    """
    total = int(conn.execute("SELECT count(*) FROM tool_index").fetchone()[0])
    half = (total + 1) // 2
    found = []
    for phrase in candidates:
        count = int(conn.execute(_COUNT_UP_TO, (phrase, half)).fetchone()[0])
        if count:
            found.append((phrase, count))
    rare = [(phrase, count) for phrase, count in found if count < half]
    return sorted(rare or found, key=lambda pair: pair[1]), bool(rare)


def _top(conn: sqlite3.Connection, match: str, limit: int, sources: str | None) -> list[Row]:
    if sources is None:
        return conn.execute(_TOP, (match, limit)).fetchall()
    return conn.execute(_TOP_IN_SOURCES, (match, limit, sources)).fetchall()


def _chain(first: list[Row], rest: list[Row]) -> list[Row]:
    """Rank `first` above `rest`, dropping repeats and keeping scores descending."""
    lift = max((score for _, _, score in rest), default=0.0)
    seen = {row_id for row_id, _, _ in first}
    lifted = [(row_id, spec_json, score + lift) for row_id, spec_json, score in first]
    return lifted + [row for row in rest if row[0] not in seen]


def _merge(exact: list[ExactMatch], ranked: list[Row]) -> list[SearchHit]:
    """Put exact name matches first (names before keys), then the BM25 order."""
    scores = {row_id: score for row_id, _, score in ranked}
    best = max(scores.values(), default=0.0)
    exact = sorted(exact, key=lambda match: (-match[2], -scores.get(match[0], 0.0)))
    promoted = {row_id for row_id, _, _ in exact}
    hits = [SearchHit(_spec(spec_json), best + tier) for _, spec_json, tier in exact]
    hits += [
        SearchHit(_spec(spec_json), score)
        for row_id, spec_json, score in ranked
        if row_id not in promoted
    ]
    return hits


def _spec(spec_json: str) -> ToolSpec:
    return ToolSpec.from_json(json.loads(spec_json))
