"""Hot reload: tool folders on disk (a repo's `tools/`) kept in step with the registry.

Each watched folder is a tool folder itself (it holds `tool.json` or `SKILL.md`) or
holds tool folders. At start every tool folder is registered, and then `watchfiles`
reports edits: an edited folder is read again and stored through `ToolFactory.create`,
so it is checked and built like any other change and becomes a new version only when
its content changed. A removed tool folder soft-deletes its tool (restorable). This
kernel's host hears of each change from the registry at once; other kernels follow
through the registry within their poll interval.

The first scan runs in the watcher's thread too, so a slow build never delays a kernel's
start (tools registered earlier are bound from the registry meanwhile).

A folder that does not load (bad `tool.json`, a build error) keeps its last good
version; the error is logged and kept in `errors` for `%tools` to show.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from toolkernel.errors import ToolkernelError

if TYPE_CHECKING:
    from toolkernel.bundles import ToolSource
    from toolkernel.factory import ToolFactory
    from toolkernel.registry import ToolRegistry

__all__ = ["ToolFolderWatcher"]

log = logging.getLogger("toolkernel.reload")

DEBOUNCE_MS = 100
"""How long edits are gathered into one change (an editor's save writes several files)."""
WAKE_MS = 200
"""How often the watcher wakes without edits (to notice `stop`)."""


class ToolFolderWatcher:
    """Registers the tool folders under `folders`, then follows their edits in a thread."""

    def __init__(
        self,
        factory: ToolFactory,
        registry: ToolRegistry,
        folders: Sequence[Path],
        *,
        prepare: Callable[[ToolSource], object] | None = None,
    ) -> None:
        """Watch `folders` (tool folders, or folders of them) for `factory` to store.

        Args:
            factory: Stores each folder's tool as a new version (checked and built).
            registry: Where removed folders' tools are soft-deleted.
            folders: The folders to watch; relative ones are taken from the cwd.
            prepare: Called with each folder's tool before it is stored (the kernel
                lets the MCP servers a pipeline calls finish connecting).
        """
        self._factory = factory
        self._registry = registry
        self.folders = [Path(folder).resolve() for folder in folders]
        self._prepare = prepare
        self.loaded: dict[Path, str] = {}
        """Each tool folder registered so far, and its tool's qualified name."""
        self.errors: dict[Path, str] = {}
        """Each tool folder whose last edit did not load, and why."""
        self._synced = threading.Condition()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Register every tool folder, then watch for edits, in a daemon thread."""
        self._thread = threading.Thread(target=self._watch, name="toolkernel-reload", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every folder was scanned and edits from now on are seen."""
        return self._ready.wait(timeout)

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until `predicate()` holds, checking it after each sync; False on timeout."""
        with self._synced:
            return self._synced.wait_for(predicate, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching (the thread ends within watchfiles' next step)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def sync(self, folders: Iterable[Path]) -> list[str]:
        """Store each tool folder's current content (or delete its tool if it is gone).

        Returns:
            The names of the tools that got a new version or were deleted.
        """
        changed = []
        for folder in sorted(set(folders)):
            name = self._sync_one(folder)
            if name is not None:
                changed.append(name)
        with self._synced:
            self._synced.notify_all()
        return changed

    def _sync_one(self, folder: Path) -> str | None:
        from toolkernel.bundles import is_tool_folder, read_tool_folder  # noqa: PLC0415

        if not is_tool_folder(folder):
            return self._forget(folder)
        try:
            found = read_tool_folder(folder)
            if self._prepare is not None:
                self._prepare(found)
            before = self._current(self.loaded.get(folder))
            version = self._factory.create(
                found.name, **found.kwargs, note=f"hot reload: {_shown(folder)} changed"
            )
        except ToolkernelError as exc:
            self.errors[folder] = str(exc)
            log.warning("hot reload: %s did not load: %s", folder, exc)
            return None
        self.errors.pop(folder, None)
        self.loaded[folder] = version.name
        if before == version.content_hash:
            return None
        log.info("hot reload: %s is now %s v%d", folder, version.name, version.version)
        return version.name

    def _forget(self, folder: Path) -> str | None:
        name = self.loaded.pop(folder, None)
        self.errors.pop(folder, None)
        if name is None:
            return None
        try:
            self._registry.delete_tool(name)
        except ToolkernelError as exc:
            log.warning("hot reload: could not delete %s: %s", name, exc)
            return None
        log.info("hot reload: %s was removed; %s is deleted (restorable)", folder, name)
        return name

    def _current(self, name: str | None) -> str | None:
        if name is None:
            return None
        found = {v.name: v.content_hash for v in self._registry.registry_tools(name.split(".")[0])}
        return found.get(name)

    def _tool_folders(self) -> list[Path]:
        from toolkernel.bundles import find_tool_folders  # noqa: PLC0415 - see _folder_of

        found = []
        for root in self.folders:
            if not root.is_dir():
                self.errors[root] = f"{root} is not a folder; create it or fix the setting"
                log.warning("hot reload: %s", self.errors[root])
                continue
            found += find_tool_folders(root)
        return found

    def _watch(self) -> None:
        import watchfiles  # noqa: PLC0415 - its Rust extension loads only when watching

        self.sync(self._tool_folders())
        roots = [str(root) for root in self.folders if root.is_dir()]
        if not roots:
            self._ready.set()
            return
        try:
            changes = watchfiles.watch(
                *roots,
                debounce=DEBOUNCE_MS,
                step=20,
                stop_event=self._stop,
                rust_timeout=WAKE_MS,
                yield_on_timeout=True,
                raise_interrupt=False,
            )
            for batch in changes:
                if not self._ready.is_set():
                    # Watching began just before this first batch: edits made during
                    # the first scan are caught by scanning once more.
                    self.sync(self._tool_folders())
                    self._ready.set()
                touched = {self._folder_of(Path(path)) for _, path in batch}
                self.sync(folder for folder in touched if folder is not None)
        except Exception:
            log.exception("hot reload stopped; tool folders are no longer followed")
        finally:
            self._ready.set()

    def _folder_of(self, path: Path) -> Path | None:
        """The tool folder an edited path belongs to (it may have just been removed)."""
        # bundles loads only in kernels that watch folders, keeping it off start-up.
        from toolkernel.bundles import is_tool_folder  # noqa: PLC0415

        for candidate in (path, *path.parents):
            if candidate in self.loaded or is_tool_folder(candidate):
                return candidate
            if candidate in self.folders:
                return None
        return None


def _shown(folder: Path) -> str:
    return folder.name or str(folder)
