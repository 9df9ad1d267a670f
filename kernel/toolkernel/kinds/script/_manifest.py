"""The script-specific part of a tool manifest: interpreter, entry, dependencies, secrets.

Also the limits and policy a script's sandbox runs under, checked before it is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel.errors import RegistryError

if TYPE_CHECKING:
    from toolkernel_sandbox.process import ProcessPolicy

__all__ = [
    "SCRIPT_KINDS",
    "SCRIPT_LANGUAGES",
    "SCRIPT_PROTOCOLS",
    "check_script_limits",
    "check_script_policy",
    "policy_or_error",
    "script_fields",
]

SCRIPT_LANGUAGES = {
    "python": ("python3", "main.py"),
    "node": ("node", "main.js"),
    "ruby": ("ruby", "main.rb"),
    "bash": ("bash", "main.sh"),
}
"""Language -> (interpreter, entry file). Any other interpreter is given as `command`."""

SCRIPT_PROTOCOLS = ("toolkernel", "skillz")
"""A script's reply shapes (`protocol`): ours, or Skillz's (see `HostPeer`)."""

SCRIPT_KINDS = (*SCRIPT_LANGUAGES, "command")
"""`language` values of a script tool; `command` runs the interpreter given as `command`."""

_LIMIT_KEYS = (
    "timeout_s",
    "cpu_s",
    "memory_bytes",
    "processes",
    "file_size_bytes",
    "open_files",
    "stdout_bytes",
    "stderr_bytes",
    "tmp_bytes",
)


def check_script_limits(limits: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a script tool's limits as checked JSON (keys of `ProcessPolicy`).

    Raises:
        RegistryError: An unknown key or a value the sandbox refuses.
    """
    given = dict(limits or {})
    unknown = sorted(set(given) - set(_LIMIT_KEYS))
    if unknown:
        msg = f"unknown script limit(s) {unknown}; the limits are: {', '.join(_LIMIT_KEYS)}"
        raise RegistryError(msg)
    policy_or_error({"limits": given, "policy": {}}, Path("/"), {})
    return given


