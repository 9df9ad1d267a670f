"""ToolFactory: build a tool from source, store it as a new version, bind it at once.

The factory checks everything before it writes anything: the name, the namespace (a
configured MCP server's name is refused), the schemas, the limits and the policy. A
WASM tool is then built through `toolkernel_sandbox.build`, loaded once to prove it is
a WASI command, and stored (sources and module as blobs, the rest in a manifest). The
host re-reads the registry, so the live kernel's binding appears before `create`
returns. A failed build registers nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel.errors import RegistryError, ToolBuildError, ToolchainMissing
from toolkernel.factory._pipelines import check_pipeline
from toolkernel.factory._scripts import script_fields
from toolkernel.factory._skills import (
    SKILL_LANGUAGES,
    SKILL_NAMESPACE,
    markdown_skill_files,
    python_skill_fields,
    safe_relative_path,
    skill_tool_name,
)
from toolkernel.host._validate import compile_validator
from toolkernel.host._wasm import check_wasm_limits, check_wasm_policy
from toolkernel.registry import check_tool_name

if TYPE_CHECKING:
    from toolkernel.host import ToolHost
    from toolkernel.registry import ToolRegistry, ToolVersion

__all__ = ["DEFAULT_NAMESPACE", "SANDBOX_BACKEND_VARIABLE", "WASM_LANGUAGES", "ToolFactory"]

DEFAULT_NAMESPACE = "local"
"""Where a tool created without a namespace lives (`tools.local.<name>`)."""

SANDBOX_BACKEND_VARIABLE = "TOOLKERNEL_SANDBOX_BACKEND"
"""Names the process sandbox of script tools and compilers when nothing else does; a
host where no sandbox can start (a Binder image) sets it to the opt-in `rlimits`."""
WASM_LANGUAGES = ("c", "rust", "wasm", "wat", "zig")
"""The source languages a WASM tool can be built from."""

LineSink = Callable[[str], None]


class ToolFactory:
    """Creates registry tools and makes them callable through the host."""

    def __init__(
        self,
        registry: ToolRegistry,
        host: ToolHost,
        *,
        reserved: Collection[str],
        cache_dir: Path,
        author: str = "",
        toolchain_path: str | None = None,
        sandbox_backend: str | None = None,
    ) -> None:
        """Create tools in `registry`, served by `host`.

        Args:
            registry: Where versions and blobs are stored.
            host: Re-reads the registry after each change, refreshing bindings.
            reserved: Namespaces that are taken (the configured MCP servers' names).
            cache_dir: Where build outputs are cached (by the hash of their sources)
                and compilers keep their caches.
            author: Who is recorded as the author of new versions.
            toolchain_path: Where to look for compilers (a `PATH`-style string); by
                default `$PATH`, `/usr/bin` and the `ziglang` package.
            sandbox_backend: The process sandbox compilers run in (`bwrap`, `firejail`,
                `nsjail`, or the opt-in `rlimits`); by default the best one available.
        """
        self._registry = registry
        self._host = host
        self._reserved = frozenset(reserved)
        self._cache_dir = cache_dir
        self.author = author
        self._toolchain_path = toolchain_path
        self._sandbox_backend = sandbox_backend

    @property
    def registry(self) -> ToolRegistry:
        """The registry new versions are stored in."""
        return self._registry

    def qualify(self, name: str, *, reserved_ok: bool = False) -> str:
        """Return `namespace.tool` for `name`, adding the default namespace when absent.

        Raises:
            RegistryError: The name is unsafe, or (unless `reserved_ok`, for lookups)
                its namespace is an MCP server's.
        """
        if not isinstance(name, str):
            msg = f"a tool name must be a str like 'prime_generator', not {name!r}"
            raise RegistryError(msg)
        qualified = name if "." in name else f"{DEFAULT_NAMESPACE}.{name}"
        namespace, _ = check_tool_name(qualified)
        if namespace in self._reserved and not reserved_ok:
            msg = (
                f"cannot create {qualified!r}: {namespace!r} is a configured MCP server; "
                f"choose another namespace, e.g. '{DEFAULT_NAMESPACE}.{qualified.split('.')[1]}'"
            )
            raise RegistryError(msg)
        return qualified

    def create(
        self,
        name: str | None,
        *,
        kind: str = "wasm",
        language: str = "",
        source: str | bytes | Mapping[str, str] = "",
        description: str = "",
        input_schema: Mapping[str, Any] | None = None,
        output_schema: Mapping[str, Any] | None = None,
        annotations: Mapping[str, Any] | None = None,
        limits: Mapping[str, Any] | None = None,
        policy: Mapping[str, Any] | None = None,
        note: str = "",
        on_line: LineSink | None = None,
        entry: str | None = None,
        command: Sequence[str] | None = None,
        requirements: Sequence[str] | None = None,
        packages: Sequence[str] | None = None,
        persistent: bool = False,
        secrets: Sequence[str] | None = None,
        steps: Sequence[Mapping[str, Any]] | None = None,
        output: Any = None,
    ) -> ToolVersion:
        """Build and register a tool; return its new (or unchanged) current version.

        `entry`, `command`, `requirements`, `packages`, `persistent` and `secrets` are
        for `kind="script"`; `steps` and `output` for `kind="pipeline"` (see
        `Toolbox.create_tool`). `kind="skill"` takes `language="python"` with the source
        of an `async def` named `entry` (default: the skill's name), or
        `language="markdown"` with an Agent Skills folder as {path: text or bytes}
        holding `SKILL.md`, whose front matter gives the name when `name` is None.

        Raises:
            RegistryError: The name, schemas, limits or policy are invalid.
            ToolBuildError: The source did not compile (with the compiler's messages).
            ToolchainMissing: The language's compiler is not installed here.
            DependencyError: A script's requirements or packages did not install.
        """
        if kind == "skill":
            return self._create_skill(
                name,
                language=language,
                source=source,
                entry=entry,
                description=description,
                input_schema=input_schema,
                note=note,
            )
        qualified = self.name_for(name, kind=kind)
        manifest: dict[str, Any] = {
            "description": _text(description, "description"),
            "input_schema": _check_schema(qualified, input_schema, "input_schema", required=True),
            "output_schema": _check_schema(qualified, output_schema, "output_schema"),
            "annotations": dict(annotations) if annotations else None,
        }
        if kind == "pipeline":
            manifest |= self._pipeline_fields(qualified, steps, output)
            return self._store(qualified, kind, manifest, note)
        if kind == "script":
            manifest |= script_fields(
                qualified,
                language=language,
                entry=entry,
                command=command,
                requirements=requirements,
                packages=packages,
                persistent=persistent,
                secrets=secrets,
                policy=policy,
                limits=limits,
            )
            files = _source_files(language, source, entry=manifest["entry"])
            if manifest["entry"] not in files and language != "command":
                msg = f"{qualified}: the entry file {manifest['entry']!r} is not in source"
                raise RegistryError(msg)
            self._host.install_script_deps(manifest, on_line)
        elif kind == "wasm":
            if language not in WASM_LANGUAGES:
                msg = f"unknown WASM language {language!r}; use one of {', '.join(WASM_LANGUAGES)}"
                raise RegistryError(msg)
            manifest |= {
                "language": language,
                "limits": check_wasm_limits(limits),
                "policy": check_wasm_policy(policy),
            }
            files = _source_files(language, source)
        else:
            msg = f"unknown tool kind {kind!r}; use kind='wasm', 'script', 'pipeline' or 'skill'"
            raise RegistryError(msg)
        manifest["source"] = {path: self._registry.put_blob(data) for path, data in files.items()}
        if kind == "wasm":
            manifest["artifact"] = self._build(qualified, language, files, on_line)
        return self._store(qualified, kind, manifest, note)

    def name_for(self, name: str | None, *, kind: str, source: object = None) -> str:
        """Return the qualified name `create` stores a tool under, without storing anything.

        Skills live in `skills`, other tools default to `local`; an Agent Skill given no
        name takes the one in its `SKILL.md` (`source`).

        Raises:
            RegistryError: The name is missing, unsafe, or in the wrong namespace.
        """
        if kind == "skill":
            if name:
                return self._skill_name(name)
            if isinstance(source, Mapping) and "SKILL.md" in source:
                document, _ = markdown_skill_files(source)
                return skill_tool_name(document.name)
            msg = "a Python skill needs a name, e.g. 'summarize'"
            raise RegistryError(msg)
        if name is None:
            msg = f"a {kind} tool needs a name, e.g. 'local.word_count'"
            raise RegistryError(msg)
        qualified = self.qualify(name)
        if qualified.startswith(f"{SKILL_NAMESPACE}."):
            msg = f"{qualified}: the {SKILL_NAMESPACE!r} namespace holds skills only; use 'local'"
            raise RegistryError(msg)
        return qualified

    def _create_skill(
        self,
        name: str | None,
        *,
        language: str,
        source: object,
        entry: str | None,
        description: str,
        input_schema: Mapping[str, Any] | None,
        note: str,
    ) -> ToolVersion:
        if language not in SKILL_LANGUAGES:
            msg = f"a skill's language is 'python' or 'markdown' (an Agent Skill), not {language!r}"
            raise RegistryError(msg)
        files: dict[str, bytes]
        if language == "python":
            qualified = self.name_for(name, kind="skill")
            manifest = python_skill_fields(qualified, source, entry)
            files = {"skill.py": str(source).encode("utf-8")}
        else:
            document, files = markdown_skill_files(source)
            qualified = self.name_for(name, kind="skill", source=source)
            manifest = {
                "description": document.description,
                "input_schema": {"type": "object", "properties": {}},
                "language": "markdown",
                "entry": "SKILL.md",
                "title": document.name,
                "metadata": json.loads(json.dumps(document.metadata, default=str)),
            }
        if description:
            manifest["description"] = _text(description, "description")
        if input_schema is not None:
            manifest["input_schema"] = _check_schema(
                qualified, input_schema, "input_schema", required=True
            )
        manifest |= {"output_schema": None, "annotations": None}
        manifest["source"] = {path: self._registry.put_blob(data) for path, data in files.items()}
        return self._store(qualified, "skill", manifest, note)

    def _skill_name(self, name: str) -> str:
        qualified = name if "." in name else f"{SKILL_NAMESPACE}.{name}"
        check_tool_name(qualified)
        if not qualified.startswith(f"{SKILL_NAMESPACE}."):
            tool = qualified.split(".", 1)[1]
            msg = f"skills live in the {SKILL_NAMESPACE!r} namespace; name it 'skills.{tool}'"
            raise RegistryError(msg)
        return self.qualify(qualified)

    def _store(self, name: str, kind: str, manifest: dict[str, Any], note: str) -> ToolVersion:
        version = self._registry.add_version(
            name, kind=kind, manifest=manifest, note=note, author=self.author
        )
        self._host.refresh_local()
        return version

    def _pipeline_fields(
        self, name: str, steps: Sequence[Mapping[str, Any]] | None, output: Any
    ) -> dict[str, Any]:
        known = {spec.qualified_name for specs in self._host.snapshot().values() for spec in specs}

        def pipeline_steps(tool: str) -> list[dict[str, Any]] | None:
            spec = self._host.spec(tool)
            if spec is None or spec.kind != "pipeline":
                return None
            found: list[dict[str, Any]] = self._registry.tool_version(tool).manifest["steps"]
            return found

        return check_pipeline(
            name,
            steps,
            output=output,
            tool_exists=lambda tool: tool in known,
            pipeline_steps=pipeline_steps,
            known_tools=known,
        )

    def _build(
        self, name: str, language: str, files: dict[str, bytes], on_line: LineSink | None
    ) -> str:
        key = _build_key(language, files)
        marker = self._cache_dir / "builds" / key
        if marker.exists():
            sha = marker.read_text(encoding="ascii").strip()
            if self._registry.blobs.has(sha):
                _say(on_line, f"{name}: unchanged {language} source, reusing its build")
                return sha
        wasm = self._compile(name, language, files, on_line)
        self._host.check_wasm(name, wasm)
        sha = self._registry.put_blob(wasm)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(sha, encoding="ascii")
        return sha

    def _compile(
        self, name: str, language: str, files: dict[str, bytes], on_line: LineSink | None
    ) -> bytes:
        from toolkernel_sandbox import (  # noqa: PLC0415 - compilers load lazily
            BuildError,
            SandboxError,
        )
        from toolkernel_sandbox import ToolchainMissing as RawToolchainMissing  # noqa: PLC0415
        from toolkernel_sandbox.build import build, find_toolchain  # noqa: PLC0415

        source: bytes | str | dict[str, str]
        if language == "wasm":
            source = files["module.wasm"]
        elif len(files) == 1 and language != "rust":
            source = next(iter(files.values())).decode("utf-8")
        else:
            source = {path: data.decode("utf-8") for path, data in files.items()}
        _say(on_line, f"{name}: building from {language}")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="toolkernel-build-") as work:
            try:
                toolchain = None
                if self._toolchain_path is not None and language not in ("wat", "wasm"):
                    toolchain = find_toolchain(language, path=self._toolchain_path)
                wasm = build(
                    language,
                    source,
                    work_dir=Path(work),
                    on_line=on_line,
                    cache_dir=self._cache_dir / "toolchains",
                    toolchain=toolchain,
                    backend=self._sandbox_backend,
                    scope=name,
                )
            except RawToolchainMissing as exc:
                msg = f"cannot build {name}: {exc}"
                raise ToolchainMissing(
                    msg, tool=name, language=language, install=exc.install
                ) from exc
            except BuildError as exc:
                msg = f"{name} did not build from {language}:\n{exc.diagnostics or exc}"
                raise ToolBuildError(
                    msg, tool=name, language=language, diagnostics=exc.diagnostics
                ) from exc
            except SandboxError as exc:
                msg = f"{name} did not build from {language}: {exc}"
                raise ToolBuildError(msg, tool=name, language=language) from exc
        _say(on_line, f"{name}: built {len(wasm):,} bytes in {time.monotonic() - started:.1f} s")
        return bytes(wasm)


def _say(on_line: LineSink | None, line: str) -> None:
    if on_line is not None:
        on_line(line)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        msg = f"{what} must be a str, not {type(value).__name__}"
        raise RegistryError(msg)
    return value


def _check_schema(
    name: str, schema: Mapping[str, Any] | None, what: str, *, required: bool = False
) -> dict[str, Any] | None:
    if schema is None:
        return {"type": "object", "properties": {}} if required else None
    if not isinstance(schema, Mapping):
        msg = f"{what} of {name!r} must be a JSON Schema dict, not {type(schema).__name__}"
        raise RegistryError(msg)
    checked = json.loads(json.dumps(dict(schema)))
    if required and checked.get("type", "object") != "object":
        msg = f'{what} of {name!r} must have "type": "object" (arguments are an object)'
        raise RegistryError(msg)
    if compile_validator(checked) is None:
        msg = f"{what} of {name!r} is not a valid JSON Schema; check its types and keywords"
        raise RegistryError(msg)
    return dict(checked)


def _source_files(language: str, source: object, *, entry: str | None = None) -> dict[str, bytes]:
    """Normalize `source` to {relative path: bytes}, refusing unsafe paths."""
    if language == "wasm":
        return {"module.wasm": _wasm_bytes(source)}
    if isinstance(source, str):
        main = entry or _MAIN_FILE[language]
        if not safe_relative_path(main):
            msg = f"entry {main!r} must be a relative path inside the tool"
            raise RegistryError(msg)
        return {main: source.encode("utf-8")}
    if isinstance(source, Mapping) and source:
        files = {}
        for path, text in source.items():
            safe = isinstance(path, str) and safe_relative_path(path)
            if not safe or not isinstance(text, str):
                msg = f"source file {path!r} must be a relative path with str content"
                raise RegistryError(msg)
            files[path] = text.encode("utf-8")
        return files
    msg = f"source must be the {language} text, or a dict of relative path to text"
    raise RegistryError(msg)


_MAIN_FILE = {"c": "main.c", "rust": "src/main.rs", "wat": "main.wat", "zig": "main.zig"}


def _wasm_bytes(source: object) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, str):
        try:
            return base64.b64decode(source, validate=True)
        except binascii.Error as exc:
            msg = "a prebuilt module is given as bytes, or as base64 text"
            raise RegistryError(msg) from exc
    msg = f"a prebuilt module is given as bytes, or as base64 text, not {type(source).__name__}"
    raise RegistryError(msg)


def _build_key(language: str, files: dict[str, bytes]) -> str:
    digest = hashlib.sha256(language.encode())
    for path in sorted(files):
        digest.update(b"\0" + path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()
