"""`%tools` (status, search, details, lock, trust), `%%tool` (a tool from the cell), `%%skill`."""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from toolkernel._words import plural
from toolkernel.config import trust_config
from toolkernel.errors import ConfigError
from toolkernel.session._lock import lock_bundle, write_lock

if TYPE_CHECKING:
    from toolkernel.host import ServerStatus
    from toolkernel.registry import ToolVersion
    from toolkernel.session._toolbox import Toolbox

__all__ = ["ToolMagics", "format_status", "format_versions", "params_schema"]

_MARKS = {"connected": "✓", "connecting": "…", "failed": "✗"}
_USAGE = """\
%tools                 each server's status, and how many tools it offers
%tools search QUERY    the best matching tools (BM25)
%tools show NAME       the signature and docstring of one tool (server.tool)
%tools versions NAME   a registry tool's versions, oldest first; a delete shows as
                       [deleted] (restore_tool(NAME) brings the tool back)
%tools lock            show the tool versions (and the exact pip/npm versions they
                       install) this session used as an output that the notebook keeps
                       when it is next saved (the lock)
%tools lock PATH       write that lock into the metadata of notebook PATH (one not open)
%tools trust           approve this folder's mcp.json, as it is now, after reading it
                       (the running kernel starts its servers within a second)
%tools trust PATH      approve the mcp.json at PATH (or in folder PATH)"""


@magics_class
class ToolMagics(Magics):
    """The `%tools` line magic and the `%%tool` and `%%skill` cell magics."""

    def __init__(self, shell: InteractiveShell, toolbox: Toolbox) -> None:
        super().__init__(shell=shell)
        self._toolbox = toolbox

    @line_magic
    def tools(self, line: str) -> None:
        """Show status (`%tools`), search (`%tools search q`) or details (`%tools show n`)."""
        words = shlex.split(line)
        if not words or words[0] == "status":
            toolbox = self._toolbox
            print(format_status(toolbox.statuses(), toolbox.config_error, toolbox.config_looked_in))
            if self._toolbox.registry_error:
                print(f"✗ registry: {self._toolbox.registry_error}")
            watcher = self._toolbox.watcher
            for folder, error in sorted(watcher.errors.items()) if watcher else ():
                print(f"✗ hot reload {folder}: {error}")
        elif words[0] == "search" and len(words) > 1:
            query = " ".join(words[1:])
            for row in self._toolbox.discovery.search_tools(query, limit=10):
                if isinstance(row, dict):
                    print(f"{row['name']}  {row['description']}")
        elif words[0] == "show" and len(words) == 2:
            print(self._toolbox.get_tool_details(words[1]))
        elif words[0] == "versions" and len(words) == 2:
            print(format_versions(self._toolbox.tool_versions(words[1])))
        elif words[0] == "lock" and len(words) <= 2:
            self._lock(words[1] if len(words) == 2 else None)
        elif words[0] == "trust" and len(words) <= 2:
            self._trust(words[1] if len(words) == 2 else None)
        else:
            print(_USAGE)

    def _lock(self, path: str | None) -> None:
        lock = self._toolbox.lock.snapshot(self._toolbox.registry)
        if path is None:
            # An output, not a file write: the open notebook keeps it with its next save.
            display(lock_bundle(lock), raw=True)
            return
        try:
            write_lock(Path(path), lock)
        except (OSError, ValueError) as exc:
            msg = f"could not write the lock into {path}: {exc}"
            raise UsageError(msg) from exc
        print(f"{lock_bundle(lock)['text/plain']}\nWritten into {path}.")

    def _trust(self, path: str | None) -> None:
        refused = self._toolbox.server_config.untrusted
        if path is None and refused is None:
            print(
                "Nothing to approve: this kernel uses no folder mcp.json that awaits approval. "
                "To approve another, use %tools trust PATH."
            )
            return
        target = Path(path) if path is not None else Path(refused.path if refused else "")
        try:
            approval, servers = trust_config(self._toolbox.home, target)
        except ConfigError as exc:
            raise UsageError(str(exc)) from exc
        runs = "".join(f"\n  {line}" for line in servers) or "\n  (no servers)"
        print(f"Approved {approval.subject} (sha256 {approval.digest[:12]}), which runs:{runs}")
        here = refused is not None and Path(refused.path).resolve() == Path(approval.subject)
        if here:
            self._toolbox.reload_servers()
            print("Its servers are starting; %tools shows them.")
        else:
            print("A kernel started in its folder uses it.")

    @cell_magic
    def tool(self, line: str, cell: str) -> Any:
        """Create (or update) a WASM tool from the cell's source; returns its version.

        Example::

            %%tool primes -l c -d "Primes up to limit" -p limit:integer
            #include <stdio.h>
            ...
        """
        args = _TOOL_PARSER.parse_args(shlex.split(line))
        schema = _json_option(args.input_schema, "--input-schema")
        if schema is None:
            schema = params_schema(args.param)
        kind = args.kind or ("script" if args.language in _SCRIPT_LANGUAGES else "wasm")
        return self._toolbox.create_tool(
            args.name,
            kind=kind,
            entry=args.entry,
            command=_json_option(args.command, "--command"),
            requirements=args.requirement or None,
            packages=args.package or None,
            secrets=args.secret or None,
            persistent=args.persistent,
            language=args.language,
            source=cell,
            description=args.description,
            input_schema=schema,
            output_schema=_json_option(args.output_schema, "--output-schema"),
            limits=_json_option(args.limits, "--limits"),
            policy=_json_option(args.policy, "--policy"),
            note=args.note,
        )

    @cell_magic
    def skill(self, line: str, cell: str) -> Any:
        """Save the cell as a skill; its `async def` becomes `from skills import name`.

        The whole cell is the skill's module, so imports and helpers in it come along.
        The function is also defined in the notebook under the skill's name.

        Example::

            %%skill summarize --note "first cut"
            async def summarize(path: str) -> str:
                \"\"\"Summarize a file.\"\"\"
                return (await tools.filesystem.read_text_file(path=path))[:200]
        """
        args = _SKILL_PARSER.parse_args(shlex.split(line))
        skill = self._toolbox.save_skill(
            cell, name=args.name, description=args.description, note=args.note
        )
        version = skill.version
        if self.shell is not None:
            self.shell.user_ns[version.tool] = skill
        print(f"saved {version.name} v{version.version}: from skills import {version.tool}")
        return None


