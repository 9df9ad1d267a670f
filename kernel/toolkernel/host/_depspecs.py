"""Which dependency specs a script tool may ask for: plain registry names and versions.

Options, URLs, paths, VCS references and archives are refused before pip or npm runs,
so a tool cannot point an installer at anything but its registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from toolkernel.errors import DependencyError

__all__ = ["check_package", "check_requirement", "normalized"]

_PY_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_PY_SPEC = r"(?:~=|===|==|!=|<=|>=|<|>)\s*[A-Za-z0-9][A-Za-z0-9.*+!_-]*"
_PY_REQUIREMENT = re.compile(
    rf"{_PY_NAME}\s*(?:\[\s*{_PY_NAME}(?:\s*,\s*{_PY_NAME})*\s*\])?"
    rf"\s*(?:{_PY_SPEC}(?:\s*,\s*{_PY_SPEC})*)?"
)
_NPM_NAME = r"[A-Za-z0-9][A-Za-z0-9._~-]*"
_NPM_PACKAGE = re.compile(rf"(?:@{_NPM_NAME}/)?{_NPM_NAME}(?:@[A-Za-z0-9.^~*+<>=_-]+)?")
_ARCHIVE = re.compile(r"\.(?:whl|zip|tgz|tbz|txz|tlz|tar(?:\.(?:gz|bz2|xz|lz|lzma))?)$", re.I)


def normalized(
    kind: str, specs: Sequence[str], check: Callable[[str], str | None]
) -> tuple[str, ...]:
    """`specs` checked, stripped of whitespace, deduplicated and sorted.

    Raises:
        ValueError: There is no dependency at all.
        DependencyError: A spec is refused; the message says what to write instead.
    """
    if isinstance(specs, str):
        specs = [specs]
    given = tuple(str(spec).strip() for spec in specs)
    if not given:
        msg = f"a {kind} environment needs at least one dependency; run the tool without one"
        raise ValueError(msg)
    for spec in given:
        advice = check(spec)
        if advice is not None:
            msg = f"the {kind} dependency {spec!r} is refused: {advice}"
            raise DependencyError(msg, kind=kind, dependencies=given)
    # The patterns allow whitespace only between tokens, so dropping it keeps the meaning.
    return tuple(sorted({re.sub(r"\s+", "", spec) for spec in given}))


def check_requirement(spec: str) -> str | None:
    """None if `spec` is a plain PyPI requirement, else advice on what to write."""
    if _PY_REQUIREMENT.fullmatch(spec) and _plain(spec, spec):
        return None
    return (
        "give a PyPI project name with optional extras and versions, such as "
        "'requests>=2' or 'pandas[excel]==2.2.0'; options, URLs, paths, VCS references "
        "and environment markers are not allowed"
    )


def check_package(spec: str) -> str | None:
    """None if `spec` is a plain npm package spec, else advice on what to write."""
    if _NPM_PACKAGE.fullmatch(spec) and _plain(spec, spec.rpartition("@")[0] or spec):
        return None
    return (
        "give an npm package name with an optional version or range, such as "
        "'left-pad@1.3.0' or '@scope/pkg@^1'; options, URLs, paths, git and alias "
        "specs are not allowed"
    )


def _plain(spec: str, name: str) -> bool:
    """Not too long, no `..`, and a name that pip or npm would not take for an archive."""
    return len(spec) <= 214 and ".." not in spec and not _ARCHIVE.search(name)
