from __future__ import annotations

import keyword

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkernel.bindings import python_identifier, source_identifier
from toolkernel.bindings._names import GENERATED_MODULE_NAMES, assign_identifiers, pascal_case


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("get-weather", "get_weather"),
        ("2fa.check", "_2fa_check"),
        ("class", "class_"),
        ("None", "None_"),
        ("ünïcode", "ünïcode"),
        ("", "_"),
        ("a b/c", "a_b_c"),
        ("read_file", "read_file"),
        ("日本語", "日本語"),
        ("🎉party", "_party"),
    ],
)
def test_names_become_valid_identifiers(name: str, expected: str) -> None:
    assert python_identifier(name) == expected


@pytest.mark.parametrize("name", ["match", "case", "type", "_"])
def test_soft_keywords_are_kept_because_they_are_valid_names(name: str) -> None:
    assert python_identifier(name) == name


@pytest.mark.parametrize("name", sorted(GENERATED_MODULE_NAMES))
def test_names_the_generated_module_uses_are_never_shadowed(name: str) -> None:
    assert python_identifier(name) == name + "_"


def test_dunder_names_get_a_suffix() -> None:
    assert python_identifier("__all__") == "__all___"


def test_taken_names_get_numbered_suffixes() -> None:
    assert python_identifier("x", {"x"}) == "x_2"
    assert python_identifier("x", {"x", "x_2"}) == "x_3"


def test_exact_identifier_keeps_its_name_when_a_hyphenated_twin_exists() -> None:
    for order in (["get-weather", "get_weather"], ["get_weather", "get-weather"]):
        assert assign_identifiers(order) == {
            "get_weather": "get_weather",
            "get-weather": "get_weather_2",
        }


def test_assignment_does_not_depend_on_listing_order() -> None:
    names = ["a-b", "a.b", "a b", "a_b", "class", "class_"]
    assert assign_identifiers(names) == assign_identifiers(list(reversed(names)))


def test_nfkc_equivalent_names_get_distinct_identifiers() -> None:
    # Python folds "ﬁle" (ligature) to "file" when it parses an identifier.
    mapping = assign_identifiers(["ﬁle", "file"])
    assert mapping["file"] == "file"
    assert mapping["ﬁle"] == "file_2"


def test_source_names_avoid_the_namespace_methods() -> None:
    assert source_identifier("sources") == "sources_"
    assert source_identifier("my-server") == "my_server"
    assert source_identifier("my_server", {"my_server"}) == "my_server_2"


def test_pascal_case_joins_parts() -> None:
    assert pascal_case("read_file", "options") == "ReadFileOptions"
    assert pascal_case("get-weather", "Result") == "GetWeatherResult"
    assert pascal_case("2fa", "x") == "_2faX"


@given(st.lists(st.text(max_size=12), max_size=8))
def test_any_names_map_to_unique_valid_non_keyword_identifiers(names: list[str]) -> None:
    mapping = assign_identifiers(names, GENERATED_MODULE_NAMES)
    identifiers = list(mapping.values())
    assert len(set(identifiers)) == len(identifiers)
    for identifier in identifiers:
        assert identifier.isidentifier()
        assert not keyword.iskeyword(identifier)
        assert identifier not in GENERATED_MODULE_NAMES
        compile(f"{identifier} = 1", "<test>", "exec")