def params_schema(params: list[str]) -> dict[str, Any]:
    """Build an input schema from `name:type[:description]` items (`type?` = optional).

    Raises:
        UsageError: An item is malformed or names an unknown type.
    """
    properties: dict[str, Any] = {}
    required = []
    for item in params:
        name, _, rest = item.partition(":")
        kind, _, description = rest.partition(":")
        optional = kind.endswith("?")
        kind = kind.rstrip("?") or "string"
        if not name.isidentifier() or kind not in _JSON_TYPES:
            msg = (
                f"--param {item!r}: use NAME:TYPE[:description] with TYPE one of "
                f"{', '.join(_JSON_TYPES)} (add '?' for optional), e.g. limit:integer"
            )
            raise UsageError(msg)
        properties[name] = {"type": kind, **({"description": description} if description else {})}
        if not optional:
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


class _MagicParser(argparse.ArgumentParser):
    """Reports a bad `%%tool` line as a `UsageError` instead of exiting the kernel."""

    def error(self, message: str) -> Any:
        msg = f"{message}\n{self.format_usage()}"
        raise UsageError(msg)

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise UsageError(message or self.format_help())


def _tool_parser() -> argparse.ArgumentParser:
    parser = _MagicParser(prog="%%tool", description="Create a tool from this cell.")
    parser.add_argument("name", help="the tool's name: NAME (under `local`) or NAMESPACE.NAME")
    parser.add_argument(
        "--language", "-l", required=True, help="rust, c, zig, wat; python, node, ruby, bash"
    )
    parser.add_argument("--description", "-d", default="", help="what the tool does")
    parser.add_argument(
        "--param", "-p", action="append", default=[], help="NAME:TYPE[:description], repeated"
    )
    parser.add_argument("--input-schema", help="the input JSON Schema (instead of --param)")
    parser.add_argument("--output-schema", help="the output JSON Schema")
    parser.add_argument("--limits", help="JSON, e.g. '{\"timeout_s\": 2}'")
    parser.add_argument("--policy", help='JSON, e.g. \'{"mounts": [], "env": {}}\'')
    parser.add_argument("--note", default="", help="why this version was made")
    parser.add_argument("--kind", default=None, help="wasm or script (default: by language)")
    parser.add_argument("--entry", help="a script's main file name")
    parser.add_argument("--command", help="a script's interpreter argv, as JSON")
    parser.add_argument("--requirement", "-r", action="append", default=[], help="pip")
    parser.add_argument("--package", action="append", default=[], help="npm")
    parser.add_argument("--secret", action="append", default=[], help="secret NAME")
    parser.add_argument("--persistent", action="store_true", help="keep one warm process")
    return parser


