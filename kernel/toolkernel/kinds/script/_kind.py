"""The `script` kind: a program in any interpreter, run in the process sandbox over JSON-RPC."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel.errors import RegistryError, ToolError
from toolkernel.kinds._protocol import call_depth
from toolkernel.kinds._sources import needs_a_name, source_files
from toolkernel.kinds.script._manifest import script_fields

if TYPE_CHECKING:
    from toolkernel._spec import ToolResult
    from toolkernel.kinds._draft import ToolDraft
    from toolkernel.kinds._protocol import CallContext, KindContext, LineSink, ToolIndex
    from toolkernel.kinds.script._envs import EnvManager
    from toolkernel.kinds.script._runner import ScriptTools
    from toolkernel.registry import ToolVersion

__all__ = ["ScriptKind"]


class ScriptKind:
    """Script tools: checked dependencies, secrets, limits and policy; sandboxed runs."""

    name: str = "script"
    namespace: str | None = None
    served: bool = True

    def __init__(self, context: KindContext) -> None:
        """Install and run script tools of `context.registry`."""
        self._context = context
        self._tools: ScriptTools | None = None
        self._lock = threading.Lock()

    def default_name(self, source: object) -> str:
        """A script's source gives no name: refuse."""
        raise needs_a_name(self.name)

    def check(self, name: str, draft: ToolDraft, tools: ToolIndex) -> dict[str, Any]:
        """Check the interpreter, entry, dependencies, secrets, limits and policy."""
        return script_fields(
            name,
            language=draft.language,
            entry=draft.entry,
            command=draft.command,
            requirements=draft.requirements,
            packages=draft.packages,
            persistent=draft.persistent,
            secrets=draft.secrets,
            policy=draft.policy,
            limits=draft.limits,
            resolved=draft.resolved,
            protocol=draft.protocol,
        )

    def build(
        self, name: str, draft: ToolDraft, manifest: dict[str, Any], on_line: LineSink | None
    ) -> dict[str, Any]:
        """Store the script's files; its entry must be one of them."""
        language, entry = manifest["language"], manifest["entry"]
        files = source_files(language, draft.source, entry)
        if entry not in files and language != "command":
            msg = f"{name}: the entry file {entry!r} is not in source"
            raise RegistryError(msg)
        registry = self._context.registry
        return {"source": {path: registry.put_blob(data) for path, data in files.items()}}

    def install(
        self, name: str, manifest: dict[str, Any], on_line: LineSink | None
    ) -> dict[str, Any] | None:
        """Make the dependency environment (venv, `node_modules`) the script needs.

        Returns `{"resolved": [...]}`, the exact pins it holds, for the manifest. A
        manifest that already pins them (`resolved`) gets exactly those installed.
        """
        pins = manifest.get("resolved")
        requirements = pins or manifest.get("requirements")
        packages = pins or manifest.get("packages")
        envs = _env_manager(self._context.registry.home / "envs")  # the runner's too
        if manifest.get("requirements"):
            env = envs.python_env(requirements or (), on_line=on_line)
        elif manifest.get("packages"):
            env = envs.node_env(packages or (), on_line=on_line)
        else:
            return None
        return {"resolved": list(env.resolved)}

    async def run(
        self, version: ToolVersion, arguments: dict[str, Any], call: CallContext
    ) -> ToolResult:
        """Run one `execute` in the sandbox; its requests are served through the host."""
        from toolkernel.kinds.script._peer import HostPeer  # noqa: PLC0415 - with the runner

        if call.host_call is None:
            msg = f"{version.name} needs a tool host to run"
            raise ToolError(msg, tool=version.name)
        scripts = self._runner()
        hooks = call.hooks
        peer = HostPeer(
            tool=version.name,
            host_call=call.host_call,
            registry=self._context.registry,
            secrets=scripts.secrets_of(version),
            relay=hooks.relay,
            resources=call.resources,
            on_progress=hooks.on_progress,
            on_output=hooks.on_output,
            on_log=hooks.on_log,
            protocol=str(version.manifest.get("protocol") or "toolkernel"),
        )
        token = call_depth.set(call_depth.get() + 1)
        try:
            return await scripts.call(_as_installed(version), arguments, peer)
        finally:
            call_depth.reset(token)

    async def aclose(self) -> None:
        """Stop persistent script workers (on the host loop)."""
        if self._tools is not None:
            await self._tools.close()

    def close(self) -> None:
        """Nothing native to release."""

    def _runner(self) -> ScriptTools:
        from toolkernel.kinds.script._runner import ScriptTools  # noqa: PLC0415 - on first use

        with self._lock:
            if self._tools is None:
                home = self._context.registry.home
                self._tools = ScriptTools(
                    self._context.registry,
                    tools_dir=home / "tools",
                    envs=_env_manager(home / "envs"),
                    backend=self._context.sandbox_backend,
                    environ=self._context.environ,
                )
            return self._tools


def _as_installed(version: ToolVersion) -> ToolVersion:
    """`version` as the runner installs it: its recorded pins in place of what it asked for.

    A version that recorded none (made before pins were recorded) keeps its own specs.
    """
    manifest = version.manifest
    pins = manifest.get("resolved")
    if not pins:
        return version
    field = "requirements" if manifest.get("requirements") else "packages"
    return dataclasses.replace(version, manifest={**manifest, field: list(pins)})


_managers: dict[Path, EnvManager] = {}
_managers_lock = threading.Lock()


def _env_manager(root: Path) -> EnvManager:
    """The process's one manager of the environments under `root`.

    A factory installs what a host then runs with: sharing the manager shares its probe
    of each interpreter (one sandboxed run) and the environments it has seen ready.
    """
    from toolkernel.kinds.script._envs import EnvManager  # noqa: PLC0415 - on first use

    with _managers_lock:
        if root not in _managers:
            _managers[root] = EnvManager(root)
        return _managers[root]
