"""Pipeline templates: parse and resolve `${...}` references, and parse and test `when`.

Inside a step's `args` (and the pipeline's `output`), `${input.x}` names one of the
pipeline's arguments, `${steps.<id>.result.a[0].b}` a part of an earlier step's result,
`${steps.<id>.error}` the error of an earlier step that failed and continued (null
otherwise), and `${prev}` / `${prev.a}` the result of the last step that ran. A string
that is exactly one reference becomes the referenced value with its type kept;
references inside a longer string are substituted as text. Skillz's spelling, a whole
string such as `$input.x`, `$prev.a` or `$steps.<id>.result`, is the same reference.
`when` is one reference, optionally compared (`==`, `!=`) with a literal and negated
with `not`; it is parsed here, never passed to `eval`. The runner
(`toolkernel.kinds.pipeline._run`) and the check (`toolkernel.kinds.pipeline._check`)
share these parsers, so a bad pipeline is refused before it is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Condition",
    "NoStepResult",
    "Reference",
    "TemplateError",
    "UnresolvedReference",
    "evaluate",
    "parse_condition",
    "resolve",
    "template_references",
]

_HEAD = re.compile(
    r"(?:(input)|(prev)|steps\.([A-Za-z_][A-Za-z0-9_]*)\.(result|error))(?![A-Za-z0-9_-])"
)
_SEGMENTS = r"(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]|\['[^']*'\]|\[\"[^\"]*\"\])*"
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
# Skillz's spelling: a whole string `$input.x`, `$prev`, `$steps.<id>.result[0]`.
_BARE = re.compile(
    r"\$(?:input|prev|steps\.[A-Za-z_][A-Za-z0-9_]*\.(?:result|error))(?![A-Za-z0-9_-])" + _SEGMENTS
)
_TOKEN = re.compile(
    r"\s*(?:(?P<ref>\$\{[^{}]*\}|\$(?:input|prev|steps)[^\s=!]*)|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<op>==|!=)|(?P<word>[A-Za-z_]+))"
)
_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}
_EXAMPLES = "e.g. '${input.x}', '${prev}' or '${steps.fetch.result.items[0].name}'"


class TemplateError(ValueError):
    """A template or `when` condition is malformed.

    Attributes:
        reference: The offending text (a `${...}` reference, or the whole condition).
    """

    def __init__(self, message: str, *, reference: str) -> None:
        super().__init__(message)
        self.reference = reference


class UnresolvedReference(TemplateError, LookupError):
    """A well-formed reference names nothing in the scope (missing key, index, step)."""


class NoStepResult(UnresolvedReference):
    """The step a reference names has no result: it was skipped, failed, or never ran.

    In the pipeline's `output` such a reference is null; in a step's `args` it is an
    error.
    """


@dataclass(frozen=True)
class Reference:
    """One parsed `${...}` reference.

    Attributes:
        text: The reference as written, `${...}` (or Skillz's `$...`) included.
        step: The step id for `${steps.<id>...}`, None for `${input...}` and `${prev...}`.
        path: The keys (str) and indices (int) walked from the root value.
        source: What the root is: `input`, `prev` (the last step that ran), `result`
            or `error` (of step `step`).
    """

    text: str
    step: str | None
    path: tuple[str | int, ...]
    source: str = "result"


@dataclass(frozen=True)
class Condition:
    """A parsed `when`: `[not ...] ${ref} [== | != literal]`.

    Attributes:
        reference: The value tested.
        op: `==`, `!=`, or None to test the value's truthiness.
        literal: The value compared with, when `op` is set.
        negate: True when an odd number of `not` came first.
    """

    reference: Reference
    op: str | None = None
    literal: Any = None
    negate: bool = False


def _parse_reference(text: str) -> Reference:
    """Parse `${input...}`, `${prev...}` or `${steps.<id>.result...}` (or Skillz's `$...`).

    Raises:
        TemplateError: The reference is malformed.
    """
    if text.startswith("${") and text.endswith("}"):
        inner = text[2:-1].strip()
    else:
        inner = text[1:] if _BARE.fullmatch(text) else ""
    head = _HEAD.match(inner)
    if head is None:
        msg = f"{text} is not a reference; write {_EXAMPLES}"
        raise TemplateError(msg, reference=text)
    path: list[str | int] = []
    pos = head.end()
    while pos < len(inner):
        seg = _SEGMENT.match(inner, pos)
        if seg is None:
            msg = f"{text} has a malformed path at {inner[pos:]!r}; write {_EXAMPLES}"
            raise TemplateError(msg, reference=text)
        path.append(_segment(seg))
        pos = seg.end()
    is_input, is_prev, step, part = head.groups()
    source = "input" if is_input else "prev" if is_prev else part
    if source == "error" and path:
        msg = f"{text}: a step's error is a message (a str, or null), so it has no path"
        raise TemplateError(msg, reference=text)
    return Reference(text=text, step=step, path=tuple(path), source=source)


def _segment(match: re.Match[str]) -> str | int:
    key, index, single, double = match.groups()
    if index is not None:
        return int(index)
    return next(part for part in (key, single, double) if part is not None)


def _split(text: str) -> list[str | Reference]:
    """Split a template string into text and references; raise `TemplateError` if malformed."""
    if _BARE.fullmatch(text):
        return [_parse_reference(text)]
    parts: list[str | Reference] = []
    pos = 0
    while (start := text.find("${", pos)) != -1:
        end = text.find("}", start)
        if end == -1:
            msg = f"{text[start:]!r} opens a reference with '${{' but never closes it with '}}'"
            raise TemplateError(msg, reference=text[start:])
        if start > pos:
            parts.append(text[pos:start])
        parts.append(_parse_reference(text[start : end + 1]))
        pos = end + 1
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def template_references(template: Any) -> Iterator[Reference]:
    """Yield every reference in `template` (strings, inside dicts and lists, recursively).

    Raises:
        TemplateError: A reference is malformed.
    """
    if isinstance(template, str):
        yield from (part for part in _split(template) if isinstance(part, Reference))
    elif isinstance(template, Mapping):
        for value in template.values():
            yield from template_references(value)
    elif isinstance(template, list | tuple):
        for item in template:
            yield from template_references(item)


def resolve(template: Any, scope: dict[str, Any], *, lenient: bool = False) -> Any:
    """Return `template` with every reference replaced by its value from `scope`.

    A string that is exactly one reference becomes the value itself (type kept);
    references inside a longer string become text (strings as they are, anything else
    as compact JSON). Dicts (values, not keys) and lists are resolved recursively;
    other values are returned unchanged. Resolved values are never resolved again.

    Args:
        template: The template.
        scope: `{"input": {...}, "steps": {id: {"result": value}}, "prev": id}`; a
            skipped step is `{id: {"skipped": True, "result": None}}`, a step that failed
            and continued `{id: {"result": None, "error": message}}`, and `prev` the id
            of the last step that ran (None before any has).
        lenient: A reference to a step with no result (skipped, failed, or no `prev`)
            is null instead of an error; the pipeline's `output` is resolved so.

    Raises:
        TemplateError: A reference is malformed.
        UnresolvedReference: A reference names a missing key, index or step.
    """
    if isinstance(template, str):
        parts = _split(template)
        if len(parts) == 1 and isinstance(parts[0], Reference):
            return _lookup(parts[0], scope, lenient)
        return "".join(
            p if isinstance(p, str) else _render(_lookup(p, scope, lenient)) for p in parts
        )
    if isinstance(template, Mapping):
        return {key: resolve(value, scope, lenient=lenient) for key, value in template.items()}
    if isinstance(template, list | tuple):
        return [resolve(item, scope, lenient=lenient) for item in template]
    return template


def _lookup(ref: Reference, scope: dict[str, Any], lenient: bool = False) -> Any:
    try:
        value, where = _root(ref, scope)
    except NoStepResult:
        if lenient:
            return None
        raise
    for segment in ref.path:
        value = _walk(ref, value, where, segment)
        where += f"[{segment}]" if isinstance(segment, int) else f".{segment}"
    return value


def _root(ref: Reference, scope: dict[str, Any]) -> tuple[Any, str]:
    if ref.source == "input":
        if "input" not in scope:
            msg = f"{ref.text}: the pipeline has no input here"
            raise UnresolvedReference(msg, reference=ref.text)
        return scope["input"], "input"
    step = ref.step if ref.source != "prev" else scope.get("prev")
    if step is None:
        msg = f"{ref.text}: no earlier step has run (each was skipped), so there is no prev"
        raise NoStepResult(msg, reference=ref.text)
    entry = scope.get("steps", {}).get(step)
    if entry is None:
        msg = f"{ref.text}: step {step!r} has not run, so it has no result"
        raise NoStepResult(msg, reference=ref.text)
    if ref.source == "error":
        return entry.get("error"), f"steps.{step}.error"
    if entry.get("skipped"):
        msg = f"{ref.text}: step {step!r} was skipped (its `when` was false), so it has no result"
        raise NoStepResult(msg, reference=ref.text)
    if "error" in entry and ref.path:
        msg = (
            f"{ref.text}: step {step!r} failed and continued, so its result is null "
            f"({entry['error']}); test `${{steps.{step}.error}}` in a `when` to go round it"
        )
        raise NoStepResult(msg, reference=ref.text)
    return entry["result"], "prev" if ref.source == "prev" else f"steps.{step}.result"


def _walk(ref: Reference, value: Any, where: str, segment: str | int) -> Any:
    if isinstance(segment, int) and isinstance(value, list):
        if segment < len(value):
            return value[segment]
        msg = f"{ref.text}: {where} has {len(value)} items, so [{segment}] is out of range"
    elif isinstance(segment, str) and isinstance(value, Mapping):
        if segment in value:
            return value[segment]
        keys = ", ".join(map(str, list(value)[:10])) or "none"
        msg = f"{ref.text}: {where} has no key {segment!r}; its keys: {keys}"
    else:
        wanted = f"[{segment}]" if isinstance(segment, int) else f"key {segment!r}"
        msg = f"{ref.text}: {where} is {_kind(value)}, which has no {wanted}"
    raise UnresolvedReference(msg, reference=ref.text)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def parse_condition(text: str) -> Condition:
    """Parse a `when`: `${ref}`, `${ref} == 'x'`, `${ref} != 3`, each optionally `not ...`.

    The literal on the right is a quoted string, a number, `true`, `false` or `null`.

    Raises:
        TemplateError: The condition does not have that shape.
    """
    tokens = _tokens(text)
    negate = False
    while tokens and tokens[0] == ("word", "not"):
        negate, tokens = not negate, tokens[1:]
    if not tokens or tokens[0][0] != "ref":
        raise _bad_condition(text, "it must test a reference")
    ref = _parse_reference(tokens[0][1])
    if len(tokens) == 1:
        return Condition(ref, negate=negate)
    if len(tokens) != 3 or tokens[1][0] != "op":
        raise _bad_condition(text, "after the reference comes nothing, or == / != and one literal")
    return Condition(ref, op=tokens[1][1], literal=_literal(text, *tokens[2]), negate=negate)


def evaluate(condition: Condition, scope: dict[str, Any]) -> bool:
    """Return whether `condition` holds in `scope` (see `resolve` for its shape).

    Truthiness is Python's: null, false, 0, "" and empty lists and objects are false.
    Comparison is JSON's: `true` equals only `true`, never `1`.

    An input the caller left out (an optional parameter) counts as null.

    Raises:
        UnresolvedReference: The condition's reference names nothing.
    """
    try:
        value = _lookup(condition.reference, scope)
    except UnresolvedReference:
        if not _is_top_level_input(condition.reference):
            raise
        value = None
    if condition.op is None:
        held = bool(value)
    else:
        held = _same(value, condition.literal) == (condition.op == "==")
    return held != condition.negate


def _is_top_level_input(reference: Reference) -> bool:
    """`${input.name}`: a whole argument, which an optional parameter may leave out."""
    return reference.source == "input" and len(reference.path) == 1


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return bool(left == right)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while text[pos:].strip():
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise _bad_condition(text, f"cannot read {text[pos:].strip()!r}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return tokens


def _literal(text: str, kind: str, token: str) -> Any:
    if kind == "str":
        return token[1:-1]
    if kind == "num":
        return float(token) if any(c in token for c in ".eE") else int(token)
    if kind == "word" and token in _WORDS:
        return _WORDS[token]
    raise _bad_condition(text, f"{token} is not a literal; quote strings, e.g. 'fast'")


def _bad_condition(text: str, why: str) -> TemplateError:
    msg = (
        f"when {text!r} is not a condition: {why}; write e.g. \"${{input.mode}} == 'fast'\", "
        f'"${{steps.check.result.ok}}" or "not ${{input.dry_run}}"'
    )
    return TemplateError(msg, reference=text)