def check_script_policy(policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a script tool's policy: `network`, `read_only`, `writable` paths.

    `network` is `true` (the whole network), `false`, or a list of domain patterns the
    tool may reach through the sandbox's filtering proxy (`api.github.com`,
    `*.example.org`, `localhost:8080`, `10.0.0.7`), kept normalized; an empty list is
    `false`. Anything else is refused: a policy may open the network or name host
    paths, and nothing more.

    Raises:
        RegistryError: An unknown key, a `network` that is neither a bool nor a list of
            valid patterns, or a relative or missing path.
    """
    given = dict(policy or {})
    unknown = sorted(set(given) - {"network", "read_only", "writable"})
    if unknown:
        msg = (
            f"unknown script policy key(s) {unknown}; a policy may set 'network' (true, "
            "false or a list of domains), 'read_only' and 'writable' (lists of absolute "
            "host paths), nothing else"
        )
        raise RegistryError(msg)
    checked: dict[str, Any] = {"network": _network(given.get("network", False))}
    for key in ("read_only", "writable"):
        paths = given.get(key) or []
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            msg = f"policy {key} must be a list of absolute paths"
            raise RegistryError(msg)
        for path in paths:
            if not Path(path).is_absolute() or not Path(path).exists():
                msg = f"policy {key} path {path!r} must be absolute and exist on this machine"
                raise RegistryError(msg)
        checked[key] = list(paths)
    return checked


def _network(network: object) -> bool | list[str]:
    """`network` checked: a bool, or a list of domain patterns (normalized)."""
    from toolkernel_sandbox.process import ProcessPolicy  # noqa: PLC0415

    if type(network) is bool:
        return network
    if not isinstance(network, list):
        msg = (
            "policy network must be true, false, or a list of domains such as "
            f'["api.github.com", "*.example.org"], not {network!r}'
        )
        raise RegistryError(msg)
    try:
        allowed = ProcessPolicy(network_allow=tuple(network)).network_allow
    except (TypeError, ValueError) as exc:
        msg = f"policy network: {exc}"
        raise RegistryError(msg) from exc
    return list(allowed) or False


_SECRET_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_INTERPRETER = re.compile(r"[A-Za-z0-9_.+/-]+")


def script_fields(
    name: str,
    *,
    language: str,
    entry: str | None,
    command: Sequence[str] | None,
    requirements: Sequence[str] | None,
    packages: Sequence[str] | None,
    persistent: bool,
    secrets: Sequence[str] | None,
    policy: Mapping[str, Any] | None,
    limits: Mapping[str, Any] | None,
    resolved: Sequence[str] | None = None,
    protocol: str | None = None,
) -> dict[str, Any]:
    """Return the checked script fields of `name`'s manifest.

    `resolved` (exact pins of every requirement or package, as a bundle carries them)
    is kept only for a tool with dependencies; installing replaces it with the pins it
    actually installed. `protocol` `skillz` is kept (the script gets Skillz's reply
    shapes); our own, the default, is not written, so manifests made before it are
    unchanged.

    Raises:
        RegistryError: Anything is malformed; the message says what to write instead.
    """
    if language not in SCRIPT_KINDS:
        msg = f"unknown script language {language!r}; use one of {', '.join(SCRIPT_KINDS)}"
        raise RegistryError(msg)
    if (language == "command") != bool(command):
        msg = (
            "give command=[interpreter, ...] exactly when language='command', e.g. "
            "language='command', command=['perl'], entry='main.pl'"
        )
        raise RegistryError(msg)
    if requirements and language != "python":
        msg = f"{name}: requirements (pip) are for language='python'; use packages for node"
        raise RegistryError(msg)
    if packages and language != "node":
        msg = f"{name}: packages (npm) are for language='node'; use requirements for python"
        raise RegistryError(msg)
    if type(persistent) is not bool:
        msg = f"persistent must be True or False, not {persistent!r}"
        raise RegistryError(msg)
    if protocol not in (None, *SCRIPT_PROTOCOLS):
        msg = (
            f"unknown script protocol {protocol!r}; use 'skillz' for a script written for "
            "Skillz, or leave it out for toolkernel's reply shapes"
        )
        raise RegistryError(msg)
    skillz = {"protocol": "skillz"} if protocol == "skillz" else {}
    declared = _strings("requirements", requirements) or _strings("packages", packages)
    pinned = {"resolved": _pins(name, declared, resolved, language)} if declared else {}
    return (
        skillz
        | pinned
        | {
            "language": language,
            "entry": entry or (SCRIPT_LANGUAGES[language][1] if language != "command" else "main"),
            "command": _command(command) if command else None,
            "requirements": _strings("requirements", requirements),
            "packages": _strings("packages", packages),
            "persistent": persistent,
            "secrets": _secret_names(secrets),
            "policy": check_script_policy(policy),
            "limits": check_script_limits(limits),
        }
    )


def _command(command: Sequence[str]) -> list[str]:
    if isinstance(command, str) or not all(isinstance(c, str) for c in command):
        msg = "command must be a list of strings, e.g. ['perl', '-w']"
        raise RegistryError(msg)
    if not _INTERPRETER.fullmatch(command[0]):
        msg = f"the interpreter {command[0]!r} must be a program name or absolute path"
        raise RegistryError(msg)
    return list(command)


def _strings(what: str, values: Sequence[str] | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
        msg = f"{what} must be a list of strings, e.g. ['requests>=2']"
        raise RegistryError(msg)
    return sorted(set(values))


_PY_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.!+_-]*)")
_NPM_PIN = re.compile(r"((?:@[A-Za-z0-9][\w.~-]*/)?[A-Za-z0-9][\w.~-]*)@(\d+\.\d+\.\d+[\w.+-]*)")


def dependency_name(spec: str, language: str) -> str:
    """The package a requirement (`Foo_Bar[x]>=2`) or npm spec (`@s/p@^1`) names, normalized."""
    if language == "node":
        return spec[:1] + spec[1:].partition("@")[0]
    bare = re.split(r"[\[<>=!~\s]", spec, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", bare).lower()


def _pins(
    name: str, declared: list[str], resolved: Sequence[str] | None, language: str
) -> list[str]:
    """`resolved` checked: exact pins only, naming every declared dependency."""
    pins = _strings("resolved", resolved)
    pattern, example = (
        (_NPM_PIN, "left-pad@1.3.0") if language == "node" else (_PY_PIN, "six==1.17.0")
    )
    wrong = [pin for pin in pins if not pattern.fullmatch(pin)]
    if wrong:
        msg = (
            f"{name}: resolved holds exact versions only, such as {example!r}, not "
            f"{', '.join(map(repr, wrong))}"
        )
        raise RegistryError(msg)
    if not pins:
        return []
    have = {dependency_name(pin, language) for pin in pins}
    missing = [dep for dep in declared if dependency_name(dep, language) not in have]
    if missing:
        msg = (
            f"{name}: resolved pins no version of {', '.join(map(repr, missing))}; leave "
            "resolved out (it is recorded when the tool is built) or pin every dependency"
        )
        raise RegistryError(msg)
    return pins


def _secret_names(secrets: Sequence[str] | None) -> list[str]:
    names = _strings("secrets", secrets)
    for secret in names:
        if not _SECRET_NAME.fullmatch(secret):
            msg = (
                f"secret name {secret!r} must be UPPER_CASE letters, digits and '_'; the "
                f"tool gets it from TOOLKERNEL_SECRET_{secret.upper()}"
            )
            raise RegistryError(msg)
    return names


def policy_or_error(
    manifest: Mapping[str, Any],
    tool_dir: Path,
    env: Mapping[str, str],
    *,
    env_paths: tuple[Path, ...] = (),
    uid: int | None = None,
) -> ProcessPolicy:
    """The sandbox policy of a script manifest, run in `tool_dir` with `env`.

    Raises:
        RegistryError: The manifest's limits or policy are refused by the sandbox.
    """
    from toolkernel_sandbox.process import ProcessPolicy  # noqa: PLC0415

    policy = manifest.get("policy") or {}
    limits = manifest.get("limits") or {}
    network = policy.get("network", False)
    allowed = tuple(network) if isinstance(network, list) else ()
    try:
        return ProcessPolicy(
            network=False if allowed else network,
            network_allow=allowed,
            read_only=(*env_paths, *(Path(p) for p in policy.get("read_only") or [])),
            writable=tuple(Path(p) for p in policy.get("writable") or []),
            tool_dir=tool_dir,
            env=dict(env),
            uid=uid,
            **limits,
        )
    except (TypeError, ValueError) as exc:
        msg = f"invalid script limits or policy: {exc}"
        raise RegistryError(msg) from exc
