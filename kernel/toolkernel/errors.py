"""The exceptions toolkernel raises, under one root.

The tree::

    ToolkernelError
    ├── ConfigError            mcp.json or a trait is invalid (carries `server`)
    │   └── UntrustedConfig    a folder's mcp.json no person has approved; its servers
    │                          were not started (carries `path`, `digest`)
    ├── RegistryError          the registry could not read or write
    │   ├── ToolNotFound       no such tool, or no such version (carries `tool`, `version`)
    │   ├── MemoryLimitError   a memory key, value or ttl is invalid or over a limit;
    │   │                      nothing was written (carries `namespace`, `key`)
    │   └── BundleError        a tool folder, bundle, archive or repository to import was
    │       │                  refused or unreadable; nothing was written (carries `path`)
    │       └── TrustRequired  its tools ask for grants (network, host paths, secrets) no
    │                          person has approved; nothing was written (carries `grants`)
    ├── BindingError           a binding could not be generated or loaded (carries `source`)
    ├── ToolError              a tool call failed (carries `tool`)
    │   ├── ToolInputError     the arguments do not match the tool's input schema;
    │   │                      nothing was sent
    │   ├── ServerUnavailable  the tool's server is not connected, or died mid-call
    │   ├── ToolCancelled      the call was cancelled before it finished
    │   ├── ToolCallLimit      the cell (or the session) already made the most tool calls
    │   │                      it may make; nothing was sent (carries `limit`)
    │   ├── ToolDenied         the tool policy, or whoever was asked, refused the call;
    │   │                      nothing was sent (carries `by`)
    │   ├── UrlElicitationRequired  the server needs the user to open a link first
    │   │                      (carries `elicitations`: each one's `url` and `message`)
    │   └── SandboxError       the sandbox stopped a WASM or script tool (carries `limit`)
    │       └── SandboxLimitExceeded   a limit stopped it: fuel, memory, output, ...
    │           └── SandboxTimeout     its time limit stopped it
    ├── ToolBuildError         a tool's source did not build (carries `tool`, `language`,
    │   │                      `diagnostics`)
    │   └── ToolchainMissing   the compiler is not installed (carries `install`)
    ├── DependencyError        a script tool's dependencies were refused or did not install
    │                          (carries `kind`, `dependencies`, `output`, `tool`)
    └── BridgeError            the MCP bridge could not serve a request

Every message says what happened and what to do next.
"""

from __future__ import annotations

__all__ = [
    "BindingError",
    "BridgeError",
    "BundleError",
    "ConfigError",
    "DependencyError",
    "MemoryLimitError",
    "RegistryError",
    "SandboxError",
    "SandboxLimitExceeded",
    "SandboxTimeout",
    "ServerUnavailable",
    "ToolBuildError",
    "ToolCallLimit",
    "ToolCancelled",
    "ToolDenied",
    "ToolError",
    "ToolInputError",
    "ToolNotFound",
    "ToolchainMissing",
    "ToolkernelError",
    "TrustRequired",
    "UntrustedConfig",
    "UrlElicitationRequired",
]


class ToolkernelError(Exception):
    """Root of every error toolkernel raises on purpose."""


class ConfigError(ToolkernelError):
    """A configuration file or option is invalid.

    Attributes:
        server: The MCP server entry at fault, when the fault is in one entry.
    """

    def __init__(self, message: str, *, server: str | None = None) -> None:
        super().__init__(message)
        self.server = server


class UntrustedConfig(ConfigError):
    """A folder's `./mcp.json` that no person has approved; none of its servers started.

    Attributes:
        path: The file, as found.
        digest: The sha256 of its bytes, which an approval records.
    """

    def __init__(self, message: str, *, path: str, digest: str) -> None:
        super().__init__(message)
        self.path = path
        self.digest = digest


class RegistryError(ToolkernelError):
    """The registry could not be read or written."""


class ToolNotFound(RegistryError, LookupError):
    """A tool, or a version of it, does not exist.

    Attributes:
        tool: The qualified name that was asked for (`server.tool`).
        version: The version that was asked for, if any.
    """

    def __init__(self, message: str, *, tool: str, version: int | None = None) -> None:
        super().__init__(message)
        self.tool = tool
        self.version = version


class MemoryLimitError(RegistryError, ValueError):
    """A memory namespace, key, value or ttl is invalid or over a limit; nothing was written.

    Attributes:
        namespace: The memory namespace asked for, when it is a str.
        key: The key asked for, when it is a str.
    """

    def __init__(
        self, message: str, *, namespace: str | None = None, key: str | None = None
    ) -> None:
        super().__init__(message)
        self.namespace = namespace
        self.key = key


class BundleError(RegistryError):
    """A tool folder, bundle, archive or repository was refused or unreadable.

    Nothing was written to the registry.

    Attributes:
        path: The file, member or URL at fault, when there is one.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class TrustRequired(BundleError):
    """Tools to import ask for grants no person has approved; nothing was written.

    Attributes:
        grants: Each tool (or old version of one) that asks, and what it asks for.
    """

    def __init__(self, message: str, *, path: str, grants: dict[str, tuple[str, ...]]) -> None:
        super().__init__(message, path=path)
        self.grants = grants


class BindingError(ToolkernelError):
    """Python bindings for a source could not be generated or loaded.

    Attributes:
        source: The MCP server (or local namespace) whose bindings failed.
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class ToolError(ToolkernelError):
    """A tool call failed.

    Raised when the server answers with `isError` (the message is the server's),
    and as the base of the more specific call failures below.

    Attributes:
        tool: The qualified name of the tool (`server.tool`).
        content: The raw MCP content blocks of the error result, when there was one.
    """

    def __init__(
        self, message: str, *, tool: str, content: list[dict[str, object]] | None = None
    ) -> None:
        super().__init__(message)
        self.tool = tool
        self.content = content or []


