"""Cache generated bindings on disk and load them as real modules."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import importlib.util
import linecache
import os
import py_compile
import re
import tempfile
from pathlib import Path
from types import ModuleType

from toolkernel._spec import ToolSpec
from toolkernel.bindings._generate import GENERATOR_VERSION, generate_module, safe_catalog_hash
from toolkernel.bindings._names import source_identifier
from toolkernel.errors import BindingError

__all__ = ["BindingCache"]

# 255 bytes is the usual file-name limit; 4-byte UTF-8 characters, `_<key>.py` and the
# `.cpython-3xx.pyc` of the bytecode must still fit.
_MAX_STEM = 48


class BindingCache:
    """Generated binding modules, cached as `.py` files in one directory.

    A file is named `<source_name>_<key>.py`, where the key hashes the catalog (its
    `catalog_hash`), the source's names and the generator version. A file is written
    once per key and never changed, so a warm start only imports it (with the usual
    `__pycache__` bytecode). Several kernels may share the directory: files are
    written atomically, and a kernel that finds its file pruned by another writes it
    again. If the directory cannot be written, modules load from memory instead.
    """

    def __init__(self, directory: Path) -> None:
        """Use (and create on first write) `directory`."""
        self.directory = Path(directory)

    def path_for(
        self,
        source: str,
        specs: list[ToolSpec],
        *,
        name: str | None = None,
        digest: str | None = None,
    ) -> Path:
        """Return the file the bindings of `source` with this catalog live in.

        `digest` is `catalog_hash(specs)` when the caller already has it.
        """
        name = name or source_identifier(source)
        seed = f"{GENERATOR_VERSION}\n{source}\n{name}\n{digest or safe_catalog_hash(specs)}"
        key = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return self.directory / f"{_file_stem(name)}_{key}.py"

    def load(
        self,
        source: str,
        specs: list[ToolSpec],
        *,
        name: str | None = None,
        package: str = "tools",
        digest: str | None = None,
    ) -> ModuleType:
        """Return the bindings module of `source`, generating its file when missing.

        Args:
            source: The server (or local namespace) name.
            specs: Its current tool list.
            name: The module's identifier under `package`; defaults to the sanitized
                source name.
            package: The parent namespace; the module is named `<package>.<name>`.
            digest: `catalog_hash(specs)`, when the caller already computed it.

        The module is not added to `sys.modules`; `ToolsNamespace` does that.

        Raises:
            BindingError: The generated code failed to load (a generator bug).
        """
        name = name or source_identifier(source)
        module_name = f"{package}.{name}"
        path = self.path_for(source, specs, name=name, digest=digest)
        if path.is_file():
            _ensure_bytecode(path)
            module = _try_exec_file(module_name, path)
            if module is not None:
                return module
        code = generate_module(source, specs, source_name=name).source_code
        try:
            _write_atomic(path, code)
        except OSError:
            return _exec_checked(source, module_name, path, code, from_file=False)
        self._prune(name, keep=path)
        _ensure_bytecode(path, rewrite=True)
        return _exec_checked(source, module_name, path, code, from_file=True)

    def _prune(self, name: str, *, keep: Path) -> None:
        """Remove this source's files for other catalogs (and their bytecode)."""
        stem = _file_stem(name)
        if stem != name:
            return  # a cut name may be shared with another source: leave its files be
        pattern = re.compile(re.escape(stem) + r"_[0-9a-f]{16}\.py")
        for old in self.directory.glob(f"{glob.escape(stem)}_*.py"):
            if old != keep and pattern.fullmatch(old.name):
                old.unlink(missing_ok=True)
                for cached in (self.directory / "__pycache__").glob(f"{old.stem}.*.pyc"):
                    cached.unlink(missing_ok=True)


def _file_stem(name: str) -> str:
    """The module name as a file-name prefix, cut short enough for any file system.

    The key that follows it hashes the full name, so a cut cannot make files collide.
    """
    return name[:_MAX_STEM]


def _ensure_bytecode(path: Path, *, rewrite: bool = False) -> None:
    """Write the file's `__pycache__` bytecode if it is missing (or `rewrite`).

    Done here rather than left to the import system, which skips it under
    `PYTHONDONTWRITEBYTECODE`: the cache directory is ours, and compiling a large
    module costs more than everything else in a warm load. The bytecode is checked
    against the source's hash, so a file rewritten by another kernel stays valid.
    """
    pyc = Path(importlib.util.cache_from_source(str(path)))
    if pyc.is_file() and not rewrite:
        return
    with contextlib.suppress(OSError, py_compile.PyCompileError):
        py_compile.compile(
            str(path),
            cfile=str(pyc),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )


def _try_exec_file(module_name: str, path: Path) -> ModuleType | None:
    """Load a cached file; None when it vanished or is damaged, so it is regenerated."""
    try:
        return _exec_file(module_name, path)
    except Exception:  # any failure of a cached file means "regenerate it"
        return None


def _exec_checked(
    source: str, module_name: str, path: Path, code: str, *, from_file: bool
) -> ModuleType:
    try:
        if from_file:
            try:
                return _exec_file(module_name, path)
            except FileNotFoundError:  # another kernel pruned it a moment ago
                pass
        return _exec_source(module_name, path, code)
    except Exception as exc:
        msg = (
            f"the generated bindings for {source!r} failed to load ({exc}); this is a bug "
            f"in toolkernel's binding generator: please report it with the file {path}"
        )
        raise BindingError(msg, source=source) from exc


def _exec_file(module_name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has one
        msg = f"cannot load {path} as a module"
        raise ImportError(msg)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exec_source(module_name: str, path: Path, code: str) -> ModuleType:
    """Load from memory, with the source in `linecache` so tracebacks and help work."""
    filename = f"<{module_name} generated, would be {path}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    module = ModuleType(module_name)
    module.__file__ = filename
    exec(compile(code, filename, "exec", dont_inherit=True), module.__dict__)  # noqa: S102 - our generated code
    return module


def _write_atomic(path: Path, code: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as handle:
            handle.write(code)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
