"""The `toolkernel` command line.

    toolkernel tools list [--server S] [--json]
    toolkernel tools search QUERY [--limit N] [--detail name|summary|full] [--json]
    toolkernel tools show NAME [--json]
    toolkernel tools versions NAME [--json]
    toolkernel tools diff NAME A [B]
    toolkernel tools rollback NAME VERSION [--note TEXT]
    toolkernel tools delete NAME [--note TEXT]
    toolkernel tools restore NAME [--note TEXT]
    toolkernel tools export NAME... -o PATH [--history]
    toolkernel tools import SOURCE [--overwrite] [--namespace NS] [--no-history] [--trust]
    toolkernel trust PATH | --list [--json] | --revoke PATH_OR_TOOL
    toolkernel servers [--json]
    toolkernel install-kernel [--user | --sys-prefix | --prefix P] [--name N] [--display-name D]
                              [--sandboxed]
    toolkernel mcp [--transport stdio|http] [--host H] [--port P] [--connection-file F]
                   [--gateway-url URL [--gateway-token T]] [--expose-tools] ...
                   (a flag per c.Bridge option: see `toolkernel mcp --help`)
    toolkernel host --socket PATH [--home H] [--config MCP_JSON] [--connect-timeout S]
                    [--policy FILE] [--peer-uid UID] [--with-launcher]

`tools` and `servers` read the registry the kernels write (catalog cache and status),
so they answer instantly and never start a server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolkernel._version import __version__
from toolkernel._words import plural
from toolkernel.errors import ConfigError, ToolkernelError

__all__ = ["main"]

_SIGPIPE_EXIT = 128 + 13
"""The status of a program stopped by SIGPIPE, as a shell reports it."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        code = int(args.run(args))
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except ToolkernelError as exc:
        print(f"toolkernel: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`toolkernel tools list | head`): stop quietly, as Unix
        # tools do. Python flushes stdout again at exit; it must not fail there too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _SIGPIPE_EXIT
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toolkernel", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"toolkernel {__version__}")
    parser.add_argument("--home", type=Path, help="toolkernel home (default: $TOOLKERNEL_HOME)")
    commands = parser.add_subparsers(title="commands")

    tools = commands.add_parser("tools", help="list, search and show tools").add_subparsers()
    listing = tools.add_parser("list", help="list tool names")
    listing.add_argument("--server", help="only this server's tools")
    listing.set_defaults(run=_tools_list)
    search = tools.add_parser("search", help="search tools (BM25)")
    search.add_argument("query", nargs="+")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--detail", choices=["name", "summary", "full"], default="summary")
    search.set_defaults(run=_tools_search)
    show = tools.add_parser("show", help="show a tool's Python signature and docstring")
    show.add_argument("name", help="server.tool")
    show.set_defaults(run=_tools_show)
    versions = _add_version_commands(tools)
    servers = commands.add_parser("servers", help="each MCP server's last known status")
    servers.set_defaults(run=_servers)
    for sub in (listing, search, show, versions, servers):
        sub.add_argument("--json", action="store_true", help="print JSON")

    trust = commands.add_parser(
        "trust",
        help="approve a folder's mcp.json (by content), list or revoke approvals",
        description="A folder's ./mcp.json starts no server until a person approves its exact "
        "content; an imported tool's grants (network, host paths, secrets) likewise.",
    )
    trust.add_argument("path", nargs="?", type=Path, help="an mcp.json, or the folder holding it")
    action = trust.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="list every approval")
    action.add_argument(
        "--revoke", metavar="PATH_OR_TOOL", help="withdraw an mcp.json's or a tool's approval"
    )
    trust.add_argument("--json", action="store_true", help="print JSON (with --list)")
    trust.set_defaults(run=_trust)

    install = commands.add_parser(
        "install-kernel",
        help="install the Toolkernel kernelspecs",
        description="Without --name, installs both `toolkernel` and `toolkernel-sandboxed`.",
    )
    where = install.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for the current user")
    where.add_argument("--sys-prefix", action="store_true", help="into this environment")
    where.add_argument("--prefix", help="under this prefix")
    install.add_argument("--name", help="install one kernelspec, of this name")
    install.add_argument("--display-name", help="name shown in JupyterLab (with --name)")
    install.add_argument(
        "--sandboxed", action="store_true", help="the named kernelspec is the sandboxed kernel"
    )
    install.set_defaults(run=_install_kernel)

    bridge = commands.add_parser(
        "mcp",
        help="serve code mode over MCP (the bridge)",
        description="Flags override c.Bridge.* in toolkernel_config.py (Jupyter config dirs).",
    )
    from toolkernel.bridge import add_bridge_flags  # noqa: PLC0415 - the options only

    add_bridge_flags(bridge)
    bridge.set_defaults(run=_mcp)
    _add_host_command(commands)
    return parser