class ToolInputError(ToolError, TypeError):
    """The arguments do not match the tool's input schema. Nothing was sent."""


class ServerUnavailable(ToolError):
    """The tool's server is not connected, failed to start, or died during the call.

    Attributes:
        server: The server's configured name.
    """

    def __init__(self, message: str, *, tool: str, server: str) -> None:
        super().__init__(message, tool=tool)
        self.server = server


class ToolCancelled(ToolError):
    """The call was cancelled before the tool answered."""


class ToolCallLimit(ToolError):
    """The running cell, or the session, already made `limit` tool calls: the most allowed.

    Nothing was sent. The caps are `max_tool_calls` per cell (`c.Toolbox.max_tool_calls`
    in a kernel's config; `--max-tool-calls` for the kernel `toolkernel mcp` drives), and
    the tool policy's budgets, enforced in the tool host
    (`c.ToolPolicy.max_calls_per_execution` and `c.ToolPolicy.max_calls_per_session`).

    Attributes:
        limit: The cap that was reached.
    """

    def __init__(self, message: str, *, tool: str, limit: int) -> None:
        super().__init__(message, tool=tool)
        self.limit = limit


class ToolDenied(ToolError):
    """The call was refused before it was sent: by the tool policy, or by whoever was asked.

    Nothing was sent. The tool policy (`c.ToolPolicy` in the kernel's config) says which
    tools may run and which must be approved first; the message says how to change it.

    Attributes:
        by: Who refused: `policy` (the allowlist, or nobody could be asked), `person`
            (someone at the notebook), `client` (the MCP client behind the bridge), or
            `timeout` (nobody answered the approval request in time).
    """

    def __init__(self, message: str, *, tool: str, by: str) -> None:
        super().__init__(message, tool=tool)
        self.by = by


class UrlElicitationRequired(ToolError):
    """The server needs the user to open a link (sign in, pay, ...) before the tool runs.

    The MCP error -32042. Where the call can ask its user (a notebook, or a bridge
    client that supports URL elicitation), each link is offered and the call is retried
    once; this is raised when nobody could be asked, someone declined, or the server
    still asks. Open the links, finish there, then call again.

    Attributes:
        elicitations: The server's URL elicitations, as JSON (`url`, `message`,
            `elicitationId`).
    """

    def __init__(self, message: str, *, tool: str, elicitations: list[dict[str, object]]) -> None:
        super().__init__(message, tool=tool)
        self.elicitations = elicitations

    @property
    def urls(self) -> list[str]:
        """The links the user should open, in order."""
        return [str(item.get("url", "")) for item in self.elicitations]


class SandboxError(ToolError):
    """The sandbox stopped a WASM or script tool, or could not run it.

    Attributes:
        limit: The limit that stopped it (`fuel`, `memory`, `time`, `cpu`, `stdout`,
            `stderr`, `file_size`, `processes`, `open_files`), or None.
        value: That limit's configured value, when a limit stopped it.
    """

    def __init__(
        self, message: str, *, tool: str, limit: str | None = None, value: float | None = None
    ) -> None:
        super().__init__(message, tool=tool)
        self.limit = limit
        self.value = value


class SandboxLimitExceeded(SandboxError):
    """A limit (fuel, memory, output bytes, processes, ...) stopped the tool."""


class SandboxTimeout(SandboxLimitExceeded):
    """The tool ran past its wall-clock or CPU-time limit and was stopped."""


class ToolBuildError(ToolkernelError):
    """A tool's source did not build; nothing was registered.

    Attributes:
        tool: The qualified name of the tool being built.
        language: The source language.
        diagnostics: The compiler's messages, trimmed.
    """

    def __init__(self, message: str, *, tool: str, language: str, diagnostics: str = "") -> None:
        super().__init__(message)
        self.tool = tool
        self.language = language
        self.diagnostics = diagnostics


class ToolchainMissing(ToolBuildError):
    """The compiler a tool's language needs is not installed.

    Attributes:
        install: The command that installs it.
    """

    def __init__(self, message: str, *, tool: str, language: str, install: str) -> None:
        super().__init__(message, tool=tool, language=language)
        self.install = install


class DependencyError(ToolkernelError):
    """A script tool's dependencies were refused, or did not install; nothing was kept.

    Attributes:
        kind: The environment's kind, `python` (pip) or `node` (npm).
        dependencies: The requirement or package strings asked for.
        output: The installer's last meaningful lines, when it ran and failed.
        tool: The tool whose environment it was, once a caller knows it.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        dependencies: tuple[str, ...],
        output: str = "",
        tool: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.dependencies = dependencies
        self.output = output
        self.tool = tool


class BridgeError(ToolkernelError):
    """The MCP bridge could not serve a request."""
