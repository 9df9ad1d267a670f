import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkernel import ToolSpec
from toolkernel.registry import ToolRegistry, _search


@pytest.fixture
def registry(home: Path) -> Iterator[ToolRegistry]:
    """A registry in the shared `home` fixture's empty toolkernel home."""
    with ToolRegistry(home) as reg:
        yield reg


VERBS = ["send", "archive", "schedule", "approve", "cancel", "sync", "render", "export"]
NOUNS = ["email", "invoice", "meeting", "payment", "ticket", "chart", "calendar", "order"]
PLACES = ["Slack", "Stripe", "Jira", "Notion", "Gmail"]


def fs_tools() -> list[ToolSpec]:
    path = {"path": {"type": "string", "description": "Where on disk"}}
    return [
        ToolSpec("fs", "read_file", "Read the complete contents of a file", {"properties": path}),
        ToolSpec("fs", "write_file", "Create a new file or overwrite one", {"properties": path}),
        ToolSpec("fs", "list_directory", "List the entries of a directory"),
    ]


def unrelated_tools(count: int = 200) -> list[ToolSpec]:
    combos = itertools.cycle(itertools.product(VERBS, NOUNS, PLACES))
    specs = []
    for number, (verb, noun, place) in zip(range(count), combos, strict=False):
        schema = {
            "type": "object",
            "properties": {f"{noun}_id": {"type": "string", "description": f"The {noun}"}},
        }
        description = f"{verb.capitalize()} the {noun} in {place} for a workspace"
        specs.append(ToolSpec("apps", f"{verb}_{noun}_{number}", description, schema))
    return specs


@pytest.fixture
def catalog(registry: ToolRegistry) -> ToolRegistry:
    registry.save_catalog("fs", fs_tools())
    registry.save_catalog("apps", unrelated_tools())
    return registry


def names(hits: list[_search.SearchHit]) -> list[str]:
    return [hit.spec.name for hit in hits]


def test_read_a_file_ranks_read_file_first_and_not_every_tool(catalog: ToolRegistry) -> None:
    hits = catalog.search("read a file", limit=500)

    assert names(hits)[0] == "read_file"
    assert set(names(hits)) <= {"read_file", "write_file"}


def test_bm25_alone_ranks_the_tool_matching_more_words_first(catalog: ToolRegistry) -> None:
    hits = catalog.search("show me the contents of a file")

    assert names(hits)[:2] == ["read_file", "write_file"]
    assert hits[0].score > hits[1].score


def test_scores_are_descending(catalog: ToolRegistry) -> None:
    hits = catalog.search("send invoice payment slack", limit=50)

    assert len(hits) == 50
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


@pytest.mark.parametrize(
    "query", ["", "   ", "the a of", "how do I", "please, can you?", "!!! ..."]
)
def test_query_of_only_stop_words_finds_nothing(catalog: ToolRegistry, query: str) -> None:
    assert catalog.search(query) == []


@pytest.mark.parametrize(
    "query",
    ['"foo* OR (bar', "NEAR(", "NEAR(read file, 2)", "read AND", "-file", "^read", "name:read",
     "{name_text}: read", '"', "*", "file*", "a OR b NOT c", "(((", "read + file", "\x00read"],
)  # fmt: skip
def test_fts_syntax_in_the_query_is_plain_text(catalog: ToolRegistry, query: str) -> None:
    hits = catalog.search(query)

    assert all(hit.spec.source in {"fs", "apps"} for hit in hits)


def test_fts_operators_do_not_act_as_operators(catalog: ToolRegistry) -> None:
    assert names(catalog.search("read NOT file"))[0] == "read_file"


def test_exact_name_ranks_first_over_heavier_descriptions(registry: ToolRegistry) -> None:
    registry.save_catalog(
        "web",
        [
            ToolSpec("web", "crawl", "Fetch fetch fetch: fetch pages, fetch links, fetch all"),
            ToolSpec("web", "fetch", "Download one URL"),
            ToolSpec("web", "get-weather", "Forecast"),
        ],
    )

    assert names(registry.search("fetch"))[0] == "fetch"
    assert names(registry.search("web.fetch"))[0] == "fetch"
    assert names(registry.search("get_weather"))[0] == "get-weather"