def _add_host_command(commands: Any) -> None:
    host = commands.add_parser(
        "host",
        help="serve one kernel's tools on a Unix socket (the sandboxed kernel's tool host)",
        description="Runs the MCP servers, script and WASM tools of one kernel, outside its "
        "sandbox, for a kernel whose Toolbox.host_class is toolkernel.host.RemoteToolHost. "
        "Stops on SIGTERM or SIGINT.",
    )
    host.add_argument("--socket", type=Path, required=True, help="the Unix socket to listen on")
    host.add_argument(
        "--home", type=Path, default=argparse.SUPPRESS, help="toolkernel home (shared registry)"
    )
    host.add_argument("--config", type=Path, help="this mcp.json (default: looked up)")
    host.add_argument(
        "--connect-timeout", type=float, default=30.0, help="seconds each server gets to start"
    )
    host.add_argument("--sandbox-backend", help="script tools' sandbox (default: the best)")
    host.add_argument(
        "--policy",
        type=Path,
        help='a JSON object of c.ToolPolicy options ({"allow": [...], "approve": [...]}); '
        "default: the ToolPolicy section of the toolkernel_config files",
    )
    host.add_argument(
        "--peer-uid",
        type=int,
        help="also admit this uid (a sandboxed kernel's, uid 65534 when the host is root): "
        "the socket is handed to it, still 0600, and its folder opened to its group (0750)",
    )
    host.add_argument(
        "--with-launcher",
        action="store_true",
        help="stop when stdin closes (the process that started this host ended, however it "
        "ended), then remove the socket's folder if it is empty",
    )
    host.set_defaults(run=_host)


def _add_version_commands(tools: Any) -> argparse.ArgumentParser:
    """Add `tools versions|diff|rollback|delete|restore|export|import`.

    Returns:
        The `versions` parser (it has --json).
    """
    versions: argparse.ArgumentParser = tools.add_parser(
        "versions", help="a registry tool's versions, oldest first"
    )
    versions.add_argument("name", help="namespace.tool, e.g. local.primes")
    versions.set_defaults(run=_tools_versions)
    diff = tools.add_parser("diff", help="unified diff between two versions of a tool")
    diff.add_argument("name", help="namespace.tool")
    diff.add_argument("a", type=int, help="the older version")
    diff.add_argument("b", type=int, nargs="?", help="the newer version (default: current)")
    diff.set_defaults(run=_tools_diff)
    rollback = tools.add_parser("rollback", help="make an old version current (as a new one)")
    rollback.add_argument("name", help="namespace.tool")
    rollback.add_argument("version", type=int, help="the version to restore")
    rollback.add_argument("--note", help="why (default: 'rollback to version N')")
    rollback.set_defaults(run=_tools_rollback)
    delete = tools.add_parser("delete", help="delete a registry tool (soft: restorable)")
    delete.add_argument("name", help="namespace.tool")
    delete.add_argument("--note", help="why (default: 'deleted')")
    delete.set_defaults(run=_tools_delete)
    restore = tools.add_parser("restore", help="bring back a deleted tool (as a new version)")
    restore.add_argument("name", help="namespace.tool")
    restore.add_argument("--note", help="why (default: 'restored (version N)')")
    restore.set_defaults(run=_tools_restore)
    export = tools.add_parser("export", help="write tools as a bundle (folder or .tar.gz)")
    export.add_argument("names", nargs="+", help="namespace.tool, or a whole namespace")
    export.add_argument("-o", "--output", type=Path, required=True, help="folder or .tar.gz")
    export.add_argument("--history", action="store_true", help="include every old version")
    export.set_defaults(run=_tools_export)
    load = tools.add_parser(
        "import", help="import tools: a folder, bundle, .tar.gz, git or gist URL, Skillz folder"
    )
    load.add_argument("source", help="a path or a git URL (optionally #branch)")
    load.add_argument("--overwrite", action="store_true", help="new versions of existing tools")
    load.add_argument("--namespace", help="import every tool but skills under this namespace")
    load.add_argument("--no-history", action="store_true", help="skip a bundle's old versions")
    load.add_argument(
        "--trust",
        action="store_true",
        help="approve the grants the tools ask for (network, host paths, secrets); only "
        "after reading them",
    )
    load.set_defaults(run=_tools_import)
    return versions