def _skill_parser() -> argparse.ArgumentParser:
    parser = _MagicParser(prog="%%skill", description="Save this cell's async def as a skill.")
    parser.add_argument("name", nargs="?", help="the skill's name (default: the function's)")
    parser.add_argument("--description", "-d", default="", help="instead of the docstring")
    parser.add_argument("--note", default="", help="why this version was made")
    return parser


_TOOL_PARSER = _tool_parser()
_SKILL_PARSER = _skill_parser()
_SCRIPT_LANGUAGES = ("python", "node", "ruby", "bash", "command")
_JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object")


def _json_option(text: str | None, option: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        msg = f"{option} must be JSON (quote it in the magic line): {exc}"
        raise UsageError(msg) from exc


def format_status(
    statuses: list[ServerStatus],
    config_error: str | None = None,
    looked_in: list[str] | None = None,
) -> str:
    """Return one line per server: mark, name, state, tool count or what went wrong.

    `looked_in` names where mcp.json was looked for, when none was found.
    """
    lines = [f"✗ mcp.json: {config_error}"] if config_error else []
    if not statuses and not config_error:
        where = f"No mcp.json was found; looked in {', '.join(looked_in)}. " if looked_in else ""
        return (
            f"{where}No MCP servers configured. Add them to mcp.json "
            '({"mcpServers": {name: {"command": ..., "args": [...]}}}) in this folder, '
            "in the toolkernel home, or at $TOOLKERNEL_MCP_CONFIG, then restart the kernel."
        )
    width = max((len(s.name) for s in statuses), default=0)
    for status in statuses:
        mark = _MARKS.get(status.state, "?")
        count = "" if status.tool_count is None else plural(status.tool_count, "tool")
        if status.state == "connecting" and status.tool_count is not None:
            count += " (cached)"
        line = f"{mark} {status.name:<{width}}  {status.state:<10}  {count}".rstrip()
        if status.state == "failed" and status.detail:
            line += f"\n    {status.detail}"
        lines.append(line)
    return "\n".join(lines)


def format_versions(history: list[ToolVersion]) -> str:
    """One line per version: number, time, author, then `[deleted]` or the restored one."""
    lines = []
    for version in history:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(version.created_at))
        mark = " [deleted]" if version.deleted else ""
        if version.rollback_of is not None:
            mark += f" (content of v{version.rollback_of})"
        note = f"  {version.note}" if version.note else ""
        lines.append(f"v{version.version}  {when}  {version.author or '-'}{mark}{note}")
    if history and history[-1].deleted:
        name = history[-1].name
        lines.append(f"{name} is deleted; restore_tool({name!r}) brings it back")
    return "\n".join(lines)
