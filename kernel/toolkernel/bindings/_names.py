"""Turn tool, argument and server names into safe, unique Python identifiers."""

from __future__ import annotations

import functools
import keyword
import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "GENERATED_MODULE_NAMES",
    "NAMESPACE_ATTRIBUTES",
    "assign_identifiers",
    "pascal_case",
    "python_identifier",
    "source_identifier",
    "tool_identifiers",
]

#: Names a generated module binds or reads at module level. A tool, argument or class
#: that took one of them would shadow the module's own imports, or the builtins its
#: annotations use (a tool named `list` would turn `list[str]` into a call on it).
GENERATED_MODULE_NAMES = frozenset(
    {
        "Any",
        "Literal",
        "NotRequired",
        "TypedDict",
        "_binding",
        "_call",
        "bool",
        "dict",
        "float",
        "int",
        "list",
        "str",
    }
)

#: Public attributes of the `tools` namespace itself; a source may not take one.
NAMESPACE_ATTRIBUTES = frozenset(
    {
        "install",
        "module",
        "python_name",
        "python_source",
        "remove_source",
        "set_source",
        "sources",
        "uninstall",
    }
)


def python_identifier(name: str, taken: Iterable[str] = ()) -> str:
    """Return `name` as a valid Python identifier that is not in `taken`.

    Characters that cannot appear in an identifier become `_` (`get-weather` becomes
    `get_weather`), a leading digit gets a `_` prefix (`_2fa_check`), keywords,
    dunders and the names in `GENERATED_MODULE_NAMES` get a `_` suffix (`class_`),
    and an empty name becomes `_`. Non-ASCII letters are kept (NFKC-normalized, as
    Python itself normalizes identifiers). Soft keywords (`match`, `type`) are valid
    names and are kept. A name already in `taken` gets `_2`, `_3`, ... appended.

    `taken` is not modified; use `assign_identifiers` to name a whole set at once.
    """
    taken_set = taken if isinstance(taken, set | frozenset) else set(taken)
    candidate = _sanitize(name)
    if candidate not in taken_set:
        return candidate
    suffix = 2
    while f"{candidate}_{suffix}" in taken_set:
        suffix += 1
    return f"{candidate}_{suffix}"


def assign_identifiers(names: Iterable[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """Map each original name to a unique identifier, deterministically.

    Names that are already valid identifiers keep their spelling first, so of
    `get_weather` and `get-weather` the former stays `get_weather` and the latter
    becomes `get_weather_2`. Within each group, names are taken in sorted order, so
    the result never depends on the order a server lists its tools in.
    """
    used = set(taken)
    unique = sorted(set(names))
    exact = [name for name in unique if _sanitize(name) == name]
    rest = [name for name in unique if _sanitize(name) != name]
    mapping: dict[str, str] = {}
    for name in [*exact, *rest]:
        mapping[name] = python_identifier(name, used)
        used.add(mapping[name])
    return mapping


def tool_identifiers(names: Iterable[str]) -> dict[str, str]:
    """Map each tool name of one source to its binding function's name.

    It is `assign_identifiers` with `GENERATED_MODULE_NAMES` taken, as `generate_module`
    names functions; the registry stores these names so that a tool can be looked up
    by the name its binding has (`srv._2fa_check` finds `2fa.check`).
    """
    return assign_identifiers(names, GENERATED_MODULE_NAMES)


def source_identifier(source: str, taken: Iterable[str] = ()) -> str:
    """Return the attribute name of a source under `tools` (`my-server` -> `my_server`).

    Besides `python_identifier`'s rules, the namespace's own methods are avoided
    (a server named `sources` becomes `tools.sources_`).
    """
    candidate = python_identifier(source)
    if candidate in NAMESPACE_ATTRIBUTES:
        candidate += "_"
    return python_identifier(candidate, taken)


@functools.lru_cache(maxsize=8192)
def pascal_case(*parts: str) -> str:
    """Join name parts as PascalCase (`read_file`, `options` -> `ReadFileOptions`)."""
    words: list[str] = []
    for part in parts:
        cleaned = "".join(ch if ch.isalnum() else " " for ch in _nfkc(part))
        words.extend(word[:1].upper() + word[1:] for word in cleaned.split())
    return _sanitize("".join(words) or "Value")


@functools.lru_cache(maxsize=8192)
def _sanitize(name: str) -> str:
    if name.isascii():
        candidate = _NOT_ASCII_IDENTIFIER.sub("_", name) or "_"
    else:
        text = _nfkc(name)
        candidate = "".join(ch if ("_" + ch).isidentifier() else "_" for ch in text) or "_"
    if not candidate[0].isidentifier():
        candidate = "_" + candidate
    if not candidate.isidentifier():
        # NFKC can still leave a combination Python rejects; fall back to ASCII.
        candidate = "_" + _NOT_ASCII_IDENTIFIER.sub("_", candidate)
    if keyword.iskeyword(candidate) or candidate in GENERATED_MODULE_NAMES or _is_dunder(candidate):
        candidate += "_"
    return candidate


_NOT_ASCII_IDENTIFIER = re.compile(r"[^0-9A-Za-z_]")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")