def _discovery(args: argparse.Namespace) -> Any:
    from toolkernel.bindings import BindingCache, ToolsNamespace  # noqa: PLC0415
    from toolkernel.config import load_config  # noqa: PLC0415
    from toolkernel.registry import ToolRegistry  # noqa: PLC0415
    from toolkernel.session._discovery import Discovery  # noqa: PLC0415

    home = _existing_home(args)
    registry = ToolRegistry(home)
    catalogs = registry.load_catalogs()
    # Only the names are read (nothing starts), so a folder's unapproved mcp.json counts.
    configured = list(load_config(home, require_trust=False).servers)
    sources = [s for s in configured if s in catalogs] if configured else sorted(catalogs)
    sources += [ns for ns in registry.namespaces() if ns in catalogs and ns not in sources]
    namespace = ToolsNamespace(BindingCache(home / "bindings"))
    for source in sources:
        namespace.set_source(source, catalogs[source])
    return Discovery(registry, namespace, sources)


def _home(args: argparse.Namespace) -> Path:
    """`--home`, else `c.Toolkernel.home` (toolkernel_config), else `$TOOLKERNEL_HOME` & co."""
    from toolkernel.config import toolkernel_settings  # noqa: PLC0415

    home: Path = args.home or toolkernel_settings().home_path()
    return home


def _existing_home(args: argparse.Namespace) -> Path:
    home = _home(args)
    if not (home / "registry.db").is_file():
        msg = (
            f"no registry at {home}: start a Toolkernel kernel once to cache the tools, "
            "or pass the --home a kernel uses ($TOOLKERNEL_HOME)"
        )
        raise ToolkernelError(msg)
    return home


def _emit(args: argparse.Namespace, value: Any, text: str) -> int:
    print(json.dumps(value, indent=2, ensure_ascii=False) if args.json else text)
    return 0


def _tools_list(args: argparse.Namespace) -> int:
    names = _discovery(args).list_tool_names(args.server)
    return _emit(args, names, "\n".join(names) or "no tools cached yet: start a kernel once")


def _tools_search(args: argparse.Namespace) -> int:
    found = _discovery(args).search_tools(" ".join(args.query), args.limit, args.detail)
    if args.detail == "name":
        return _emit(args, found, "\n".join(found))
    lines = [f"{row['name']}\n    {row['signature']}\n    {row['description']}" for row in found]
    return _emit(args, found, "\n".join(lines) or "no match")


def _tools_show(args: argparse.Namespace) -> int:
    details = _discovery(args).get_tool_details(args.name)
    return _emit(args, details.to_json(), str(details))


def _registry(args: argparse.Namespace) -> Any:
    from toolkernel.registry import ToolRegistry  # noqa: PLC0415

    return ToolRegistry(_existing_home(args))


def _qualified(name: str) -> str:
    return name if "." in name else f"local.{name}"


def _tools_versions(args: argparse.Namespace) -> int:
    history = _registry(args).tool_versions(_qualified(args.name))
    data = [
        {
            "version": v.version,
            "created_at": v.created_at,
            "author": v.author,
            "note": v.note,
            "rollback_of": v.rollback_of,
            "deleted": v.deleted,
            "content_hash": v.content_hash,
            **({"dependencies": v.dependencies} if v.dependencies else {}),
        }
        for v in history
    ]
    lines = [
        f"v{v.version}  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(v.created_at))}"
        f"  {v.author or '-'}  {'[deleted] ' if v.deleted else ''}{v.note}".rstrip()
        + (f"\n    installs {' '.join(v.dependencies)}" if v.dependencies else "")
        for v in history
    ]
    return _emit(args, data, "\n".join(lines))


def _tools_diff(args: argparse.Namespace) -> int:
    text = _registry(args).diff_tool(_qualified(args.name), args.a, args.b)
    print(text or "no differences", end="" if text else "\n")
    return 0