def test_name_words_split_on_camel_case_and_separators(registry: ToolRegistry) -> None:
    registry.save_catalog(
        "s",
        [
            ToolSpec("s", "readFile", "x"),
            ToolSpec("s", "HTTPServerStatus", "y"),
            ToolSpec("s", "git.commit-all", "z"),
            ToolSpec("s", "unrelated", "w"),
        ],
    )

    assert names(registry.search("read file"))[0] == "readFile"
    assert names(registry.search("server status")) == ["HTTPServerStatus"]
    assert names(registry.search("commit")) == ["git.commit-all"]
    assert names(registry.search("read_file"))[0] == "readFile"


def test_parameter_names_and_descriptions_are_searchable(registry: ToolRegistry) -> None:
    schema = {
        "type": "object",
        "properties": {
            "repoUrl": {"type": "string", "description": "Remote to clone"},
            "options": {
                "type": "object",
                "properties": {"depth": {"type": "integer", "description": "Shallow history"}},
            },
            "tags": {"type": "array", "items": {"anyOf": [{"description": "Semantic label"}]}},
        },
    }
    registry.save_catalog(
        "git", [ToolSpec("git", "clone", "Copy", schema), ToolSpec("git", "other", "Else")]
    )

    for query in ["repo url", "clone remote", "shallow", "semantic label"]:
        assert names(registry.search(query)) == ["clone"], query


def test_source_name_is_searchable(catalog: ToolRegistry) -> None:
    hits = catalog.search("fs", limit=10)

    assert {hit.spec.source for hit in hits} == {"fs"}


def test_last_word_matches_as_prefix_from_three_letters(catalog: ToolRegistry) -> None:
    assert names(catalog.search("list direc")) == ["list_directory"]
    assert names(catalog.search("rea")) == ["read_file"]
    assert catalog.search("re") == []
    assert catalog.search("rea xyzzy") == []


def test_limit_and_sources_restrict_the_hits(catalog: ToolRegistry) -> None:
    assert len(catalog.search("file", limit=1)) == 1
    assert catalog.search("file", limit=0) == []
    assert catalog.search("file", sources=["apps"]) == []
    assert {h.spec.source for h in catalog.search("send", sources=["apps", "x"])} == {"apps"}
    assert catalog.search("send", sources=[]) == []


def test_word_in_most_tools_does_not_widen_the_hits(registry: ToolRegistry) -> None:
    specs = [ToolSpec("s", f"tool_{n}", f"Process data record {n}") for n in range(10)]
    specs.append(ToolSpec("s", "billing", "Create an invoice from data"))
    registry.save_catalog("s", specs)

    assert names(registry.search("invoice data")) == ["billing"]


def test_over_budget_tools_with_every_word_rank_first(
    catalog: ToolRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_search, "SCORING_BUDGET", 30)

    hits = catalog.search("send email slack", limit=20)

    assert len(hits) == 20
    assert hits[0].spec.name.startswith("send_email_")
    assert "Slack" in hits[0].spec.description
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_over_budget_common_words_still_return_hits(
    registry: ToolRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_search, "SCORING_BUDGET", 3)
    registry.save_catalog("s", [ToolSpec("s", f"t{n}", "shared words here") for n in range(9)])

    hits = registry.search("shared words", limit=5)

    assert len(hits) == 5


def test_replaced_catalog_is_searched_not_the_old_one(catalog: ToolRegistry) -> None:
    catalog.save_catalog("fs", [ToolSpec("fs", "stat", "Show metadata")])

    assert catalog.search("read a file") == []
    assert names(catalog.search("metadata")) == ["stat"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolRegistry]:
    home: Path = tmp_path_factory.mktemp("search-home")
    with ToolRegistry(home) as reg:
        reg.save_catalog("fs", fs_tools())
        reg.save_catalog("apps", unrelated_tools(50))
        yield reg


FTS_PIECES = [
    '"', "*", "OR", "AND", "NOT", "NEAR(", "(", ")", "^", ":", "{", "}", "-", "+", " ", ",",
    "read", "file", "the", "ünïcode", "日本", "\ud800", "\x00", "'", "fs.",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(query=st.text(alphabet=st.characters(exclude_categories=())))
def test_search_never_raises_on_any_text(shared: ToolRegistry, query: str) -> None:
    hits = shared.search(query)

    assert len(hits) <= 10


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(FTS_PIECES), max_size=12), limit=st.integers(-2, 30))
def test_search_never_raises_on_fts_syntax(
    shared: ToolRegistry, pieces: list[str], limit: int
) -> None:
    hits = shared.search("".join(pieces), limit=limit, sources=["fs", "apps"])

    assert len(hits) <= max(limit, 0)
