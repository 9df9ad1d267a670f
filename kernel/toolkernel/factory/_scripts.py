"""The script-specific part of a tool manifest: interpreter, entry, dependencies, secrets."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from toolkernel.errors import RegistryError
from toolkernel.host._script import SCRIPT_LANGUAGES, check_script_limits, check_script_policy

__all__ = ["SCRIPT_KINDS", "script_fields"]

SCRIPT_KINDS = (*SCRIPT_LANGUAGES, "command")
"""`language` values of a script tool; `command` runs the interpreter given as `command`."""

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
) -> dict[str, Any]:
    """Return the checked script fields of `name`'s manifest.

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
    return {
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