def _tools_rollback(args: argparse.Namespace) -> int:
    restored = _registry(args).rollback_tool(
        _qualified(args.name), args.version, note=args.note, author=_user()
    )
    print(
        f"{restored.name} is now version {restored.version} (the content of version "
        f"{args.version}); running kernels pick it up when they next reload tools"
    )
    return 0


def _tools_delete(args: argparse.Namespace) -> int:
    name = _qualified(args.name)
    tombstone = _registry(args).delete_tool(name, note=args.note, author=_user())
    print(
        f"{name} is deleted (version {tombstone.version}; its history is kept); "
        f"`toolkernel tools restore {name}` brings it back. Running kernels drop it when "
        "they next reload tools"
    )
    return 0


def _tools_restore(args: argparse.Namespace) -> int:
    restored = _registry(args).restore_tool(_qualified(args.name), note=args.note, author=_user())
    content = "as it was"
    if restored.rollback_of is not None:
        content = f"the content of version {restored.rollback_of}"
    print(
        f"{restored.name} is restored as version {restored.version} ({content}); running "
        "kernels pick it up when they next reload tools"
    )
    return 0


def _tools_export(args: argparse.Namespace) -> int:
    from toolkernel.bundles import export_tools  # noqa: PLC0415

    path = export_tools(_registry(args), args.names, args.output, history=args.history)
    print(f"exported {', '.join(args.names)} to {path}")
    return 0


def _tools_import(args: argparse.Namespace) -> int:
    from toolkernel.bundles import import_tools  # noqa: PLC0415
    from toolkernel.config import load_config  # noqa: PLC0415
    from toolkernel.factory import (  # noqa: PLC0415
        CRATE_REGISTRY_VARIABLE,
        SANDBOX_BACKEND_VARIABLE,
        ToolFactory,
    )
    from toolkernel.registry import ToolRegistry  # noqa: PLC0415

    home = _home(args)
    servers = load_config(home).servers
    backend = os.environ.get(SANDBOX_BACKEND_VARIABLE) or None
    with ToolRegistry(home) as registry:
        # No host: running kernels follow the registry's changes on their own.
        factory = ToolFactory(
            registry,
            reserved=servers,
            cache_dir=home / "cache",
            author=_user(),
            sandbox_backend=backend,
            crate_registry=os.environ.get(CRATE_REGISTRY_VARIABLE, "crates.io"),
        )
        imported = import_tools(
            factory,
            args.source,
            overwrite=args.overwrite,
            namespace=args.namespace,
            history=not args.no_history,
            on_line=lambda line: print(line, file=sys.stderr),
            trust=args.trust,
            taken_servers=set(servers),
        )
    for tool in imported:
        if tool.kind == "mcp":
            print(f"{tool.name}: MCP server in {home / 'mcp.json'} ({tool.status})")
            continue
        replayed = f", {plural(tool.replayed, 'old version')} replayed" if tool.replayed else ""
        print(f"{tool.name} v{tool.version} ({tool.status}{replayed})")
    return 0


def _trust(args: argparse.Namespace) -> int:
    from toolkernel.config import TrustStore, trust_config  # noqa: PLC0415

    home = _home(args)
    if args.list:
        approvals = TrustStore(home).approvals()
        data = [
            {
                "kind": a.kind,
                "subject": a.subject,
                "sha256": a.digest,
                "approved_at": a.approved_at,
                "grants": list(a.grants),
            }
            for a in approvals
        ]
        lines = [
            f"{a.kind:<8}  {a.subject}  sha256 {a.digest[:12]}"
            + (f"\n          {'; '.join(a.grants)}" if a.grants else "")
            for a in approvals
        ]
        return _emit(args, data, "\n".join(lines) or "nothing approved yet")
    if args.revoke:
        revoked = TrustStore(home).revoke(args.revoke)
        if not revoked:
            msg = f"nothing approved for {args.revoke}; see `toolkernel trust --list`"
            raise ToolkernelError(msg)
        for approval in revoked:
            print(f"revoked {approval.kind} {approval.subject} (sha256 {approval.digest[:12]})")
        return 0
    if args.path is None:
        msg = "give the mcp.json to approve (toolkernel trust PATH), --list or --revoke PATH"
        raise ToolkernelError(msg)
    approval, servers = trust_config(home, args.path)
    print(f"approved {approval.subject} (sha256 {approval.digest[:12]}), which runs:")
    print("\n".join(f"  {line}" for line in servers) or "  (no servers)")
    print("kernels started in its folder now start these servers; editing it asks again")
    return 0


def _user() -> str:
    import getpass  # noqa: PLC0415

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _servers(args: argparse.Namespace) -> int:
    from toolkernel.registry import ToolRegistry  # noqa: PLC0415

    rows = ToolRegistry(_existing_home(args)).server_statuses()
    data = [
        {"name": r.name, "state": r.state, "detail": r.detail, "tool_count": r.tool_count}
        for r in rows
    ]
    text = "\n".join(
        f"{r.name}: {r.state}"
        + (f" ({plural(r.tool_count, 'tool')})" if r.tool_count is not None else "")
        + (f"\n    {r.detail}" if r.detail else "")
        for r in rows
    )
    return _emit(args, data, text or "no server status recorded yet: start a kernel once")


def _mcp(args: argparse.Namespace) -> int:
    from toolkernel.bridge import bridge_overrides, load_bridge, run_bridge  # noqa: PLC0415

    if args.home is not None:
        os.environ["TOOLKERNEL_HOME"] = str(args.home)
    run_bridge(load_bridge(bridge_overrides(args)))
    return 0


def _host_policy(path: Path | None) -> Any:
    """The host's `ToolPolicy`: the config files' `ToolPolicy` section, then `path`'s."""
    from toolkernel.config import read_config_files  # noqa: PLC0415
    from toolkernel.host import ToolPolicy  # noqa: PLC0415

    config = read_config_files()
    if path is not None:
        try:
            options = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"cannot read the policy file {path}: {exc}"
            raise ConfigError(msg) from exc
        known = set(ToolPolicy.class_trait_names(config=True))
        unknown = sorted(set(options) - known) if isinstance(options, dict) else None
        if unknown is None or unknown:
            msg = (
                f"{path} must be a JSON object of ToolPolicy options "
                f"({', '.join(sorted(known))}); unknown: {unknown or 'not an object'}"
            )
            raise ConfigError(msg)
        config.ToolPolicy.update(options)
    return ToolPolicy(config=config)


def _host(args: argparse.Namespace) -> int:
    from toolkernel.config import load_config  # noqa: PLC0415
    from toolkernel.host import HostService  # noqa: PLC0415
    from toolkernel.registry import ToolRegistry  # noqa: PLC0415

    home = _home(args)
    home.mkdir(parents=True, exist_ok=True)
    config = load_config(home, explicit=args.config)
    if config.untrusted is not None:
        print(f"toolkernel host: {config.untrusted}", file=sys.stderr)
    service = HostService(
        args.socket,
        config.servers,
        registry=ToolRegistry(home),
        logs_dir=home / "logs",
        connect_timeout=args.connect_timeout,
        sandbox_backend=args.sandbox_backend,
        policy=_host_policy(args.policy),
        peer_uid=args.peer_uid,
    )
    if args.with_launcher:
        threading.Thread(target=_stop_at_eof, args=(service,), daemon=True).start()
    ready = f"toolkernel host: serving on {args.socket} (pid {os.getpid()})"
    service.run(on_ready=lambda: print(ready, file=sys.stderr, flush=True))
    if args.with_launcher:
        with contextlib.suppress(OSError):
            args.socket.parent.rmdir()  # only if empty: never a folder holding anything else
    return 0


def _stop_at_eof(service: Any) -> None:
    """Stop `service` once stdin ends: the launcher that holds its other end is gone."""
    while sys.stdin.buffer.read(4096):
        pass
    service.stop()


def _install_kernel(args: argparse.Namespace) -> int:
    from toolkernel.kernelspec import (  # noqa: PLC0415
        KERNEL_NAME,
        SANDBOXED_KERNEL_NAME,
        install_kernel_spec,
    )

    prefix = sys.prefix if args.sys_prefix else args.prefix
    if args.name is not None:
        specs = [(args.name, args.display_name, args.sandboxed)]
    else:
        specs = [(KERNEL_NAME, args.display_name, False), (SANDBOXED_KERNEL_NAME, None, True)]
    for name, shown, sandboxed in specs:
        path = install_kernel_spec(
            user=args.user, prefix=prefix, name=name, display_name=shown, sandboxed=sandboxed
        )
        print(f"installed kernelspec {name!r} in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
